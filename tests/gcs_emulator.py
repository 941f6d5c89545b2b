"""A real GCS API server for tests: ``gcp-storage-emulator`` on 127.0.0.1, a free port.

``GcsEmulator`` starts the server as a child process (in memory, or on disk under a folder so
that objects survive a stop and restart), waits until ``GET /`` answers, and stops it. Tests
reach it as the desk's code does: ``STORAGE_EMULATOR_HOST`` (set by ``environment``), which
``core.storage.roots`` turns into an anonymous gcsfs client pointed at the server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

EMULATOR = [sys.executable, str(Path(__file__).with_name("gcs_emulator_launch.py"))]
"""The emulator, run with its files written atomically (``gcs_emulator_launch``)."""


def _last_line(file: IO[bytes]) -> str:
    file.seek(0)
    lines = file.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "(nothing on stderr)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GcsEmulator:
    """One emulator process; ``start``/``stop`` may be called again (same port, same folder)."""

    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        self.folder = folder
        """Where objects are kept on disk; None keeps them in memory (lost on stop)."""
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the value of ``STORAGE_EMULATOR_HOST``."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until it answers.

        A restart on the same port can find it still held by the process just stopped (the
        server exits at once with "address already in use"): that start is tried again until
        ``timeout``; any other early exit is reported with the server's last line.
        """
        argv = [*EMULATOR, "start", "--host", "127.0.0.1", "--port", str(self.port), "-q"]
        env = dict(os.environ)
        if self.folder is None:
            argv.append("-M")
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            env["STORAGE_BASE"] = str(self.folder)
        deadline = time.monotonic() + timeout
        while True:
            with tempfile.TemporaryFile() as errors:
                self.process = subprocess.Popen(
                    argv, env=env, stdout=subprocess.DEVNULL, stderr=errors
                )
                if self._answers(deadline):
                    return
                said = _last_line(errors)
            if self.process.poll() is None:  # alive but silent until the deadline
                self.stop()
                raise RuntimeError(f"gcp-storage-emulator did not answer on {self.host}")
            code, self.process = self.process.returncode, None
            if "in use" not in said or time.monotonic() >= deadline:
                raise RuntimeError(f"gcp-storage-emulator exited with {code}: {said}")
            time.sleep(0.2)

    def _answers(self, deadline: float) -> bool:
        """Whether the server answers ``GET /`` before ``deadline`` (False: it exited)."""
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://{self.host}/", timeout=0.5) as answer,
            ):
                if answer.status == 200:
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """``STORAGE_EMULATOR_HOST`` pointed at this server while inside."""
        before = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = self.host
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = before
