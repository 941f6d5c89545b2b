"""A deterministic, realistic sample of the desk's data, in the layout of ``core.data.layout``.

Why synthetic: the desk needs days of tick data at real volume (hundreds of thousands of trades
per instrument per day) to exercise the tick reader, the catalog writer and the backtest, and
real history is neither redistributable nor small. The sample is generated, so it must look
real where the code cares:

* **Instruments** take Binance's current spot filters (tick, lot, min notional, fees), not
  the 0.000001 BTC size increment of the older Nautilus test instrument in the shared real
  data; the max quantities are round figures chosen here. Figures as of early 2026, not
  fetched live:

  ===============  =====  =======  =======  ============  ==========  ===========
  instrument       tick   lot      min qty  min notional  max qty     maker/taker
  ===============  =====  =======  =======  ============  ==========  ===========
  BTCUSDT.BINANCE  0.01   0.00001  0.00001  5 USDT        9,000       0.001
  ETHUSDT.BINANCE  0.01   0.0001   0.0001   5 USDT        100,000     0.001
  ===============  =====  =======  =======  ============  ==========  ===========

* **Prices** follow a stochastic-volatility walk (the vectorisable cousin of GARCH(1,1)): the
  per-second log volatility is the sum of a slow (30 min) and a fast (1 min) AR(1) component
  times an intraday profile, with Student-t(5) shocks. BTC starts at 94,000 and ETH at 3,300,
  and each day starts where the previous one ended. Trades hit the bid or the ask (a 1-tick
  spread) and multi-fill taker orders walk the book, so prices sit on the tick grid.
* **Arrivals**: each day holds exactly ``trades_per_day`` trades, spread over seconds in
  proportion to an activity curve peaking at 13-16 UTC, the current volatility and a gamma
  burst factor, so busy seconds cluster with volatile ones. A taker order fills one or more
  trades sharing a millisecond timestamp, as Binance's do.
* **Sides** are the aggressor's, more often BUY before the mid rises (P(BUY) ~ 0.5 overall).
* **Sizes** are lognormal, rounded to the lot and never below one lot.
* **Trade ids** are a continuous integer sequence per instrument, as strings, across days.
* **Signals**: about 29 target sets a day (Poisson) at random times from ``demo-rebalance``,
  long-only weights in [0, 0.45] per instrument, gross <= 0.9, moving moderately from the
  previous set.

Every random draw comes from a generator derived from ``seed`` and the (instrument, day) it
serves, so the same arguments give identical tables wherever they are written, and a shorter
run is a prefix of a longer one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from core.data.layout import (
    INSTRUMENT_SCHEMA,
    SIGNAL_SCHEMA,
    TRADE_SCHEMA,
    instruments_path,
    signals_path,
    trades_path,
)
from core.errors import ConfigError, DataError, one_line
from core.storage.roots import is_remote, resolve, to_url

SECONDS_PER_DAY = 86_400
NS_PER_SECOND = 1_000_000_000
ROW_GROUP_SECONDS = 600  # one row group per 10 minutes: a 5-minute window touches at most two
STRATEGY_ID = "demo-rebalance"
SIGNALS_PER_DAY = 29
MAX_WEIGHT = 0.45
MAX_GROSS = 0.9


@dataclass(frozen=True)
class _Spec:
    """One demo instrument: its exchange specs and the character of its market."""

    symbol: str
    base: str
    tick: float
    lot: float
    price_precision: int
    size_precision: int
    max_quantity: float
    start_price: float
    daily_vol: float  # standard deviation of a day's log return
    median_size: float  # in base units
    first_trade_id: int  # a guess at the size of Binance's id sequence in 2026
    trades_per_day: int
    quote: str = "USDT"
    venue: str = "BINANCE"
    min_notional: float = 5.0
    fee: float = 0.001

    @property
    def instrument_id(self) -> str:
        return f"{self.symbol}.{self.venue}"


_SPECS = (
    _Spec(
        symbol="BTCUSDT",
        base="BTC",
        tick=0.01,
        lot=0.00001,
        price_precision=2,
        size_precision=5,
        max_quantity=9_000.0,
        start_price=94_000.0,
        daily_vol=0.025,
        median_size=0.003,
        first_trade_id=5_600_000_000,
        trades_per_day=450_000,
    ),
    _Spec(
        symbol="ETHUSDT",
        base="ETH",
        tick=0.01,
        lot=0.0001,
        price_precision=2,
        size_precision=4,
        max_quantity=100_000.0,
        start_price=3_300.0,
        daily_vol=0.035,
        median_size=0.05,
        first_trade_id=3_100_000_000,
        trades_per_day=350_000,
    ),
)

DEFAULT_TRADES_PER_DAY: Mapping[str, int] = {s.instrument_id: s.trades_per_day for s in _SPECS}

# Log-volatility components: (time constant in seconds, stationary standard deviation).
_VOL_COMPONENTS = ((1_800.0, 0.45), (60.0, 0.35))
_SIZE_LOG_SIGMA = 1.8
_FILL_CONTINUES = 0.35  # chance that a trade is another fill of the previous taker order
_SWEEP_BPS = 0.15  # mean extra price move per further fill of one taker order, in bps
_T_DOF = 5.0


@dataclass(frozen=True)
class DemoDataReport:
    """What ``generate_demo_data`` wrote, for the CLI to print and tests to check.

    Attributes
    ----------
    files : tuple[str, ...]
        URLs of every file written, in writing order.
    rows_per_instrument : dict[str, int]
        Trades written per instrument id over all days.
    total_trades : int
        Sum of ``rows_per_instrument``.
    signals : int
        Target sets (distinct signal ids) written over all days.
    """

    files: tuple[str, ...]
    rows_per_instrument: dict[str, int] = field(default_factory=dict)
    total_trades: int = 0
    signals: int = 0


@dataclass
class _WalkState:
    """What carries over from one day to the next for one instrument."""

    log_price: float
    vol_state: list[float]
    next_trade_id: int


def generate_demo_data(
    root: str,
    days: int = 3,
    seed: int = 7,
    first_day: dt.date = dt.date(2026, 1, 5),
    trades_per_day: dict[str, int] | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoDataReport:
    """Write ``days`` days of instruments, trades and signals under ``root``.

    Parameters
    ----------
    root : str
        Local folder or fsspec URL (``gs://bucket/prefix``) the layout is written under.
    days : int
        Number of consecutive UTC days, starting at ``first_day``.
    seed : int
        Non-negative seed; the same seed and arguments give identical tables.
    first_day : datetime.date
        First UTC day written.
    trades_per_day : dict[str, int] | None
        Trades per day by instrument id, overriding ``DEFAULT_TRADES_PER_DAY`` for the ids
        given (tests use small counts to stay fast).
    progress : Callable[[str], None] | None
        Called with a one-line note after each file is written.

    Returns
    -------
    DemoDataReport

    Raises
    ------
    ConfigError
        If an argument is out of range or names an unknown instrument.
    DataError
        If a file cannot be written under ``root``.
    """
    counts = _check_arguments(days, seed, first_day, trades_per_day)
    fs, base = resolve(root)
    local = not is_remote(root)
    if not local:
        _ensure_bucket(fs, base)
    root_seed = np.random.SeedSequence(seed)
    states = [_initial_state(spec, root_seed, i) for i, spec in enumerate(_SPECS)]
    weights = _rng(root_seed, 2, 0).uniform(0.0, MAX_WEIGHT, len(_SPECS)) * 0.8
    instruments = _instruments_table()
    files: list[str] = []
    rows = dict.fromkeys(counts, 0)
    n_signals = 0

    def note(path: str, message: str) -> None:
        files.append(to_url(fs, path))
        if progress is not None:
            progress(message)

    for d in range(days):
        day = first_day + dt.timedelta(days=d)
        path = instruments_path(base, day)
        _write_single(fs, path, instruments, local=local)
        note(path, f"instruments {day}: {instruments.num_rows} instruments")
        for i, spec in enumerate(_SPECS):
            n = counts[spec.instrument_id]
            table = _day_trades(spec, day, n, _rng(root_seed, 1, i, d), states[i])
            path = trades_path(base, day, spec.instrument_id)
            _write_trades(fs, path, table, _day_start_ns(day), local=local)
            rows[spec.instrument_id] += n
            note(path, f"trades {day} {spec.instrument_id}: {n:,} rows")
        signals, weights = _day_signals(day, _rng(root_seed, 3, d), weights)
        path = signals_path(base, day)
        _write_single(fs, path, signals, local=local)
        day_signals = len(set(signals.column("signal_id").to_pylist()))
        n_signals += day_signals
        note(path, f"signals {day}: {day_signals} target sets")
    return DemoDataReport(tuple(files), rows, sum(rows.values()), n_signals)


def _check_arguments(
    days: int, seed: int, first_day: dt.date, trades_per_day: dict[str, int] | None
) -> dict[str, int]:
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigError(f"days: must be a positive integer, got {days!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed: must be a non-negative integer, got {seed!r}")
    # A datetime is a date too, but would smuggle a time of day into the day folders.
    if isinstance(first_day, dt.datetime) or not isinstance(first_day, dt.date):
        raise ConfigError(f"first_day: must be a datetime.date, got {first_day!r}")
    counts = dict(DEFAULT_TRADES_PER_DAY)
    for instrument_id, n in (trades_per_day or {}).items():
        if instrument_id not in counts:
            known = ", ".join(counts)
            raise ConfigError(f"trades_per_day: unknown instrument {instrument_id!r} ({known})")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"trades_per_day[{instrument_id}]: must be >= 0, got {n!r}")
        counts[instrument_id] = n
    return counts


def _rng(root: np.random.SeedSequence, *key: int) -> np.random.Generator:
    # A generator per (purpose, instrument, day): adding days or instruments leaves others as is.
    return np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=key))


def _day_start_ns(day: dt.date) -> int:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return int(start.timestamp()) * NS_PER_SECOND


def _initial_state(spec: _Spec, root: np.random.SeedSequence, index: int) -> _WalkState:
    rng = _rng(root, 0, index)
    vol_state = [float(rng.normal(0.0, sd)) for _, sd in _VOL_COMPONENTS]
    return _WalkState(math.log(spec.start_price), vol_state, spec.first_trade_id)


def _instruments_table() -> pa.Table:
    rows = [
        {
            "instrument_id": s.instrument_id,
            "venue": s.venue,
            "symbol": s.symbol,
            "kind": "spot",
            "base": s.base,
            "quote": s.quote,
            "settlement": s.quote,
            "tick_size": s.tick,
            "lot_size": s.lot,
            "price_precision": s.price_precision,
            "size_precision": s.size_precision,
            "min_quantity": s.lot,
            "max_quantity": s.max_quantity,
            "min_notional": s.min_notional,
            "maker_fee": s.fee,
            "taker_fee": s.fee,
            "multiplier": 1.0,
            "is_inverse": False,
        }
        for s in _SPECS
    ]
    return pa.Table.from_pylist(rows, schema=INSTRUMENT_SCHEMA)


def _activity_profile(hours: np.ndarray) -> np.ndarray:
    """Relative trading activity by UTC hour: a quiet floor, an Asian bump, a US/EU peak."""

    def bump(centre: float, width: float) -> np.ndarray:
        distance = (hours - centre + 12.0) % 24.0 - 12.0  # circular: 23h is near 1h
        return np.exp(-0.5 * (distance / width) ** 2)

    profile = 0.55 + 0.25 * bump(2.0, 2.5) + 0.9 * bump(14.5, 2.8)
    return profile / profile.mean()


def _ar1(phi: float, shocks: np.ndarray, x0: float) -> np.ndarray:
    """``x[t] = phi * x[t-1] + shocks[t]`` vectorised in blocks short enough to stay exact."""
    out = np.empty_like(shocks)
    block = max(1, int(10.0 / -math.log(phi)))  # keeps phi**-block below e**10
    powers = phi ** np.arange(1, block + 1)
    prev = x0
    for start in range(0, shocks.size, block):
        chunk = shocks[start : start + block]
        p = powers[: chunk.size]
        out[start : start + chunk.size] = p * (prev + np.cumsum(chunk / p))
        prev = float(out[start + chunk.size - 1])
    return out


def _day_trades(
    spec: _Spec, day: dt.date, n: int, rng: np.random.Generator, state: _WalkState
) -> pa.Table:
    seconds = np.arange(SECONDS_PER_DAY)
    activity = _activity_profile((seconds + 0.5) / 3600.0)

    # Stochastic log volatility, continued from the previous day's state.
    log_vol = np.zeros(SECONDS_PER_DAY)
    for k, (tau, sd) in enumerate(_VOL_COMPONENTS):
        phi = math.exp(-1.0 / tau)
        shocks = rng.normal(0.0, sd * math.sqrt(1.0 - phi * phi), SECONDS_PER_DAY)
        component = _ar1(phi, shocks, state.vol_state[k])
        state.vol_state[k] = float(component[-1])
        log_vol += component
    log_var = sum(sd * sd for _, sd in _VOL_COMPONENTS)
    surprise = np.exp(log_vol - log_var)  # mean-square 1, so daily vol stays as specified
    vol_profile = activity**0.7 / np.sqrt(np.mean(activity**1.4))
    sigma = spec.daily_vol / math.sqrt(SECONDS_PER_DAY) * vol_profile * surprise
    t_scale = math.sqrt((_T_DOF - 2.0) / _T_DOF)
    returns = sigma * rng.standard_t(_T_DOF, SECONDS_PER_DAY) * t_scale
    log_mid = state.log_price + np.concatenate(([0.0], np.cumsum(returns)))
    state.log_price = float(log_mid[-1])

    # Trades per second: exactly n, busier when active, volatile or bursting.
    intensity = activity * surprise * rng.gamma(2.0, 0.5, SECONDS_PER_DAY)
    per_second = rng.multinomial(n, intensity / intensity.sum())
    sec = np.repeat(seconds, per_second)

    # Taker orders: the first trade of a second always opens one; each fills 1+ trades.
    starts_order = rng.random(n) >= _FILL_CONTINUES
    first_in_second = np.cumsum(per_second) - per_second
    starts_order[first_in_second[per_second > 0]] = True
    order = np.cumsum(starts_order) - 1
    order_first = np.flatnonzero(starts_order)
    # Sorting keeps each order inside its second: seconds ascend, offsets stay below 1000 ms.
    order_ms = np.sort(sec[order_first] * 1000 + rng.integers(0, 1000, order_first.size))
    trade_ms = np.maximum(order_ms[order], 1)  # strictly after midnight
    ts_event = _day_start_ns(day) + trade_ms * 1_000_000

    # Aggressors lean towards where the mid goes next within their second.
    order_sec = sec[order_first]
    lean = np.tanh(returns[order_sec] / sigma[order_sec])
    order_buy = rng.random(order_first.size) < 0.5 + 0.3 * lean
    buy = order_buy[order]

    frac = (order_ms[order] % 1000) / 1000.0
    mid = np.exp(log_mid[sec] + frac * returns[sec])
    bid = np.floor(mid / spec.tick).astype(np.int64)
    sweep = rng.exponential(_SWEEP_BPS * 1e-4 / spec.tick * mid)
    sweep[starts_order] = 0.0  # the first fill of an order takes the touch
    walked = np.cumsum(sweep)
    walked = np.rint(walked - walked[order_first][order]).astype(np.int64)
    ticks = np.where(buy, bid + 1 + walked, bid - walked)
    price = np.round(ticks * spec.tick, spec.price_precision)

    raw = rng.lognormal(math.log(spec.median_size), _SIZE_LOG_SIGMA, n)
    lots = np.clip(np.rint(raw / spec.lot), 1, round(spec.max_quantity / spec.lot))
    size = np.round(lots * spec.lot, spec.size_precision)

    trade_ids = np.arange(state.next_trade_id, state.next_trade_id + n, dtype=np.int64)
    state.next_trade_id += n
    return pa.table(
        {
            "ts_event": pa.array(ts_event, pa.int64()),
            "price": pa.array(price, pa.float64()),
            "size": pa.array(size, pa.float64()),
            "side": pa.array(np.where(buy, "BUY", "SELL")).cast(pa.string()),
            "trade_id": pa.array(trade_ids).cast(pa.string()),
        },
        schema=TRADE_SCHEMA,
    )


def _day_signals(
    day: dt.date, rng: np.random.Generator, weights: np.ndarray
) -> tuple[pa.Table, np.ndarray]:
    n = int(rng.poisson(SIGNALS_PER_DAY))
    ms = np.unique(rng.integers(1, SECONDS_PER_DAY * 1000, n))
    rows: dict[str, list] = {name: [] for name in SIGNAL_SCHEMA.names}
    for k, t in enumerate(ms):
        # Persistence: most of the previous book stays, so each rebalance is a moderate change.
        fresh = rng.uniform(0.0, MAX_WEIGHT, weights.size)
        weights = np.clip(0.65 * weights + 0.35 * fresh + rng.normal(0, 0.03, weights.size), 0, 1)
        weights = np.minimum(weights, MAX_WEIGHT)
        if weights.sum() > MAX_GROSS:
            weights = weights * (MAX_GROSS / weights.sum())
        published = np.floor(weights * 10_000) / 10_000  # floor keeps every bound after rounding
        for spec, w in zip(_SPECS, published, strict=True):
            rows["ts_event"].append(_day_start_ns(day) + int(t) * 1_000_000)
            rows["signal_id"].append(f"SIG-{day:%Y%m%d}-{k + 1:03d}")
            rows["strategy_id"].append(STRATEGY_ID)
            rows["instrument_id"].append(spec.instrument_id)
            rows["target_weight"].append(float(w))
    return pa.table(rows, schema=SIGNAL_SCHEMA), weights


def _ensure_bucket(fs: AbstractFileSystem, base: str) -> None:
    """Create the bucket of a remote root if it is missing.

    Object stores have no folders, but the bucket must exist before the first object is
    written: without it GCS answers each upload with a 404 that reads like a missing file.
    ``mkdir`` with ``create_parents`` is how gcsfs creates a bucket (``makedirs`` is a no-op
    there); a root that already holds objects needs nothing.
    """
    try:
        if not fs.exists(base):
            fs.mkdir(base, create_parents=True)
    except FileExistsError:
        pass  # created meanwhile by another writer: what we wanted
    except Exception as exc:  # gcsfs raises OSError, ValueError or its own HttpError
        raise DataError(f"cannot create the bucket: {one_line(exc)}", to_url(fs, base)) from exc


def _write_single(fs: AbstractFileSystem, path: str, table: pa.Table, *, local: bool) -> None:
    try:
        if local:
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(path, "wb") as f:
            pq.write_table(table, f, compression="zstd")
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot write demo data: {one_line(exc)}", to_url(fs, path)) from exc


def _write_trades(
    fs: AbstractFileSystem, path: str, table: pa.Table, day_start: int, *, local: bool
) -> None:
    """One row group per 10-minute bucket, so windowed reads skip the rest by statistics."""
    ts = table.column("ts_event").to_numpy()
    edges = day_start + np.arange(0, SECONDS_PER_DAY + 1, ROW_GROUP_SECONDS) * NS_PER_SECOND
    bounds = np.searchsorted(ts, edges, side="left")
    try:
        if local:
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with (
            fs.open(path, "wb") as f,
            pq.ParquetWriter(f, TRADE_SCHEMA, compression="zstd", write_statistics=True) as w,
        ):
            for lo, hi in itertools.pairwise(bounds):
                if hi > lo:  # empty buckets get no row group
                    w.write_table(table.slice(lo, hi - lo), row_group_size=int(hi - lo))
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot write demo data: {one_line(exc)}", to_url(fs, path)) from exc
