"""One way to reach every root: a local path or a ``gs://`` URL, through fsspec.

Nothing in core assumes a local disk. A root is a URL string; ``resolve`` turns it into an
fsspec filesystem and a path inside it, and ``join`` builds child paths without ``os.path``.
"""

from __future__ import annotations

import posixpath
import sys
from pathlib import Path

import fsspec
from fsspec import AbstractFileSystem

from core.storage.gcs import gcs_options


def is_remote(url: str) -> bool:
    """Whether ``url`` names a remote store (``gs://``, ``memory://``...), not a local path."""
    return "://" in url and not url.startswith("file://")


def resolve(url: str) -> tuple[AbstractFileSystem, str]:
    """Return the filesystem for ``url`` and the path within it.

    Local paths are made absolute so that results name where they really are.
    """
    if not is_remote(url):
        local = url.removeprefix("file://")
        return fsspec.filesystem("file"), str(Path(local).expanduser().resolve())
    options = gcs_options() if url.startswith(("gs://", "gcs://")) else {}
    fs, path = fsspec.core.url_to_fs(url, **options)
    return fs, path


def join(base: str, *parts: str) -> str:
    """Join path parts with ``/`` (fsspec paths are POSIX whatever the filesystem)."""
    return posixpath.join(base, *parts)


def to_url(fs: AbstractFileSystem, path: str) -> str:
    """The URL a person can paste back into ``--data-root`` or ``--results-root``."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local"):
        return path
    return f"{protocol}://{path}"


def storage_errors() -> tuple[type[Exception], ...]:
    """What reading or writing storage raises when the storage itself fails: ``OSError``, and
    gcsfs's own ``HttpError`` (not an ``OSError``) once its retries are spent.

    Called in an ``except`` clause, when an exception is being handled: gcsfs (a quarter of a
    second to import) is looked up only if something has loaded it, which any gs:// access has.
    """
    retry = sys.modules.get("gcsfs.retry")
    return (OSError,) if retry is None else (OSError, retry.HttpError)
