"""Spec reconciliation on the real Binance and BitMEX specs: exactly the expected alerts."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from types import SimpleNamespace

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import CurrencyPair, Instrument
from nautilus_trader.model.objects import Price
from real_specs import bitmex_xbtusd_spec, real_file

from core.data.instrument_specs import InstrumentSpec, load_instrument_specs
from core.data.layout import INSTRUMENT_SCHEMA, instruments_path
from core.data.nautilus_instruments import to_nautilus_instrument
from core.live.reconciliation import SpecFinding, reconcile, spec_alerts
from core.oms import OmsStore

DAY = dt.date(2026, 1, 5)
TS = 1_767_571_200_000_000_000  # 2026-01-05 00:00 UTC in ns
BTC = "BTCUSDT.BINANCE"
XBT = "XBTUSD.BITMEX"


def _binance_spec() -> InstrumentSpec:
    """Binance BTCUSDT spot from its recorded Nautilus repr (no minimums: 0 in the desk file)."""
    text = real_file("binance_btcusdt_instrument.txt").read_text().strip()
    real = dict(re.findall(r"(\w+)=([^,()]*)", text.removeprefix("CurrencyPair(")))
    symbol, venue = real["id"].split(".")
    return InstrumentSpec(
        instrument_id=real["id"],
        venue=venue,
        symbol=symbol,
        kind="spot",
        base=real["base_currency"],
        quote=real["quote_currency"],
        settlement=real["quote_currency"],
        tick_size=float(real["price_increment"]),
        lot_size=float(real["size_increment"]),
        price_precision=int(real["price_precision"]),
        size_precision=int(real["size_precision"]),
        min_quantity=0.0 if real["min_quantity"] == "None" else float(real["min_quantity"]),
        max_quantity=None if real["max_quantity"] == "None" else float(real["max_quantity"]),
        min_notional=0.0 if real["min_notional"] == "None" else float(real["min_notional"]),
        maker_fee=float(real["maker_fee"]),
        taker_fee=float(real["taker_fee"]),
        multiplier=1.0,
        is_inverse=False,
    )


@pytest.fixture
def desk_specs(tmp_path: Path) -> dict[str, InstrumentSpec]:
    """The real specs, written as the day's instruments.parquet and read back by the loader."""
    rows = [msgspec.structs.asdict(spec) for spec in (_binance_spec(), bitmex_xbtusd_spec())]
    path = Path(instruments_path(str(tmp_path), DAY))
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=INSTRUMENT_SCHEMA), path)
    return load_instrument_specs(str(tmp_path), DAY)


def _venue(spec: InstrumentSpec, **changes: object) -> Instrument:
    """The venue's instrument for ``spec``, with ``changes`` the venue made since."""
    return to_nautilus_instrument(msgspec.structs.replace(spec, **changes))


def test_real_specs_agree_with_the_instruments_built_from_them(
    desk_specs: dict[str, InstrumentSpec],
) -> None:
    venue = [to_nautilus_instrument(spec) for spec in desk_specs.values()]

    findings = reconcile(desk_specs, venue)

    assert findings == []
    assert spec_alerts(findings, TS) == []


def test_each_changed_venue_field_is_one_warning_alert(
    desk_specs: dict[str, InstrumentSpec],
) -> None:
    venue = [
        _venue(desk_specs[BTC], tick_size=0.1, price_precision=1, min_notional=10.0),
        _venue(desk_specs[XBT], lot_size=1.0, min_quantity=1.0),
    ]

    findings = reconcile(desk_specs, venue)
    alerts = spec_alerts(findings, TS)

    assert [(f.instrument_id, f.field, f.desk_value, f.venue_value) for f in findings] == [
        (BTC, "tick_size", "0.01", "0.1"),
        (BTC, "min_notional", None, "10 USDT"),
        (XBT, "lot_size", "100", "1"),
        (XBT, "min_quantity", "100", "1"),
    ]
    assert [(a.alert_id, a.severity, a.rule, a.instrument_id, a.message) for a in alerts] == [
        (
            f"spec:{BTC}:tick_size:0.01:0.1",
            "WARNING",
            "spec_mismatch",
            BTC,
            f"{BTC} tick_size: desk 0.01, venue 0.1",
        ),
        (
            f"spec:{BTC}:min_notional:none:10 USDT",
            "WARNING",
            "spec_mismatch",
            BTC,
            f"{BTC} min_notional: desk none, venue 10 USDT",
        ),
        (
            f"spec:{XBT}:lot_size:100:1",
            "WARNING",
            "spec_mismatch",
            XBT,
            f"{XBT} lot_size: desk 100, venue 1",
        ),
        (
            f"spec:{XBT}:min_quantity:100:1",
            "WARNING",
            "spec_mismatch",
            XBT,
            f"{XBT} min_quantity: desk 100, venue 1",
        ),
    ]
    assert alerts[0].details == {"field": "tick_size", "desk_value": "0.01", "venue_value": "0.1"}
    assert all(a.ts_event == TS for a in alerts)


def test_instrument_missing_at_the_venue_is_one_critical_alert(
    desk_specs: dict[str, InstrumentSpec],
) -> None:
    findings = reconcile(desk_specs, [to_nautilus_instrument(desk_specs[BTC])])
    alerts = spec_alerts(findings, TS)

    assert findings == [
        SpecFinding(
            instrument_id=XBT,
            kind="missing_at_venue",
            field=None,
            desk_value=None,
            venue_value=None,
            severity="ERROR",
        )
    ]
    assert [(a.alert_id, a.severity, a.rule, a.instrument_id) for a in alerts] == [
        (f"spec:{XBT}:missing", "ERROR", "spec_missing_at_venue", XBT)
    ]


def test_an_instrument_only_the_venue_lists_is_an_info_finding_and_no_alert(
    desk_specs: dict[str, InstrumentSpec],
) -> None:
    eth = msgspec.structs.replace(
        desk_specs[BTC], instrument_id="ETHUSDT.BINANCE", symbol="ETHUSDT", base="ETH"
    )
    venue = [to_nautilus_instrument(spec) for spec in (*desk_specs.values(), eth)]

    findings = reconcile(desk_specs, venue)

    assert [(f.instrument_id, f.kind, f.severity) for f in findings] == [
        ("ETHUSDT.BINANCE", "venue_only", "INFO")
    ]
    assert spec_alerts(findings, TS) == []


def test_only_the_desk_instruments_of_the_given_venues_are_checked(
    desk_specs: dict[str, InstrumentSpec],
) -> None:
    binance_only = [to_nautilus_instrument(desk_specs[BTC])]

    assert reconcile(desk_specs, binance_only, venues={"BINANCE"}) == []
    assert [f.kind for f in reconcile(desk_specs, binance_only, venues={"BITMEX"})] == [
        "missing_at_venue"
    ]


def test_a_desk_float_computed_rather_than_typed_still_agrees(
    desk_specs: dict[str, InstrumentSpec],
) -> None:
    computed = 0.1 + 0.2  # 0.30000000000000004
    assert computed != 0.3
    desk = {BTC: msgspec.structs.replace(desk_specs[BTC], tick_size=computed, price_precision=1)}
    venue = [_venue(desk_specs[BTC], tick_size=0.3, price_precision=1)]

    assert reconcile(desk, venue) == []


def test_a_min_notional_in_another_currency_is_a_mismatch(
    desk_specs: dict[str, InstrumentSpec],
) -> None:
    desk = {BTC: msgspec.structs.replace(desk_specs[BTC], min_notional=5.0)}
    as_dict = CurrencyPair.to_dict(_venue(desk_specs[BTC], min_notional=5.0))
    assert as_dict["min_notional"] == "5.00000000 USDT"
    in_usd = CurrencyPair.from_dict({**as_dict, "min_notional": "5.00000000 USD"})

    findings = reconcile(desk, [in_usd])

    assert [(f.field, f.desk_value, f.venue_value) for f in findings] == [
        ("min_notional", "5 USDT", "5 USD")
    ]


def test_odd_venue_objects_give_findings_not_exceptions(
    desk_specs: dict[str, InstrumentSpec],
) -> None:
    desk = {BTC: desk_specs[BTC]}
    odd = SimpleNamespace(
        id=InstrumentId.from_str(BTC),
        price_increment=None,
        size_increment="not a number",
        min_notional=float("nan"),
        # no min_quantity attribute at all: taken as "no minimum", as the desk's 0 says
    )
    nameless = SimpleNamespace(price_increment=Price.from_str("0.01"))

    findings = reconcile(desk, [nameless, odd])

    assert [(f.field, f.desk_value, f.venue_value) for f in findings] == [
        ("tick_size", "0.01", None),
        ("lot_size", "0.000001", "unreadable ('not a number')"),
        ("min_notional", None, "unreadable (nan)"),
    ]
    assert [a.message for a in spec_alerts(findings, TS)] == [
        f"{BTC} tick_size: desk 0.01, venue none",
        f"{BTC} lot_size: desk 0.000001, venue unreadable ('not a number')",
        f"{BTC} min_notional: desk none, venue unreadable (nan)",
    ]


async def test_reconciling_again_after_a_restart_adds_no_alert_rows(
    desk_specs: dict[str, InstrumentSpec], tmp_path: Path
) -> None:
    venue = [_venue(desk_specs[BTC], lot_size=0.00001, size_precision=5)]
    first = spec_alerts(reconcile(desk_specs, venue), TS)
    again = spec_alerts(reconcile(desk_specs, venue), TS + 60_000_000_000)
    assert [a.alert_id for a in again] == [a.alert_id for a in first]

    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit_many(first)
        await store.flush()
        store.submit_many(again)
        await store.flush()
        stored = await store.alerts()

    assert sorted((a.alert_id, a.ts_event) for a in stored) == [
        (f"spec:{BTC}:lot_size:0.000001:0.00001", TS),
        (f"spec:{XBT}:missing", TS),
    ]
