"""Whether the results' bucket answers: the node checks it on a thread of its own.

The desk's status page shows GCS connectivity beside service health. A node that has not
reached its bucket for a while still trades, so a failing check is a WARN part of the node
(the Health pane, ``status``, ``/healthz``), never a reason to stop: uploads wait and retry.
A check that hangs (gcsfs can wait minutes on a dead network) is reported as such while it
hangs, so the part never says OK on the strength of an old answer.
"""

from __future__ import annotations

import threading
import time

from core.errors import one_line, one_line_text
from core.storage.roots import resolve


class BucketProbe:
    """Checks that ``root``'s bucket can be listed, every ``interval_secs``.

    ``part()`` is ``("GCS bucket", OK|WARN, detail)``; ``timeout_secs`` is how long a check
    may take before it reads as no answer.
    """

    NAME = "GCS bucket"

    def __init__(self, root: str, interval_secs: float, timeout_secs: float) -> None:
        self.root = root
        self.interval_secs = interval_secs
        self.timeout_secs = timeout_secs
        fs, path = resolve(root)
        self._fs = fs
        self._bucket = path.split("/", 1)[0]
        self._state: tuple[str, str] = ("WARN", "not checked yet")
        self._checking_since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bucket-probe", daemon=True)

    def start(self) -> None:
        """Check now, then every ``interval_secs``, until ``stop``."""
        self._thread.start()

    def stop(self) -> None:
        """Stop checking (a check under way is left to end on its own: the thread is a daemon)."""
        self._stop.set()

    def part(self) -> tuple[str, str, str]:
        """The bucket as a part of the node."""
        since = self._checking_since
        if since is not None and time.monotonic() - since > self.timeout_secs:
            waited = time.monotonic() - since
            return (self.NAME, "WARN", f"{self._bucket}: no answer for {waited:.0f} s")
        state, detail = self._state
        return (self.NAME, state, detail)

    def check(self) -> tuple[str, str]:
        """One check: (OK, what was seen) or (WARN, why not)."""
        began = time.monotonic()
        self._checking_since = began
        try:
            self._fs.invalidate_cache()
            self._fs.ls(self._bucket, detail=False)
        except Exception as error:  # whatever the store says, the part says it in one line
            self._state = ("WARN", one_line_text(f"{self._bucket}: {one_line(error)}", 300))
        else:
            took = (time.monotonic() - began) * 1000
            self._state = ("OK", f"{self._bucket} answered in {took:.0f} ms")
        finally:
            self._checking_since = None
        return self._state

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self.interval_secs)
