"""How the desk reaches Google Cloud Storage: one set of gcsfs options for every ``gs://`` root.

The options travel in environment variables, because the backtest reads ticks in spawned
worker processes that inherit the environment and nothing else:

- ``STORAGE_EMULATOR_HOST`` (``127.0.0.1:9023`` or a URL): an emulator, reached anonymously.
  ``[gcs] endpoint`` sets it when the environment does not (the environment wins);
- ``GOOGLE_APPLICATION_CREDENTIALS``: a service-account file (``[gcs] credentials``); without
  it gcsfs uses Google's application default credentials;
- ``TRADE_CONSOLE_GCS_ANONYMOUS`` and ``TRADE_CONSOLE_GCS_TIMEOUT``: ``[gcs] anonymous`` and
  ``request_timeout_secs``.

``core.config.use_gcs_config`` writes them from a config's ``[gcs]`` (``load_config`` calls it:
loading the desk's config makes it how the process reaches GCS); ``gcs_options`` reads them into
what ``core.storage.roots`` hands to gcsfs. Listings are never cached (``cache_timeout=0``): the
upload queue verifies what it wrote, and a stale listing would lie to it (see ``gcs-notes``).
"""

from __future__ import annotations

import os

from core.config import (
    ANONYMOUS_VARIABLE,
    CREDENTIALS_VARIABLE,
    DEFAULT_GCS_TIMEOUT_SECS,
    EMULATOR_VARIABLE,
    TIMEOUT_VARIABLE,
)


def gcs_options() -> dict[str, object]:
    """The gcsfs constructor options for the environment as it is now."""
    timeout = float(os.environ.get(TIMEOUT_VARIABLE) or DEFAULT_GCS_TIMEOUT_SECS)
    options: dict[str, object] = {"cache_timeout": 0, "requests_timeout": timeout}
    host = os.environ.get(EMULATOR_VARIABLE, "").strip()
    if host:
        options["endpoint_url"] = host if "://" in host else f"http://{host}"
        options["token"] = "anon"
    elif os.environ.get(ANONYMOUS_VARIABLE):
        options["token"] = "anon"
    elif os.environ.get(CREDENTIALS_VARIABLE):
        options["token"] = os.environ[CREDENTIALS_VARIABLE]
    return options
