"""A real PostgreSQL server for tests and benches: ``initdb`` + ``pg_ctl`` on 127.0.0.1.

``PgServer`` makes a new cluster in a folder of its own (scram-sha-256 authentication, one
superuser with a password), starts it on a free port, and stops it; ``start``/``stop`` may be
called again on the same folder and port (a restart keeps the data), and ``kill`` ends the
postmaster with SIGKILL as a crash would. The desk's code reaches it as it would a real
server: a ``postgresql://`` URL without the password, and the password in ``PGPASSWORD``.

PostgreSQL refuses to run as root. When the tests run as root (a CI container), the server's
commands run as the ``postgres`` user that Debian's packages create, and the folder is given
to it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "desk"
PASSWORD = "desk-test-password"  # a test server's only, on 127.0.0.1
DATABASE = "oms"


def bin_dir() -> Path | None:
    """Where PostgreSQL's server programs are (Debian keeps them out of PATH); None if absent."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def available() -> bool:
    """Whether a PostgreSQL server can be started here."""
    folder = bin_dir()
    if folder is None:
        return False
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return False
    return (folder / "initdb").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster in ``folder`` (a new temporary one when None)."""

    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        """``folder`` must be reachable by the ``postgres`` user when running as root (a new
        folder under the system's temporary folder is)."""
        self.folder = Path(folder or tempfile.mkdtemp(prefix="trade-console-pg-"))
        self.port = port or free_port()
        self._bin = bin_dir()
        if self._bin is None:
            raise RuntimeError("PostgreSQL's server programs are not installed (pg_ctl)")
        self._as_postgres = os.geteuid() == 0

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        """The OMS URL of the test database (no password: it comes from ``PGPASSWORD``)."""
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict = {"user": "postgres"} if self._as_postgres else {}
        done = subprocess.run(
            [str(self._bin / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            cwd=self.folder,
            **kwargs,
        )
        if check and done.returncode:
            raise RuntimeError(f"{argv[0]} failed: {(done.stderr or done.stdout).strip()}")
        return done

    def init(self) -> None:
        """Make the cluster and the test database (once per folder)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
            self.folder.chmod(0o700)
        password_file = self.folder / "pwfile"
        password_file.write_text(PASSWORD + "\n")
        if self._as_postgres:
            shutil.chown(password_file, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            "--auth=scram-sha-256",
            f"--pwfile={password_file}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        password_file.unlink()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.folder}'\n"
                "fsync = on\nsynchronous_commit = on\n"
                "max_connections = 200\n"
                "logging_collector = off\n"
            )
        self.start()
        self.psql(f"CREATE DATABASE {DATABASE}", database="postgres")

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (making the cluster first if there is none) and wait for it."""
        if not (self.data / "PG_VERSION").exists():
            self.init()
            return
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` ends sessions; ``immediate`` as a crash would)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def kill(self) -> None:
        """SIGKILL the postmaster (its children exit when they notice), as a crash would."""
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._listening():
            time.sleep(0.05)
        self.stop("immediate")  # children left behind, and the pid file

    def _listening(self) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Run ``sql`` with psql as the superuser; its output."""
        psql = shutil.which("psql") or str(self._bin / "psql")
        done = subprocess.run(
            [
                psql,
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
                self.url_for(database),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": PASSWORD},
        )
        if done.returncode:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def new_database(self, name: str) -> str:
        """A new empty database on this server; its URL."""
        self.psql(f'CREATE DATABASE "{name}"', database="postgres")
        return self.url_for(name)

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
