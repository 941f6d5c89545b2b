"""Which adapter speaks which venue: ``register_adapter(kind, factory)``, ``create_adapter``.

A venue's ``[[external_venues]]`` entry names its ``kind``; the registry turns the entry into an
adapter, reading the key and secret from the environment variables the entry names, so a
secret never sits in a config file and a missing one is reported before any request leaves.
A new venue is one module whose adapter is registered with ``register_adapter``
(``core.execution.external.gemini``, the reference adapter, is registered here).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from core.config import ExternalVenueConfig
from core.errors import ConfigError
from core.execution.external.adapter import Credentials, ExternalVenueAdapter

AdapterFactory = Callable[[ExternalVenueConfig, Credentials], ExternalVenueAdapter]

_FACTORIES: dict[str, AdapterFactory] = {}


def register_adapter(kind: str, factory: AdapterFactory) -> None:
    """Make ``kind`` usable in ``[[external_venues]]``; registering a kind again replaces it."""
    _FACTORIES[kind] = factory


def adapter_kinds() -> tuple[str, ...]:
    """The kinds registered, sorted."""
    _register_builtins()
    return tuple(sorted(_FACTORIES))


def credentials(config: ExternalVenueConfig, field: str) -> Credentials:
    """The key and secret from the environment variables ``config`` names.

    Raises
    ------
    ConfigError
        One line naming the field and the variable that is unset or empty.
    """
    values = []
    for name in ("api_key_env", "api_secret_env"):
        variable = getattr(config, name)
        value = os.environ.get(variable, "") if variable else ""
        if not value:
            raise ConfigError(
                f"{field}.{name}: environment variable {variable or '(none named)'} is not set "
                f"(venue {config.name})"
            )
        values.append(value)
    return Credentials(api_key=values[0], api_secret=values[1])


def create_adapter(
    config: ExternalVenueConfig, field: str = "external_venues"
) -> ExternalVenueAdapter:
    """The adapter for one ``[[external_venues]]`` entry (not yet connected).

    ``field`` names the entry in errors (``external_venues.0``).

    Raises
    ------
    ConfigError
        An unknown ``kind``, or a credential variable that is not set.
    """
    _register_builtins()
    factory = _FACTORIES.get(config.kind)
    if factory is None:
        raise ConfigError(
            f"{field}.kind: '{config.kind}' is not an adapter kind "
            f"(known: {', '.join(sorted(_FACTORIES))})"
        )
    return factory(config, credentials(config, field))


_builtins_registered = False


def _register_builtins() -> None:
    # Imported here, once: the reference adapter needs aiohttp, which a desk with no external
    # venue never loads.
    global _builtins_registered
    if _builtins_registered:
        return
    from core.execution.external.gemini import GeminiAdapter

    _FACTORIES["gemini"] = GeminiAdapter
    _builtins_registered = True
