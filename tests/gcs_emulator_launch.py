"""Runs gcp-storage-emulator with its files written atomically (temporary file, then rename).

The emulator rewrites its metadata file (``.meta``: every bucket and object) in place on each
change. Stopped in the middle of that write, as a test that stops the server mid-upload does,
it leaves the file truncated and refuses to start again (``JSONDecodeError``): seen once in a
whole-suite run. Google's servers do not lose their metadata on a restart, so the stand-in
should not either; the emulator's code is otherwise untouched.
"""

from __future__ import annotations

import os
import sys

from gcp_storage_emulator import storage
from gcp_storage_emulator.__main__ import main

_write_in_place = storage._FileStore.write_bytes


def _write_atomically(self: storage._FileStore, rel: str, content: bytes) -> None:
    if self._use_memory:
        _write_in_place(self, rel, content)
        return
    partial = f"{rel}.partial"
    _write_in_place(self, partial, content)
    os.replace(self._disk_path(self._norm(partial)), self._disk_path(self._norm(rel)))


storage._FileStore.write_bytes = _write_atomically

if __name__ == "__main__":
    sys.exit(main())
