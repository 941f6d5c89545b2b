"""``trade-console``: the one command-line entry point, with a subcommand per job.

Errors in the operator's input (config, data, options) print one line and exit 2; a backtest
that ran but failed exits 1 after printing its result folder, where summary.json says why.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from core.errors import TradeConsoleError

EXIT_FAILED_RUN = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    """The command line, one subparser per subcommand."""
    parser = argparse.ArgumentParser(
        prog="trade-console",
        description="The desk's execution console: backtests, a shadow/live node, an OMS.",
    )
    parser.add_argument("--config", help="TOML config file (default: built-in defaults)")
    parser.add_argument(
        "--node",
        choices=("none", "shadow", "live"),
        default="none",
        help="run the node inside the dashboard (default: none, a console over the OMS only)",
    )
    parser.add_argument(
        "--confirm-live", action="store_true", help="required with --node live (real orders)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    # --config is accepted before or after the subcommand.
    config_option = argparse.ArgumentParser(add_help=False)
    config_option.add_argument("--config", default=argparse.SUPPRESS, help="TOML config file")

    demo = commands.add_parser(
        "demo-data", parents=[config_option], help="write the deterministic sample data set"
    )
    demo.add_argument("--root", default=None, help="data root URL (default: the config's)")
    demo.add_argument("--days", type=int, default=3, help="number of days (default 3)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")

    demo_command = commands.add_parser(
        "demo",
        parents=[config_option],
        help="the demo: the console with the shadow node on generated sample data",
    )
    demo_command.add_argument(
        "--seconds",
        type=float,
        default=30.0,
        help="without a terminal: how long the node runs headless (default 30)",
    )

    backtest = commands.add_parser(
        "backtest", parents=[config_option], help="run a backtest and write its result files"
    )
    backtest.add_argument("--data-root", help="data root URL (local path or gs://...)")
    backtest.add_argument("--results-root", help="results root URL")
    backtest.add_argument("--start", help="start, ISO 8601 UTC (inclusive)")
    backtest.add_argument("--end", help="end, ISO 8601 UTC (exclusive)")
    backtest.add_argument("--instruments", help="comma-separated instrument ids")
    backtest.add_argument("--targets", help="'signals' or a target-weights JSON file")
    backtest.add_argument(
        "--mode",
        choices=("full", "signals"),
        help="full: every tick (default: the config's backtest.mode); signals: only the "
        "window after each signal",
    )
    backtest.add_argument(
        "--window-secs",
        type=int,
        help="signal-driven mode: seconds of ticks after each signal ([backtest] window_secs)",
    )
    backtest.add_argument(
        "--fetch",
        choices=("every-signal", "direction-change"),
        help="signal-driven mode: a window after every signal, or only after those that change "
        "a side (long/short/flat) ([backtest] fetch)",
    )
    # Read as text and checked by apply_overrides (as the console's form is): one line per field.
    for option, what in (
        ("--min-trade-notional", "strategy.min_trade_notional: smaller orders are skipped"),
        ("--weight-tolerance", "strategy.weight_tolerance: no order within it of the target"),
        ("--cash-buffer", "strategy.cash_buffer: share of equity kept in cash (below 1)"),
        ("--starting-balances", "first venue's balances, e.g. '100000 USDT' (comma-separated)"),
        ("--account-type", "first venue's account: cash or margin"),
        ("--latency-ms", "first venue's one-way latency in ms"),
        ("--algorithm", "execution.algorithm: market, twap, vwap or iceberg"),
    ):
        backtest.add_argument(option, metavar="VALUE", help=f"{what} (default: the config's)")

    batch = commands.add_parser(
        "batch",
        parents=[config_option],
        help="run a grid of backtests on Dask (a local cluster, or a running scheduler)",
    )
    batch.add_argument(
        "--grid", required=True, help="grid TOML file (docs/backtest.md: many backtests at once)"
    )
    batch.add_argument(
        "--scheduler", help="address of a running Dask scheduler (default: a local cluster)"
    )
    batch.add_argument(
        "--workers", type=int, default=2, help="local cluster: worker processes (default 2)"
    )
    batch.add_argument(
        "--schedule",
        metavar='"daily HH:MM"',
        help="the T+1 job: the grid over yesterday, every day at HH:MM UTC, until SIGTERM",
    )
    batch.add_argument(
        "--now", action="store_true", help="with --schedule: also run one at once on start"
    )
    batch.add_argument(
        "--yesterday",
        action="store_true",
        help="run the grid once over yesterday (UTC), for cron or a systemd timer",
    )

    run = commands.add_parser(
        "run",
        parents=[config_option],
        help="run the shadow/live node headless (no dashboard) until SIGTERM",
    )
    run.add_argument("--mode", choices=("shadow", "live"), help="default: the config's node.mode")
    run.add_argument("--data-root", help="data root URL the replay reads (local or gs://...)")
    run.add_argument(
        "--speed", type=float, help="replay speed: 1 real time, 60, 0 as fast as possible"
    )
    run.add_argument(
        "--confirm-live", action="store_true", help="required to start LIVE (real orders)"
    )
    run.add_argument(
        "--exit-when-done", action="store_true", help="stop when the replay reaches its end"
    )

    status = commands.add_parser(
        "status",
        parents=[config_option],
        help="print health, trading state, counts and last alerts from the OMS (no dashboard)",
    )
    status.add_argument("--json", action="store_true", help="one JSON object, for scripts")

    kill = commands.add_parser(
        "kill",
        parents=[config_option],
        help="halt trading from any shell: recorded in the OMS, applied by a running node",
    )
    kill.add_argument("--reason", help="why (required; it goes to the audit log)")
    kill.add_argument(
        "--flatten",
        action="store_true",
        help="also cancel everything and close every position through the risk checks, then halt",
    )
    kill.add_argument(
        "--reduce-only",
        action="store_true",
        help="REDUCING instead of HALTED: only orders that reduce exposure pass",
    )

    rearm = commands.add_parser(
        "rearm", parents=[config_option], help="return trading to ACTIVE after a kill"
    )
    rearm.add_argument("--reason", help="why (required; it goes to the audit log)")
    for command in (kill, rearm):
        command.add_argument(
            "--create-oms",
            action="store_true",
            help="create the OMS if there is none at the configured path (default: refuse, "
            "exit 2: a new, empty OMS is not the one the node reads)",
        )

    uploads = commands.add_parser(
        "uploads", parents=[config_option], help="the GCS upload queue: show, retry, drain"
    )
    uploads.add_argument(
        "--retry-failed", action="store_true", help="queue failed files again and upload them"
    )
    uploads.add_argument("--drain", action="store_true", help="upload what is pending now")
    uploads.add_argument(
        "--verify",
        action="store_true",
        help="check that files marked done are still in the bucket (size and md5); queue "
        "and upload again those that are not",
    )

    notify = commands.add_parser(
        "notify", parents=[config_option], help="the desk's notification channels ([notify])"
    )
    notify.add_argument(
        "--test", action="store_true", help="send a test message to every channel now"
    )

    oms = commands.add_parser("oms", help="the OMS database itself: move it to PostgreSQL")
    oms_actions = oms.add_subparsers(dest="oms_action", metavar="ACTION", required=True)
    migrate = oms_actions.add_parser(
        "migrate",
        help="copy a desk's history from a SQLite OMS into an empty PostgreSQL OMS, checked "
        "table by table (counts and checksums); all or nothing",
    )
    migrate.add_argument(
        "--from", dest="source", required=True, metavar="SQLITE_PATH", help="the SQLite OMS file"
    )
    migrate.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="URL",
        help="postgresql://user@host:port/database (the password from PGPASSWORD or ~/.pgpass)",
    )

    compare = commands.add_parser(
        "compare",
        parents=[config_option],
        help="runs side by side, or (--session) the shadow session against a backtest",
    )
    compare.add_argument("runs", nargs="+", metavar="RUN_OR_FOLDER", help="run id or folder URL")
    compare.add_argument(
        "--session", action="store_true", help="one run against the OMS's shadow session"
    )
    compare.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo-data":
            from console.commands.demo_data import run_demo_data

            return run_demo_data(args)
        if args.command == "demo":
            from console.commands.demo import run_demo

            return run_demo(args)
        if args.command == "backtest":
            from console.commands.backtest import run_backtest_command

            return run_backtest_command(args)
        if args.command == "batch":
            from console.commands.batch import run_batch_command

            return run_batch_command(args)
        if args.command == "run":
            from console.commands.run import run_node_command

            return run_node_command(args)
        if args.command == "status":
            from console.commands.status import run_status

            return run_status(args)
        if args.command == "kill":
            from console.commands.kill import run_kill

            return run_kill(args)
        if args.command == "rearm":
            from console.commands.kill import run_rearm

            return run_rearm(args)
        if args.command == "uploads":
            from console.commands.uploads import run_uploads_command

            return run_uploads_command(args)
        if args.command == "notify":
            from console.commands.notify import run_notify_command

            return run_notify_command(args)
        if args.command == "oms":
            from console.commands.oms import run_oms_command

            return run_oms_command(args)
        if args.command == "compare":
            from console.commands.compare import run_compare_command

            return run_compare_command(args)
        if args.command is None:  # no subcommand: the dashboard
            from console.commands.dashboard import run_dashboard

            return run_dashboard(args)
        build_parser().print_help()
        return EXIT_BAD_INPUT
    except TradeConsoleError as error:
        print(f"trade-console: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("trade-console: interrupted", file=sys.stderr)
        return 130


def entry() -> NoReturn:
    """The ``trade-console`` executable: ``main``, then Python's exit handlers, then a hard exit.

    Arrow's C++ thread pools can abort the interpreter's own teardown after a parquet read
    ("terminate called without an active exception", exit 134; apache/arrow#34314): measured
    here in 1 to 7 of 20 runs of a five-line read script, with every pyarrow from 21 to 26. A
    backtest or a T+1 batch that finished and wrote everything would be reported failed to
    cron or systemd. So the process runs the ``atexit`` handlers (logging, multiprocessing,
    Dask), flushes its streams and leaves with ``os._exit``: only the native teardown, where
    the abort happens, is skipped (0 aborts in 30 runs of the same script).
    """
    try:
        code = main()
    except SystemExit as exit_request:  # argparse: --help, a bad option
        requested = exit_request.code
        code = requested if isinstance(requested, int) else 0 if requested is None else 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more to say anyway
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
