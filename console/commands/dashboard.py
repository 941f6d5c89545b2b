"""``trade-console`` with no subcommand: the dashboard over the OMS.

The OMS database is opened before the first frame is drawn, so a bad one (an unwritable
folder, a newer schema, a corrupt file) is the OMS's one line on stderr and exit code 2, with
the file left as it was, never a half-drawn screen. While the dashboard runs nothing may write
to the terminal: logging goes to a file under the config's log folder.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from console.app import TradeConsoleApp
from console.terminal import screen_only_for_textual
from core.config import AppConfig, load_config
from core.errors import ConfigError
from core.oms import OmsStore

LOG_FILE = "trade-console.log"
STDIO_LOG = "node-stdio.log"
"""What reaches fds 1/2 while a node runs in the console (Nautilus's stray ERROR lines)."""


def run_dashboard(args: argparse.Namespace) -> int:
    """Open the OMS named by the config, then run the dashboard until the operator quits.

    Raises
    ------
    OmsError
        The database cannot be opened (the caller prints it and exits 2).
    ConfigError
        The config is invalid, or the log folder cannot be created.
    """
    config = load_config(getattr(args, "config", None))
    log_to_file(config)
    node_mode = getattr(args, "node", None)
    if node_mode in (None, "none"):
        return asyncio.run(_serve(config))
    # Nautilus writes to fds 1/2 whatever its log config says: only Textual may draw.
    with screen_only_for_textual(Path(config.logging.directory) / STDIO_LOG):
        return asyncio.run(
            _serve(config, node_mode, confirm_live=getattr(args, "confirm_live", False))
        )


async def _serve(
    config: AppConfig, node_mode: str | None = None, confirm_live: bool = False
) -> int:
    store = await OmsStore.open(config.oms.database)
    app = TradeConsoleApp(
        config, store=store, tune_gc=True, node_mode=node_mode, confirm_live=confirm_live
    )
    try:
        await app.run_async()
    finally:
        await store.close()
    return app.return_code or 0


def log_to_file(config: AppConfig) -> Path:
    """Send every log record (warnings included) to the log file, none to the terminal."""
    folder = Path(config.logging.directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(f"logging.directory: cannot create {folder} ({reason})") from None
    path = folder / LOG_FILE
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, logging.StreamHandler) and not isinstance(
            existing, logging.FileHandler
        ):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(config.logging.level)
    logging.captureWarnings(True)
    return path
