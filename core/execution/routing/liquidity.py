"""``LiquidityTracker``: how much of each instrument traded lately, and what the book shows.

The router sizes what it sends to a venue by what that venue can absorb: a share (the
participation limit) of the volume it traded over the last ``window_ns``, plus the depth at the
touch where quotes exist. The tracker is fed by whoever sees the market: the strategy's trade
and quote handlers (Nautilus data, backtest and node alike), or an external venue adapter's
market data. Pure Python, O(1) amortised per trade: a deque of (ts, size) and a running sum.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass
class _Window:
    trades: deque[tuple[int, float]]
    volume: float = 0.0
    bid_size: float | None = None
    ask_size: float | None = None


class LiquidityTracker:
    """Rolling traded volume and last book sizes per instrument id.

    Parameters
    ----------
    window_ns : int
        Length of the rolling window: trades older than ``now - window_ns`` no longer count.
    """

    def __init__(self, window_ns: int) -> None:
        if window_ns <= 0:
            raise ValueError(f"window_ns must be positive, got {window_ns}")
        self.window_ns = window_ns
        self._windows: dict[str, _Window] = {}

    def _window(self, instrument_id: str) -> _Window:
        window = self._windows.get(instrument_id)
        if window is None:
            window = self._windows[instrument_id] = _Window(deque())
        return window

    def on_trade(self, instrument_id: str, ts_ns: int, size: float) -> None:
        """Count one trade of ``size`` (in the instrument's units) at ``ts_ns``."""
        window = self._window(instrument_id)
        window.trades.append((ts_ns, size))
        window.volume += size
        self._evict(window, ts_ns)

    def on_quote(self, instrument_id: str, bid_size: float, ask_size: float) -> None:
        """Remember the sizes at the touch (the latest quote replaces the previous one)."""
        window = self._window(instrument_id)
        window.bid_size = bid_size
        window.ask_size = ask_size

    def volume(self, instrument_id: str, now_ns: int) -> float:
        """Quantity traded in ``(now_ns - window_ns, now_ns]``; 0 for an instrument never seen."""
        window = self._windows.get(instrument_id)
        if window is None:
            return 0.0
        self._evict(window, now_ns)
        return max(window.volume, 0.0)

    def depth(self, instrument_id: str, side: str) -> float | None:
        """Size a ``side`` order meets at the touch (the ask for a BUY, the bid for a SELL);
        None where no quote was ever seen (trade-only data)."""
        window = self._windows.get(instrument_id)
        if window is None:
            return None
        return window.ask_size if side == "BUY" else window.bid_size

    def _evict(self, window: _Window, now_ns: int) -> None:
        cutoff = now_ns - self.window_ns
        trades = window.trades
        while trades and trades[0][0] <= cutoff:
            window.volume -= trades.popleft()[1]
        if not trades:
            window.volume = 0.0  # no float drift left over from the running sum
