"""The desk's configuration: one TOML file parsed into frozen, typed structs.

Unknown or mistyped keys are errors, not warnings: a typo in a risk limit or a starting balance
must stop the run before it starts, with one line naming the file and the field. Every field has
a default, so an empty file (or no file) runs the demo. Secrets never live here: API keys come
from environment variables only.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import msgspec

from core.database_url import is_postgres_url, postgres_url_problem
from core.errors import ConfigError, bounded

_STRUCT = {"frozen": True, "forbid_unknown_fields": True, "kw_only": True}


class DataConfig(msgspec.Struct, **_STRUCT):
    """Where the desk's data lives."""

    root: str = "artifacts/demo-data"
    """URL of the data root (a local path or ``gs://bucket/prefix``) in the desk's layout."""
    instruments_root: str = ""
    """URL holding ``instrument_availability/`` when the instruments live apart from the ticks
    (another bucket); empty: ``root``."""

    @property
    def instruments(self) -> str:
        """Where the instruments are read from: ``instruments_root``, else ``root``."""
        return self.instruments_root or self.root


class ResultsConfig(msgspec.Struct, **_STRUCT):
    """Where backtest results go."""

    root: str = "artifacts"
    """URL under which ``backtest_results/{run_id}/`` folders are written."""
    upload_root: str = ""
    """``gs://bucket/prefix`` each finished run is uploaded to (``backtest_results/{run_id}/``)
    through the OMS's durable upload queue; empty: no upload."""


class GcsConfig(msgspec.Struct, **_STRUCT):
    """How Google Cloud Storage is reached (data, results and upload roots alike)."""

    endpoint: str = ""
    """An emulator or private endpoint, e.g. ``http://127.0.0.1:9023``; the environment's
    ``STORAGE_EMULATOR_HOST`` wins over it. Either one means anonymous access."""
    credentials: str = ""
    """A service-account JSON file; empty: Google's application default credentials."""
    anonymous: bool = False
    """No credentials at all (public buckets)."""
    request_timeout_secs: float = 10.0
    """One HTTP request's bound: a hung server fails in this time, not gcsfs's minutes."""


# How a process reaches GCS travels in environment variables, so that spawned tick readers
# inherit it: ``use_gcs_config`` writes them, ``core.storage.gcs.gcs_options`` reads them.
EMULATOR_VARIABLE = "STORAGE_EMULATOR_HOST"
CREDENTIALS_VARIABLE = "GOOGLE_APPLICATION_CREDENTIALS"
ANONYMOUS_VARIABLE = "TRADE_CONSOLE_GCS_ANONYMOUS"
TIMEOUT_VARIABLE = "TRADE_CONSOLE_GCS_TIMEOUT"
DEFAULT_GCS_TIMEOUT_SECS = 10.0


def use_gcs_config(config: GcsConfig) -> None:
    """Make ``config`` the way this process (and the processes it spawns) reach GCS."""
    if config.endpoint and not os.environ.get(EMULATOR_VARIABLE):
        os.environ[EMULATOR_VARIABLE] = config.endpoint
    if config.credentials:
        os.environ[CREDENTIALS_VARIABLE] = config.credentials
    os.environ[ANONYMOUS_VARIABLE] = "1" if config.anonymous else ""
    os.environ[TIMEOUT_VARIABLE] = repr(config.request_timeout_secs)


class UploadsConfig(msgspec.Struct, **_STRUCT):
    """The durable upload queue (``core.runs.uploads``)."""

    max_attempts: int = 8
    """Attempts per file before it is ``failed`` (``trade-console uploads --retry-failed``)."""
    backoff_secs: float = 1.0
    """Wait after the first failure; doubled after each, up to ``max_backoff_secs``."""
    max_backoff_secs: float = 60.0
    """The longest wait between two attempts at one file."""
    timeout_secs: float = 60.0
    """One file's upload, verification included, must finish within this."""
    wait_secs: float = 120.0
    """How long ``trade-console backtest`` waits for its run's uploads before leaving the rest
    queued (they resume with ``trade-console uploads`` or the next run)."""
    probe_secs: float = 60.0
    """How often a running node checks that ``results.upload_root``'s bucket answers (a part
    of the node in the Health pane, ``status`` and ``/healthz``: WARN when it does not); 0:
    never. A check may take ``timeout_secs``."""


class VenueConfig(msgspec.Struct, **_STRUCT):
    """One simulated venue: its account, balances, latency and fill behaviour."""

    name: str = "BINANCE"
    """Venue name, as in the instrument ids (``BTCUSDT.BINANCE``)."""
    account_type: Literal["cash", "margin"] = "cash"
    """``cash`` for spot (no borrowing); ``margin`` for perpetuals."""
    starting_balances: tuple[str, ...] = ("100000 USDT",)
    """Balances at the start, each ``"AMOUNT CURRENCY"``."""
    latency_ms: float = 20.0
    """One-way latency from the strategy to the venue: orders meet the market this much later."""
    fill_model: Literal[
        "trades_after_arrival", "trades_then_sqrt_impact", "last_trade_then_one_tick"
    ] = "trades_after_arrival"
    """How orders fill, in a backtest and in the shadow node's sandbox alike.
    ``trades_after_arrival``: only from trades of the order's instrument printed at or after
    its arrival, on the side that could meet it, each printed size once; the rest waits (market)
    or rests (limit). ``trades_then_sqrt_impact``: the same, but the rest of a market order fills
    at once, moved by square-root impact. ``last_trade_then_one_tick``: Nautilus's own matching
    (the old default; can use trades printed before arrival). See the docs' fill models."""
    impact_coefficient_bps: float = 10.0
    """``trades_then_sqrt_impact``: the cost in bps of taking the whole window's traded volume;
    a rest of ``q`` pays ``impact_coefficient_bps * sqrt(q / volume)``."""
    impact_window_secs: float = 300.0
    """``trades_then_sqrt_impact``: the window over which the instrument's traded volume is
    summed for participation (up to and including the trade the order meets)."""


class StrategyConfig(msgspec.Struct, **_STRUCT):
    """The rebalancing strategy's parameters (shared by backtest and live)."""

    strategy_id: str = "REBAL-001"
    """Nautilus strategy id ``NAME-TAG``; orders, the OMS and the results carry it as written
    (passed to Nautilus as name + ``order_id_tag``: a bare name would become ``NAME-000``)."""
    valuation_currency: str = "USDT"
    """Currency in which equity and weights are measured (every instrument's quote)."""
    min_trade_notional: float = 10.0
    """Dust threshold: a rebalance order worth less than this (in valuation currency) is skipped."""
    weight_tolerance: float = 0.0005
    """No order when |target - current weight| is within this (0.0005 = 5 bps of equity)."""
    cash_buffer: float = 0.002
    """Fraction of equity kept in cash on cash accounts, so fees never make a buy unaffordable."""


_DAY_SECONDS = 86_400  # a signal window longer than a day is a full backtest in disguise


class BacktestConfig(msgspec.Struct, **_STRUCT):
    """What one backtest covers and how it streams."""

    start: str | None = None
    """ISO 8601 UTC start (inclusive); default: the first day with trade data."""
    end: str | None = None
    """ISO 8601 UTC end (exclusive); default: the end of the last day with trade data."""
    instruments: tuple[str, ...] = ()
    """Instrument ids to trade; empty means every instrument in the first day's file."""
    targets: Literal["signals"] | str = "signals"
    """``signals`` (the signal files under the data root) or the URL of a target-weights JSON."""
    chunk_size: int = 500_000
    """Ticks per chunk streamed into Nautilus: bounds memory whatever the period."""
    equity_interval_secs: int = 60
    """Mark-to-market interval of the equity curve (it is also sampled at every fill)."""
    mode: Literal["full", "signals"] = "full"
    """``full``: every tick of the period; ``signals``: only the ticks of the ``window_secs``
    after each target set (plus the last trade before it, for the decision price), positions
    marked at the last price seen in between (``core.data.signal_windows``)."""
    window_secs: int = 300
    """Signal-driven mode: seconds of ticks streamed after each signal; overlapping windows
    merge. Fills later than this after their signal are not simulated the same way."""
    fetch: Literal["every-signal", "direction-change"] = "every-signal"
    """Signal-driven mode: which signals get a window of ticks. ``every-signal``: each one is
    applied and rebalanced to. ``direction-change``: only a signal that changes the side
    (long > 0, short < 0, flat 0) of some instrument's target in force (an instrument it does
    not list keeps its target; at the start every side is flat) is fetched and applied; the
    others are skipped whole: no ticks, no rebalance, the previous targets stay, so weights
    drift from target between direction changes (``core.backtest.signal_fetch``). Ignored in
    ``full`` mode, like ``window_secs``."""


class LoggingConfig(msgspec.Struct, **_STRUCT):
    """Where Nautilus writes its logs: a file, never the terminal."""

    directory: str = "artifacts/logs"
    """Local folder for log files."""
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Level written to the log file."""


class OmsConfig(msgspec.Struct, **_STRUCT):
    """The order-management store the node writes and the console reads."""

    @property
    def location(self) -> str:
        """What to open: ``url`` when set, else the ``database`` file."""
        return self.url or self.database

    url: str = ""
    """Where the OMS lives: empty (then ``database``) or a path means a local SQLite file, the
    default for one trading box; ``postgresql://user@host:port/database`` means a PostgreSQL
    server, for a node and consoles on several machines. Never a password here: it comes from
    ``PGPASSWORD`` or ``~/.pgpass``."""
    database: str = "artifacts/oms.sqlite"
    """Local path of the SQLite file (relative paths are from the working directory), when
    ``url`` is empty."""
    buffer_records: int = 100_000
    """Records a running node keeps in memory while the OMS cannot be written (a PostgreSQL
    server restarting, a full disk), written in order once it can. While any are kept the node
    raises one ERROR alert (``oms_unreachable``); at this many it raises a CRITICAL one
    (``oms_buffer_full``) and halts trading (nothing is dropped: the halt stops the orders
    that would add more)."""
    record_backtests: bool = True
    """Copy each backtest's orders, fills, positions and balances into the OMS, so the dashboard
    shows a run's trading before any node exists; each backtest replaces the previous one's
    rows (the runs table keeps every run either way). While a node runs on this OMS a backtest
    records only its ``runs`` row, whatever this says (``core.backtest.node_guard``): the node's
    panes show the node's trading only."""


class ConsoleConfig(msgspec.Struct, **_STRUCT):
    """How the dashboard looks."""

    theme: Literal["trade-dark", "trade-light", "trade-high-contrast"] = "trade-dark"
    """Textual theme; also switchable from the command palette (the operator's last choice is
    kept per user and wins over this default)."""
    stale_after_secs: float = 3.0
    """A node heartbeat older than this shows NODE STALE (a running node beats every
    ``[node] heartbeat_secs``)."""
    down_after_secs: float = 10.0
    """A node heartbeat older than this (with no clean stop) shows NODE DOWN and raises one
    CRITICAL ``node_down`` alert; ``trade-console status`` exits 3."""


class NodeConfig(msgspec.Struct, **_STRUCT):
    """The embedded live or shadow node (``trade-console run``, and the dashboard's node)."""

    mode: Literal["shadow", "live"] = "shadow"
    """``shadow``: market data from ``source``, fills simulated by Nautilus's sandbox;
    ``live``: real orders at the venue (needs ``confirm_live`` or ``--confirm-live``)."""
    source: Literal["replay", "venue"] = "replay"
    """``replay``: the desk's recorded trades under ``data.root`` re-stamped with the live clock
    (no network); ``venue``: the venue's own Nautilus data client."""
    venue_kind: Literal["binance-spot", "binance-futures", "bybit", "okx", "ibkr"] = "binance-spot"
    """Which Nautilus adapter a ``venue`` source or ``live`` mode uses."""
    confirm_live: bool = False
    """LIVE sends real orders: it starts only when this is true or ``--confirm-live`` is given."""
    replay_speed: float = 60.0
    """Replay pace: 1 is real time, 60 a minute of trades per second, 0 as fast as possible."""
    replay_start: str | None = None
    """First instant replayed (ISO 8601, UTC); default: the first day with data."""
    replay_end: str | None = None
    """End of the replay (exclusive); default: the last day with data, to its end."""
    trader_id: str = "CONSOLE-001"
    """Nautilus trader id of the node."""
    start_timeout_secs: float = 15.0
    """How long the node may take to connect before it is reported as not connected."""
    record_to_oms: bool = True
    """Write the node's orders, fills, positions and balances to the OMS."""
    specs_root: str | None = None
    """URL of the desk's instrument specs (``instrument_availability/...``, the execution
    metadata catalog) that the node compares with the venue's instruments at start; default
    ``data.root``."""
    heartbeat_secs: float = 1.0
    """How often the node writes its status (the Health pane and ``status`` read it)."""


class WatcherConfig(msgspec.Struct, **_STRUCT):
    """The target-weights file the research process writes, and what makes it acceptable."""

    path: str = "artifacts/orders/target_weights.json"
    """The watched file (its folder is created if missing)."""
    debounce_ms: int = 20
    """Changes closer together than this are read once (a writer's truncate then write)."""
    min_weight: float = -1.0
    """Lowest weight allowed per instrument (negative = short)."""
    max_weight: float = 1.0
    """Highest weight allowed per instrument."""
    long_only: bool = True
    """Reject any negative weight (spot accounts cannot go short)."""
    max_gross: float = 1.0
    """Highest sum of absolute weights."""
    max_age_secs: float = 86_400.0
    """A file whose ``as_of`` is older than this is stale and rejected (0 = no limit)."""


class TargetsConfig(msgspec.Struct, **_STRUCT):
    """How a target-weights file is read, by the node's watcher and by ``backtest --targets``
    alike: limits that keep a hostile or broken file (a FIFO, ``/dev/zero``, 50 MB of keys, an
    ``as_of`` in 2099) from blocking, bloating or steering the node. ``[watcher]`` holds the
    path and the rules on the weights themselves."""

    max_bytes: int = 1_000_000
    """A larger file is refused unread (a file of targets is a few hundred bytes)."""
    max_clock_skew_secs: float = 300.0
    """A file whose ``as_of`` is further ahead of this machine's clock is refused: trading on
    it would make every later, honest file look older than the targets in force."""
    settle_ms: int = 1_000
    """A file that does not parse is reported only once it has stayed the same this long: a
    writer that truncates the file, then writes it in pieces with pauses shorter than this, is
    never reported half-written."""
    read_timeout_secs: float = 2.0
    """A read that takes longer (a hung network file system) is abandoned and reported."""


class DriftConfig(msgspec.Struct, **_STRUCT):
    """Fill-price drift: how far fills land from the price the strategy saw."""

    threshold_bps: float = 10.0
    """A fill further than this from its reference raises an alert."""
    log: str | None = None
    """One parseable line per fill (JSON); default ``{logging.directory}/live/drift.log``."""


class RiskConfig(msgspec.Struct, **_STRUCT):
    """The desk's pre-trade limits, checked for every order in backtest and live alike.

    Notionals are in ``strategy.valuation_currency``; exposures are fractions of equity. A limit
    of 0 switches that check off (documented per field); ``warn_at`` of a limit raises a
    WARNING alert before the limit denies.
    """

    max_orders_per_second: int = 10
    """Orders one strategy may send in any second (0 = no limit)."""
    max_orders_per_minute: int = 120
    """Orders one strategy may send in any minute (0 = no limit)."""
    max_orders_per_second_total: int = 20
    """Orders all strategies together may send in any second (0 = no limit)."""
    max_orders_per_minute_total: int = 300
    """Orders all strategies together may send in any minute (0 = no limit)."""
    max_position_quantity: dict[str, float] = {}
    """Largest absolute position per instrument id, in its quantity (absent = no limit)."""
    max_position_notional: float = 150_000.0
    """Largest absolute position in one instrument, in notional (0 = no limit)."""
    max_strategy_notional: float = 250_000.0
    """Largest sum of absolute positions of one strategy, in notional (0 = no limit)."""
    max_global_notional: float = 300_000.0
    """Largest sum of absolute positions of all strategies, in notional (0 = no limit)."""
    max_gross_exposure: float = 1.5
    """Largest sum of absolute positions over equity after the order (0 = no limit)."""
    max_net_exposure: float = 1.0
    """Largest absolute sum of signed positions over equity after the order (0 = no limit)."""
    max_order_notional: float = 100_000.0
    """Largest single order, in notional (0 = no limit)."""
    max_order_quantity: dict[str, float] = {}
    """Largest single order per instrument id, in its quantity (absent = no limit)."""
    price_tolerance_bps: float = 100.0
    """A limit price, or a market order's expected fill, further than this from the last or
    mid price is denied (0 = no check)."""
    warn_at: float = 0.8
    """Share of a limit at which an order passes with a WARNING alert."""
    drawdown_limit: float = 0.0
    """Equity this far below its peak (a fraction, e.g. 0.1) trips ``auto_action`` (0 = off)."""
    daily_loss_limit: float = 0.0
    """Equity this far below the day's first valuation (UTC day) trips ``auto_action`` (0 = off)."""
    auto_action: Literal["reducing", "halted"] = "halted"
    """What a tripped drawdown or daily loss limit does to the trading state."""
    require_preview: Literal["auto", "always", "never"] = "auto"
    """Show the rebalance preview before a new target file is traded: ``auto`` = in LIVE only."""
    confirm_above_pct_equity: float = 20.0
    """A rebalance sent from the preview with an order above this percentage of equity (20 =
    20%) needs a second confirmation: the operator types the order's base currency (``BTC``)
    in a dialog that states its notional and share of equity (0 = off)."""
    confirm_turnover_pct_equity: float = 50.0
    """A rebalance sent from the preview whose orders add up to more than this percentage of
    equity needs the same second confirmation, for its largest order (0 = off)."""


class ExecutionConfig(msgspec.Struct, **_STRUCT):
    """How a rebalance order is worked: one market order, or a TWAP, VWAP or iceberg algorithm.

    The algorithm applies to orders of at least ``algorithm_above_notional``; smaller ones go
    out as plain market orders. An order may override any of these through its
    ``exec_algorithm_params`` (``core.execution.algorithms``).
    """

    algorithm: Literal["market", "twap", "vwap", "iceberg"] = "market"
    """What a rebalance order at or above ``algorithm_above_notional`` uses; ``market`` is one
    plain market order (no algorithm)."""
    algorithm_above_notional: float = 0.0
    """Smallest order notional (valuation currency) worked by ``algorithm``; 0 = every order."""
    child_order_type: Literal["market", "limit"] = "market"
    """TWAP and VWAP children: market orders, or limit orders at the best/last price moved by
    ``limit_offset_bps``."""
    limit_offset_bps: float = 5.0
    """TWAP/VWAP limit children: bps from the best/last price, positive = more aggressive (a buy
    above it, a sell below it: marketable), negative = passive."""
    participation_cap: float = 0.0
    """TWAP/VWAP: a child is at most this fraction of the volume traded in the instrument since
    the previous child (0 = no cap); what the cap holds back goes in later children, after the
    horizon if need be."""
    twap_horizon_secs: float = 600.0
    """TWAP: seconds over which the parent is split evenly."""
    twap_interval_secs: float = 60.0
    """TWAP: seconds between children."""
    twap_randomise: float = 0.0
    """TWAP: each interval drawn within +- this fraction of ``twap_interval_secs`` (0 = fixed),
    so the children do not show a clock; seeded by ``seed``."""
    seed: int = 0
    """Seed of the randomised intervals (the same seed gives the same schedule)."""
    vwap_horizon_secs: float = 600.0
    """VWAP: seconds over which the parent is worked."""
    vwap_interval_secs: float = 60.0
    """VWAP: seconds between children; each child's share follows the volume profile."""
    vwap_bucket_secs: int = 300
    """VWAP: width of a time-of-day bucket of the volume profile (divides a day)."""
    vwap_lookback_days: int = 5
    """VWAP: days of the desk's trades before the order that build the profile."""
    iceberg_display_fraction: float = 0.1
    """Iceberg: shown quantity as a fraction of the parent (used when ``iceberg_display_qty``
    is 0)."""
    iceberg_display_qty: float = 0.0
    """Iceberg: shown quantity in the instrument's units (0 = ``iceberg_display_fraction``)."""
    iceberg_limit_offset_bps: float = 0.0
    """Iceberg on a market parent: the limit price is the best/last price at arrival moved by
    this many bps (positive = more aggressive); a limit parent keeps its own price."""


class ExternalVenueConfig(msgspec.Struct, **_STRUCT):
    """One venue Nautilus has no adapter for, reached through ``core.execution.external`` and
    polled into the OMS (``[[external_venues]]``). Its key and secret come only from the
    environment variables named here, never from this file."""

    name: str = ""
    """Venue name: the suffix of its instrument ids (``BTCUSD.GEMINI``); required, unique."""
    kind: str = "gemini"
    """Which registered adapter speaks its protocol (``core.execution.external.registry``)."""
    base_url: str = "https://api.gemini.com"
    """The REST API's root (a sandbox, or a local test server)."""
    api_key_env: str = ""
    """Name of the environment variable holding the API key (e.g. ``GEMINI_API_KEY``)."""
    api_secret_env: str = ""
    """Name of the environment variable holding the API secret."""
    account: str = ""
    """Sub-account a master key acts on (Gemini's ``account``); empty: the key's own."""
    instruments: tuple[str, ...] = ()
    """The venue's symbols the desk trades (``BTCUSD``); their fills are polled. Empty: all."""
    poll_interval_secs: float = 2.0
    """How often orders, fills, positions and balances are read into the OMS."""
    request_timeout_secs: float = 10.0
    """One HTTP request's bound: a hung venue fails in this time."""
    max_retries: int = 2
    """Retries of a read after a timeout, HTTP 5xx or rate limit (a submit is never retried)."""
    retry_backoff_secs: float = 0.25
    """Wait before the first retry; doubled after each."""


class RoutingVenueConfig(msgspec.Struct, **_STRUCT):
    """What the smart order router charges one venue (``[routing.venues.NAME]``)."""

    maker_fee_bps: float | None = None
    """Fee of a limit (maker) order in bps (negative = a rebate); default: the instrument's."""
    taker_fee_bps: float | None = None
    """Fee of a market (taker) order in bps; default: the instrument's own taker fee."""
    latency_penalty_bps: float = 0.0
    """Cost added for the venue's latency (the market moves while the order travels), in bps."""


class RoutingConfig(msgspec.Struct, **_STRUCT):
    """The smart order router (``core.execution.routing``): which venue each order goes to.

    Off (the default), every order goes to its instrument's own venue, as it always has. On,
    the same asset (same symbol, e.g. ``BTCUSDT.BINANCE`` and ``BTCUSDT.BYBIT``) is one position
    held across venues, and each order goes where it is expected to cost least, split when one
    venue's recent liquidity cannot absorb it.
    """

    enabled: bool = False
    """Route orders across the venues holding the same asset (false: the instrument's venue)."""
    venues: dict[str, RoutingVenueConfig] = {}
    """Fees and latency penalty per venue name; a venue absent here pays its instrument's fees
    and no penalty."""
    liquidity_window_secs: float = 300.0
    """Traded volume over this many seconds is a venue's recent liquidity."""
    max_participation: float = 0.1
    """Share of a venue's recent liquidity (volume + depth at the touch) one order may take
    there; the rest goes to the next cheapest venue."""
    external_slippage_bps: float = 50.0
    """An order routed to an external venue goes as immediate-or-cancel at a limit this many
    bps through the decision price (Gemini has no market orders)."""


class NotifyConfig(msgspec.Struct, **_STRUCT):
    """Notifications to the desk's phones (``core.notify``): the node sends its ERROR and
    CRITICAL alerts through apprise, one message per incident, so nobody has to watch the
    terminal at night. Off while ``urls`` is empty."""

    urls: tuple[str, ...] = ()
    """apprise URLs, one per channel (``tgram://...``, ``slack://...``, ``ntfy://...``,
    ``mailtos://...``, ``json://host/path`` for a plain webhook). ``${NAME}`` is replaced by
    the environment variable ``NAME`` when the node starts, so tokens stay out of this file;
    logs, the Health pane and the OMS show each URL with its secrets masked."""
    desk: str = ""
    """The desk's name at the head of each message; empty: ``node.trader_id``."""
    min_severity: Literal["ERROR", "CRITICAL"] = "ERROR"
    """The least severe alert sent: ``ERROR`` sends ERROR and CRITICAL, ``CRITICAL`` only
    CRITICAL."""
    remind_after_secs: float = 1800.0
    """An incident still open this long after its last message is sent again, as a reminder
    (with how many alerts it raised since)."""
    resolve_after_secs: float = 900.0
    """An incident without a state to watch (a refused target file, a denied order) is
    resolved after this long without another alert of its kind; a halt is resolved by the
    re-arm, a part of the node by the part working again."""
    max_per_minute: int = 10
    """Messages one channel may send per minute; more wait their turn (incidents, not alerts,
    become messages, so a storm of one kind is still one message)."""
    timeout_secs: float = 10.0
    """One send's bound: a channel that does not answer is recorded as failed after this."""
    catch_up_secs: float = 3600.0
    """At start, alerts this recent that no notification covers yet are sent (a node_down a
    console recorded while no node ran, an alert raised just before a restart)."""


class HealthConfig(msgspec.Struct, **_STRUCT):
    """The node's health endpoint (``core.monitor``): ``/healthz`` for a probe and ``/metrics``
    for Prometheus. Off while ``listen`` is empty."""

    listen: str = ""
    """``HOST:PORT`` the node serves on, e.g. ``127.0.0.1:9108``; empty: no endpoint."""
    allow_remote: bool = False
    """Serve on an address other than loopback (``0.0.0.0``, a LAN address). The endpoint has
    no authentication: without this, only ``127.0.0.1``, ``::1`` or ``localhost`` is
    accepted."""


class AppConfig(msgspec.Struct, **_STRUCT):
    """The whole configuration file."""

    data: DataConfig = msgspec.field(default_factory=DataConfig)
    results: ResultsConfig = msgspec.field(default_factory=ResultsConfig)
    backtest: BacktestConfig = msgspec.field(default_factory=BacktestConfig)
    strategy: StrategyConfig = msgspec.field(default_factory=StrategyConfig)
    venues: tuple[VenueConfig, ...] = (VenueConfig(),)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    oms: OmsConfig = msgspec.field(default_factory=OmsConfig)
    console: ConsoleConfig = msgspec.field(default_factory=ConsoleConfig)
    node: NodeConfig = msgspec.field(default_factory=NodeConfig)
    watcher: WatcherConfig = msgspec.field(default_factory=WatcherConfig)
    targets: TargetsConfig = msgspec.field(default_factory=TargetsConfig)
    drift: DriftConfig = msgspec.field(default_factory=DriftConfig)
    gcs: GcsConfig = msgspec.field(default_factory=GcsConfig)
    uploads: UploadsConfig = msgspec.field(default_factory=UploadsConfig)
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    external_venues: tuple[ExternalVenueConfig, ...] = ()
    execution: ExecutionConfig = msgspec.field(default_factory=ExecutionConfig)
    routing: RoutingConfig = msgspec.field(default_factory=RoutingConfig)
    notify: NotifyConfig = msgspec.field(default_factory=NotifyConfig)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)


_BALANCE = re.compile(r"^\s*(?P<amount>[0-9]+(\.[0-9]+)?)\s+(?P<currency>[A-Z0-9]{2,10})\s*$")


def load_config(path: str | Path | None) -> AppConfig:
    """Parse and validate the TOML file at ``path`` (defaults when ``path`` is None).

    Raises
    ------
    ConfigError
        One line naming the file and the field: unknown key, wrong type, bad value.
    """
    if path is None:
        return validate(AppConfig(), "defaults")
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except OSError as error:
        raise ConfigError(f"{source}: cannot read config ({error.strerror})") from None
    try:
        config = msgspec.toml.decode(raw, type=AppConfig)
    except msgspec.ValidationError as error:
        raise ConfigError(f"{source}: {_describe(error)}") from None
    except msgspec.DecodeError as error:
        raise ConfigError(f"{source}: not valid TOML ({bounded(str(error), 200)})") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{source}: not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start})"
        ) from None
    config = validate(config, source)
    use_gcs_config(config.gcs)  # gs:// roots (and spawned readers) reach GCS as configured
    return config


def _describe(error: msgspec.ValidationError) -> str:
    # msgspec says "Object contains unknown field `x` - at `$.backtest`": name the dotted field.
    # At the top level it gives no location at all, so the location is optional.
    what, _, location = str(error).partition(" - at `$")
    where = location.rstrip("`").lstrip(".").replace("[", ".").replace("]", "")
    unknown = re.fullmatch(r"Object contains unknown field `(?P<key>[^`]+)`", what)
    if unknown is not None:
        field = f"{where}.{unknown['key']}" if where else unknown["key"]
        return f"unknown key '{field}'"
    return f"{where}: {what}" if where else what


_STRATEGY_ID = re.compile(r"[A-Za-z0-9_]+-[A-Za-z0-9_]+")
"""Nautilus's ``{name}-{order_id_tag}``: the tag is what tells the desk's strategies apart."""


def validate(config: AppConfig, source: str) -> AppConfig:
    """Check values that types alone cannot (ranges, formats, the window's order)."""

    def fail(field: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {field}: {problem}")

    if config.oms.buffer_records <= 0:
        raise fail("oms.buffer_records", f"must be positive, got {config.oms.buffer_records}")
    if is_postgres_url(config.oms.url):
        problem = postgres_url_problem(config.oms.url)
        if problem is not None:
            raise fail("oms.url", problem)
    bt = config.backtest
    if bt.chunk_size <= 0:
        raise fail("backtest.chunk_size", f"must be positive, got {bt.chunk_size}")
    if bt.equity_interval_secs <= 0:
        interval = bt.equity_interval_secs
        raise fail("backtest.equity_interval_secs", f"must be positive, got {interval}")
    if bt.window_secs <= 0 or bt.window_secs > _DAY_SECONDS:
        raise fail(
            "backtest.window_secs",
            f"must be from 1 to {_DAY_SECONDS} seconds, got {bt.window_secs}",
        )
    start = parse_time(bt.start, "backtest.start", source) if bt.start else None
    end = parse_time(bt.end, "backtest.end", source) if bt.end else None
    if start is not None and end is not None and start >= end:
        raise fail("backtest.start", f"{bt.start} is not before backtest.end {bt.end}")
    targets = config.targets
    if targets.max_bytes <= 0:
        raise fail("targets.max_bytes", f"must be positive, got {targets.max_bytes}")
    if targets.settle_ms < 0:
        raise fail("targets.settle_ms", f"must be 0 or more, got {targets.settle_ms}")
    for name in ("max_clock_skew_secs", "read_timeout_secs"):
        value = getattr(targets, name)
        if not math.isfinite(value) or value <= 0:
            raise fail(f"targets.{name}", f"must be a positive number of seconds, got {value}")
    console = config.console
    for name in ("stale_after_secs", "down_after_secs"):
        value = getattr(console, name)
        if not math.isfinite(value) or value <= 0:
            raise fail(f"console.{name}", f"must be a positive number of seconds, got {value}")
    if console.down_after_secs <= console.stale_after_secs:
        raise fail(
            "console.down_after_secs",
            f"must be above console.stale_after_secs ({console.stale_after_secs}), "
            f"got {console.down_after_secs}",
        )
    st = config.strategy
    if not _STRATEGY_ID.fullmatch(st.strategy_id):
        raise fail(
            "strategy.strategy_id",
            f"'{st.strategy_id}' is not NAME-TAG (letters, digits, _; e.g. REBAL-001)",
        )
    for name in ("min_trade_notional", "weight_tolerance", "cash_buffer"):
        value = getattr(st, name)
        if not math.isfinite(value) or value < 0:
            raise fail(f"strategy.{name}", f"must be a non-negative number, got {value}")
    if st.cash_buffer >= 1:
        raise fail("strategy.cash_buffer", f"must be below 1, got {st.cash_buffer}")
    if not config.venues:
        raise fail("venues", "at least one venue is required")
    names = [venue.name for venue in config.venues]
    if len(set(names)) != len(names):
        raise fail("venues", f"venue names repeat: {', '.join(names)}")
    for i, venue in enumerate(config.venues):
        if venue.latency_ms < 0 or not math.isfinite(venue.latency_ms):
            raise fail(f"venues.{i}.latency_ms", f"must be >= 0, got {venue.latency_ms}")
        if venue.impact_coefficient_bps < 0 or not math.isfinite(venue.impact_coefficient_bps):
            raise fail(
                f"venues.{i}.impact_coefficient_bps",
                f"must be >= 0, got {venue.impact_coefficient_bps}",
            )
        if venue.impact_window_secs <= 0 or not math.isfinite(venue.impact_window_secs):
            raise fail(
                f"venues.{i}.impact_window_secs", f"must be > 0, got {venue.impact_window_secs}"
            )
        if not venue.starting_balances:
            raise fail(f"venues.{i}.starting_balances", "at least one balance is required")
        for balance in venue.starting_balances:
            if _BALANCE.match(balance) is None:
                raise fail(
                    f"venues.{i}.starting_balances",
                    f"'{balance}' is not 'AMOUNT CURRENCY' (e.g. '100000 USDT')",
                )
    _validate_live(config, fail, source)
    _validate_risk(config.risk, fail)
    _validate_execution(config.execution, fail)
    _validate_external_venues(config, fail)
    _validate_routing(config, fail)
    _validate_storage(config, fail)
    _validate_notify(config.notify, fail)
    _validate_health(config.health, fail)
    return config


def _validate_notify(notify: NotifyConfig, fail: Callable[[str, str], ConfigError]) -> None:
    # The URLs themselves are checked when the node starts (core.notify.channels): their
    # ${NAME} variables belong to the node's environment, not to every command's.
    for name in ("remind_after_secs", "resolve_after_secs", "timeout_secs", "catch_up_secs"):
        value = getattr(notify, name)
        if not math.isfinite(value) or value <= 0:
            raise fail(f"notify.{name}", f"must be a positive number of seconds, got {value}")
    if notify.max_per_minute <= 0:
        raise fail("notify.max_per_minute", f"must be positive, got {notify.max_per_minute}")
    for i, url in enumerate(notify.urls):
        if "://" not in url:
            raise fail(f"notify.urls.{i}", "is not an apprise URL (SCHEME://...)")


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
"""The addresses ``[health] listen`` may name without ``allow_remote``."""


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9108`` for IPv6) as (host, port).

    Raises
    ------
    ValueError
        Not ``HOST:PORT`` with a port from 1 to 65535 (the message says which part).
    """
    host, sep, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host:
        raise ValueError(f"'{listen}' is not HOST:PORT (e.g. 127.0.0.1:9108)")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"'{listen}': the port must be a number from 1 to 65535")
    return host, int(port)


def _validate_health(health: HealthConfig, fail: Callable[[str, str], ConfigError]) -> None:
    if not health.listen:
        return
    try:
        host, _ = parse_listen(health.listen)
    except ValueError as error:
        raise fail("health.listen", str(error)) from None
    if host not in LOOPBACK_HOSTS and not health.allow_remote:
        raise fail(
            "health.listen",
            f"'{host}' is not loopback: the endpoint has no authentication; set "
            "health.allow_remote = true to serve beyond this machine",
        )


def _validate_routing(config: AppConfig, fail: Callable[[str, str], ConfigError]) -> None:
    routing = config.routing
    window = routing.liquidity_window_secs
    if not math.isfinite(window) or window <= 0:
        raise fail("routing.liquidity_window_secs", f"must be a positive number, got {window}")
    if not 0 < routing.max_participation <= 1:
        raise fail(
            "routing.max_participation", f"must be in (0, 1], got {routing.max_participation}"
        )
    slippage = routing.external_slippage_bps
    if not math.isfinite(slippage) or not 0 < slippage <= 1000:
        raise fail("routing.external_slippage_bps", f"must be in (0, 1000] bps, got {slippage:g}")
    known = {venue.name for venue in config.venues}
    external = {venue.name for venue in config.external_venues}
    known |= external
    for name, venue in routing.venues.items():
        if name not in known:
            raise fail(
                f"routing.venues.{name}", f"no such venue (known: {', '.join(sorted(known))})"
            )
        if name in external and venue.taker_fee_bps is None:
            raise fail(
                f"routing.venues.{name}.taker_fee_bps",
                "required for an external venue (its instruments carry no fee)",
            )
        for field in ("maker_fee_bps", "taker_fee_bps", "latency_penalty_bps"):
            value = getattr(venue, field)
            if value is None:
                continue
            low = -100.0 if field == "maker_fee_bps" else 0.0  # a maker rebate may be negative
            if not math.isfinite(value) or not low <= value <= 1000:
                raise fail(
                    f"routing.venues.{name}.{field}",
                    f"must be from {low:g} to 1000 bps, got {value}",
                )


def _validate_external_venues(config: AppConfig, fail: Callable[[str, str], ConfigError]) -> None:
    # Credentials are read (and a missing variable reported) when the adapter is created.
    taken = {venue.name for venue in config.venues}
    for i, venue in enumerate(config.external_venues):
        field = f"external_venues.{i}"
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", venue.name) is None:
            raise fail(f"{field}.name", f"must be an upper-case venue name, got {venue.name!r}")
        if venue.name in taken:
            raise fail(f"{field}.name", f"venue {venue.name} is configured twice")
        taken.add(venue.name)
        if not venue.base_url.startswith(("http://", "https://")):
            raise fail(
                f"{field}.base_url", f"must start with http:// or https://, got {venue.base_url!r}"
            )
        for name in ("api_key_env", "api_secret_env"):
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", getattr(venue, name)) is None:
                raise fail(
                    f"{field}.{name}", "must name an environment variable (e.g. GEMINI_API_KEY)"
                )
        for name in ("poll_interval_secs", "request_timeout_secs"):
            value = getattr(venue, name)
            if not math.isfinite(value) or value <= 0:
                raise fail(f"{field}.{name}", f"must be positive, got {value}")
        if venue.max_retries < 0:
            raise fail(f"{field}.max_retries", f"must be >= 0, got {venue.max_retries}")
        if not math.isfinite(venue.retry_backoff_secs) or venue.retry_backoff_secs < 0:
            raise fail(
                f"{field}.retry_backoff_secs", f"must be >= 0, got {venue.retry_backoff_secs}"
            )


_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
"""A Cloud Storage bucket name: 3 to 63 lowercase letters, digits, ``-``, ``_`` and ``.``,
starting and ending with a letter or digit."""


def _check_root(field: str, url: str, fail: Callable[[str, str], ConfigError]) -> None:
    # A root is a local path or gs://bucket/prefix: another protocol (or a typo of one) would
    # otherwise fail deep inside a run as a library's error, after the run had started.
    if "://" not in url or url.startswith("file://"):
        return
    protocol, _, rest = url.partition("://")
    if protocol not in ("gs", "gcs"):
        raise fail(field, f"unknown protocol {protocol!r} in {url!r} (a local path or gs://)")
    bucket = rest.split("/", 1)[0]
    if not bucket:
        raise fail(field, "names no bucket")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise fail(
            field,
            f"{bucket!r} is not a valid bucket name (3-63 lowercase letters, digits, '-', '_', "
            "'.')",
        )


def _validate_storage(config: AppConfig, fail: Callable[[str, str], ConfigError]) -> None:
    for field, url in (
        ("data.root", config.data.root),
        ("data.instruments_root", config.data.instruments_root),
        ("results.root", config.results.root),
        ("results.upload_root", config.results.upload_root),
    ):
        _check_root(field, url, fail)
    upload_root = config.results.upload_root
    if upload_root and not upload_root.startswith("gs://"):
        raise fail("results.upload_root", f"must be a gs://bucket/prefix URL, got {upload_root!r}")
    if upload_root and len(upload_root.removeprefix("gs://").strip("/")) == 0:
        raise fail("results.upload_root", "names no bucket")
    if upload_root and "://" in config.results.root:
        raise fail(
            "results.upload_root",
            f"set while results.root is already remote ({config.results.root}): write results "
            "locally and upload them, or write them to the bucket directly, not both",
        )
    gcs = config.gcs
    if not math.isfinite(gcs.request_timeout_secs) or gcs.request_timeout_secs <= 0:
        raise fail("gcs.request_timeout_secs", f"must be positive, got {gcs.request_timeout_secs}")
    if gcs.endpoint and not gcs.endpoint.startswith(("http://", "https://")):
        raise fail("gcs.endpoint", f"must start with http:// or https://, got {gcs.endpoint!r}")
    uploads = config.uploads
    if uploads.max_attempts < 1:
        raise fail("uploads.max_attempts", f"must be at least 1, got {uploads.max_attempts}")
    for name in ("backoff_secs", "max_backoff_secs", "timeout_secs", "wait_secs", "probe_secs"):
        value = getattr(uploads, name)
        if not math.isfinite(value) or value < 0 or (value == 0 and name == "timeout_secs"):
            raise fail(f"uploads.{name}", f"must be a positive number, got {value}")
    if uploads.backoff_secs > uploads.max_backoff_secs:
        raise fail(
            "uploads.backoff_secs",
            f"{uploads.backoff_secs:g} is above uploads.max_backoff_secs "
            f"{uploads.max_backoff_secs:g}",
        )


def _validate_risk(risk: RiskConfig, fail: Callable[[str, str], ConfigError]) -> None:
    # Limits that cannot hold together are refused at start, naming the field.
    for name in (
        "max_orders_per_second",
        "max_orders_per_minute",
        "max_orders_per_second_total",
        "max_orders_per_minute_total",
    ):
        if getattr(risk, name) < 0:
            raise fail(f"risk.{name}", f"must be >= 0 (0 = no limit), got {getattr(risk, name)}")
    pairs = (
        ("max_orders_per_second", "max_orders_per_minute"),
        ("max_orders_per_second_total", "max_orders_per_minute_total"),
        ("max_orders_per_second", "max_orders_per_second_total"),
        ("max_orders_per_minute", "max_orders_per_minute_total"),
        ("max_position_notional", "max_strategy_notional"),
        ("max_strategy_notional", "max_global_notional"),
        ("max_net_exposure", "max_gross_exposure"),
    )
    for name in (
        "max_position_notional",
        "max_strategy_notional",
        "max_global_notional",
        "max_gross_exposure",
        "max_net_exposure",
        "max_order_notional",
        "price_tolerance_bps",
        "drawdown_limit",
        "daily_loss_limit",
        "confirm_above_pct_equity",
        "confirm_turnover_pct_equity",
    ):
        value = getattr(risk, name)
        if not math.isfinite(value) or value < 0:
            raise fail(f"risk.{name}", f"must be a number >= 0 (0 = off), got {value}")
    for small, large in pairs:
        low, high = getattr(risk, small), getattr(risk, large)
        if low and high and low > high:
            raise fail(f"risk.{small}", f"{low:g} is above risk.{large} {high:g}")
    if not 0 < risk.warn_at <= 1:
        raise fail("risk.warn_at", f"must be in (0, 1], got {risk.warn_at}")
    for name in ("drawdown_limit", "daily_loss_limit"):
        if getattr(risk, name) >= 1:
            raise fail(
                f"risk.{name}", f"is a fraction of equity below 1, got {getattr(risk, name)}"
            )
    for name in ("max_position_quantity", "max_order_quantity"):
        for instrument_id, value in getattr(risk, name).items():
            if not math.isfinite(value) or value <= 0:
                raise fail(f"risk.{name}.{instrument_id}", f"must be positive, got {value}")


def _validate_execution(ex: ExecutionConfig, fail: Callable[[str, str], ConfigError]) -> None:
    # Each algorithm parameter is checked here so a bad one stops the run before any order.
    for name in (
        "algorithm_above_notional",
        "participation_cap",
        "twap_randomise",
        "iceberg_display_fraction",
        "iceberg_display_qty",
    ):
        value = getattr(ex, name)
        if not math.isfinite(value) or value < 0:
            raise fail(f"execution.{name}", f"must be a number >= 0, got {value}")
    for name in ("limit_offset_bps", "iceberg_limit_offset_bps"):
        value = getattr(ex, name)
        if not math.isfinite(value) or abs(value) > 1000:
            raise fail(f"execution.{name}", f"must be within +-1000 bps, got {value}")
    for name in (
        "twap_horizon_secs",
        "twap_interval_secs",
        "vwap_horizon_secs",
        "vwap_interval_secs",
    ):
        value = getattr(ex, name)
        if not math.isfinite(value) or value <= 0:
            raise fail(f"execution.{name}", f"must be a positive number of seconds, got {value}")
    for algo in ("twap", "vwap"):
        horizon, interval = (
            getattr(ex, f"{algo}_horizon_secs"),
            getattr(ex, f"{algo}_interval_secs"),
        )
        if interval > horizon:
            raise fail(
                f"execution.{algo}_interval_secs",
                f"{interval:g} is above execution.{algo}_horizon_secs {horizon:g}",
            )
    if ex.participation_cap > 1:
        raise fail(
            "execution.participation_cap",
            f"is a fraction of volume <= 1, got {ex.participation_cap}",
        )
    if ex.twap_randomise >= 1:
        raise fail("execution.twap_randomise", f"is a fraction below 1, got {ex.twap_randomise}")
    if not 0 < ex.iceberg_display_fraction <= 1:
        raise fail(
            "execution.iceberg_display_fraction",
            f"must be in (0, 1], got {ex.iceberg_display_fraction}",
        )
    if ex.vwap_bucket_secs <= 0 or _DAY_SECONDS % ex.vwap_bucket_secs != 0:
        raise fail(
            "execution.vwap_bucket_secs",
            f"must be a positive divisor of {_DAY_SECONDS} seconds, got {ex.vwap_bucket_secs}",
        )
    if ex.vwap_lookback_days < 1:
        raise fail(
            "execution.vwap_lookback_days", f"must be at least 1, got {ex.vwap_lookback_days}"
        )


def _validate_live(config: AppConfig, fail: Callable[[str, str], ConfigError], source: str) -> None:
    node = config.node
    if not math.isfinite(node.replay_speed) or node.replay_speed < 0:
        raise fail("node.replay_speed", f"must be >= 0 (0 = flat out), got {node.replay_speed}")
    if not node.heartbeat_secs > 0:
        raise fail("node.heartbeat_secs", f"must be positive, got {node.heartbeat_secs}")
    if not node.start_timeout_secs > 0:
        raise fail("node.start_timeout_secs", f"must be positive, got {node.start_timeout_secs}")
    start = (
        parse_time(node.replay_start, "node.replay_start", source) if node.replay_start else None
    )
    end = parse_time(node.replay_end, "node.replay_end", source) if node.replay_end else None
    if start is not None and end is not None and start >= end:
        raise fail("node.replay_start", f"{node.replay_start} is not before node.replay_end")
    watcher = config.watcher
    for name in ("min_weight", "max_weight", "max_gross", "max_age_secs"):
        value = getattr(watcher, name)
        if not math.isfinite(value):
            raise fail(f"watcher.{name}", f"must be a finite number, got {value}")
    if watcher.min_weight > watcher.max_weight:
        raise fail("watcher.min_weight", "is above watcher.max_weight")
    if watcher.max_gross <= 0:
        raise fail("watcher.max_gross", f"must be positive, got {watcher.max_gross}")
    if watcher.max_age_secs < 0:
        raise fail("watcher.max_age_secs", f"must be >= 0, got {watcher.max_age_secs}")
    if watcher.debounce_ms < 0:
        raise fail("watcher.debounce_ms", f"must be >= 0, got {watcher.debounce_ms}")
    threshold = config.drift.threshold_bps
    if not math.isfinite(threshold) or threshold <= 0:
        raise fail("drift.threshold_bps", f"must be positive, got {threshold}")


def drift_log_path(config: AppConfig) -> str:
    """Where the node's drift log goes (``drift.log``, else under the log folder)."""
    if config.drift.log is not None:
        return config.drift.log
    return str(Path(config.logging.directory) / "live" / "drift.log")


def parse_time(value: str, field: str, source: str = "command line") -> dt.datetime:
    """Parse an ISO 8601 date or timestamp as UTC (naive values are taken as UTC)."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{source}: {field}: '{value}' is not an ISO 8601 date or time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def parse_balance(balance: str) -> tuple[float, str]:
    """Split a validated ``"AMOUNT CURRENCY"`` balance."""
    match = _BALANCE.match(balance)
    assert match is not None, balance
    return float(match["amount"]), match["currency"]


def to_builtins(config: AppConfig) -> dict:
    """The resolved configuration as plain data (for summary.json)."""
    return msgspec.to_builtins(config)
