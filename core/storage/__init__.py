"""Storage: how the desk reaches a root, local or ``gs://``, the same way everywhere.

Owns ``roots`` (a root is a URL; ``resolve`` gives its fsspec filesystem and path, ``join``
builds child paths, ``storage_errors`` turns a cloud failure into one line) and ``gcs`` (the
gcsfs options every ``gs://`` root gets, carried to spawned workers in environment variables).

May import: ``core.config``, ``core.errors`` (no other package: everything else reads and
writes through this one).
"""
