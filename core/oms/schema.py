"""The OMS database's tables, and the ordered steps that build them.

``PRAGMA user_version`` holds the schema version: the number of steps of ``MIGRATIONS`` applied.
Opening a database at an older version applies the missing steps in one transaction (all or
none); a database at a newer version than ``SCHEMA_VERSION`` was written by a newer program and
is refused untouched, since this one would not know what its tables mean.

**A step, once shipped, is never edited**: a change is a new step appended at the end. The
schema grew in steps: the trading tables (v1), the operations tables (v2), the node's
heartbeat, the persisted trading state and the backtest marks on trading rows (v3), the flatten
flag (v4), the router's decisions (v5), child orders' parents (v6), then the node that holds the
OMS (v7), the node's parts (v8), the targets in force (v9), the node's marks and PnL (v10), and
where a trading-state change came from with the ORPHANED order status (v11), and the
notifications sent to the desk's channels (v12).

Conventions: timestamps are int64 ns since the epoch, UTC; prices, quantities and money are
REAL (as in the result files); tables are STRICT so a wrong type is an error, not a silent
conversion. ``table_versions`` counts commits per table: panes poll it to learn cheaply what
changed (see ``OmsStore.changes_since``).
"""

from __future__ import annotations

_V1_TRADING = (
    """
    CREATE TABLE table_versions (
        name TEXT PRIMARY KEY,
        version INTEGER NOT NULL DEFAULT 0
    ) STRICT, WITHOUT ROWID
    """,
    # Every event of every order; the order's state after each one.
    """
    CREATE TABLE order_events (
        client_order_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        ts_event INTEGER NOT NULL,
        status TEXT NOT NULL,
        instrument_id TEXT NOT NULL,
        strategy_id TEXT NOT NULL,
        side TEXT NOT NULL,
        order_type TEXT NOT NULL,
        quantity REAL NOT NULL,
        price REAL,
        filled_qty REAL NOT NULL,
        avg_px REAL,
        venue_order_id TEXT,
        reason TEXT,
        operation_id TEXT,
        decision_price REAL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (client_order_id, event_id)
    ) STRICT
    """,
    # Each order's latest event: its current state.
    """
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        ts_event INTEGER NOT NULL,
        status TEXT NOT NULL,
        instrument_id TEXT NOT NULL,
        strategy_id TEXT NOT NULL,
        side TEXT NOT NULL,
        order_type TEXT NOT NULL,
        quantity REAL NOT NULL,
        price REAL,
        filled_qty REAL NOT NULL,
        avg_px REAL,
        venue_order_id TEXT,
        reason TEXT,
        operation_id TEXT,
        decision_price REAL,
        created_at INTEGER NOT NULL,
        is_open INTEGER GENERATED ALWAYS AS (
            status NOT IN ('FILLED', 'CANCELED', 'REJECTED', 'DENIED', 'EXPIRED')
        ) VIRTUAL
    ) STRICT
    """,
    # Open orders first, newest first, without sorting the table.
    "CREATE INDEX orders_open_recent ON orders (is_open, ts_event)",
    """
    CREATE TABLE fills (
        trade_id TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        instrument_id TEXT NOT NULL,
        strategy_id TEXT NOT NULL,
        side TEXT NOT NULL,
        quantity REAL NOT NULL,
        price REAL NOT NULL,
        commission REAL NOT NULL,
        commission_currency TEXT NOT NULL,
        liquidity_side TEXT NOT NULL,
        ts_event INTEGER NOT NULL,
        venue_order_id TEXT,
        position_id TEXT,
        account_id TEXT,
        operation_id TEXT,
        decision_price REAL,
        PRIMARY KEY (trade_id, client_order_id)
    ) STRICT
    """,
    "CREATE INDEX fills_recent ON fills (ts_event)",
    "CREATE INDEX fills_by_order ON fills (client_order_id)",
    """
    CREATE TABLE position_events (
        position_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        ts_event INTEGER NOT NULL,
        instrument_id TEXT NOT NULL,
        strategy_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        side TEXT NOT NULL,
        signed_qty REAL NOT NULL,
        quantity REAL NOT NULL,
        avg_px_open REAL NOT NULL,
        avg_px_close REAL,
        last_px REAL NOT NULL,
        last_qty REAL NOT NULL,
        realized_pnl REAL NOT NULL,
        unrealized_pnl REAL NOT NULL,
        currency TEXT NOT NULL,
        ts_opened INTEGER NOT NULL,
        ts_closed INTEGER,
        PRIMARY KEY (position_id, event_id)
    ) STRICT
    """,
    "CREATE INDEX position_events_recent ON position_events (ts_event)",
    """
    CREATE TABLE positions (
        position_id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        ts_event INTEGER NOT NULL,
        instrument_id TEXT NOT NULL,
        strategy_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        side TEXT NOT NULL,
        signed_qty REAL NOT NULL,
        quantity REAL NOT NULL,
        avg_px_open REAL NOT NULL,
        avg_px_close REAL,
        last_px REAL NOT NULL,
        last_qty REAL NOT NULL,
        realized_pnl REAL NOT NULL,
        unrealized_pnl REAL NOT NULL,
        currency TEXT NOT NULL,
        ts_opened INTEGER NOT NULL,
        ts_closed INTEGER
    ) STRICT
    """,
    """
    CREATE TABLE balances (
        account_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        total REAL NOT NULL,
        locked REAL NOT NULL,
        free REAL NOT NULL,
        ts_event INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        account_type TEXT NOT NULL,
        PRIMARY KEY (account_id, currency)
    ) STRICT
    """,
    """
    INSERT INTO table_versions (name) VALUES
        ('orders'), ('order_events'), ('fills'), ('positions'), ('position_events'),
        ('balances')
    """,
)

_V2_OPERATIONS = (
    """
    CREATE TABLE drift_observations (
        client_order_id TEXT NOT NULL,
        trade_id TEXT NOT NULL,
        reference TEXT NOT NULL,
        instrument_id TEXT NOT NULL,
        side TEXT NOT NULL,
        ts_event INTEGER NOT NULL,
        fill_price REAL NOT NULL,
        reference_price REAL NOT NULL,
        drift_bps REAL NOT NULL,
        threshold_bps REAL NOT NULL,
        over_threshold INTEGER NOT NULL,
        PRIMARY KEY (client_order_id, trade_id, reference)
    ) STRICT
    """,
    "CREATE INDEX drift_recent ON drift_observations (ts_event)",
    """
    CREATE TABLE risk_alerts (
        alert_id TEXT PRIMARY KEY,
        ts_event INTEGER NOT NULL,
        severity TEXT NOT NULL,
        rule TEXT NOT NULL,
        message TEXT NOT NULL,
        instrument_id TEXT,
        details TEXT
    ) STRICT
    """,
    "CREATE INDEX risk_alerts_recent ON risk_alerts (ts_event)",
    # The GCS upload queue: one row per file, its latest state.
    """
    CREATE TABLE uploads (
        file TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        size INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        retries INTEGER NOT NULL,
        last_error TEXT,
        md5 TEXT,
        destination TEXT,
        is_active INTEGER GENERATED ALWAYS AS (state <> 'done') VIRTUAL
    ) STRICT
    """,
    "CREATE INDEX uploads_active_recent ON uploads (is_active, updated_at)",
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        progress REAL NOT NULL,
        phase TEXT,
        result_folder TEXT,
        error TEXT,
        started_at INTEGER
    ) STRICT
    """,
    "CREATE INDEX runs_recent ON runs (updated_at)",
    """
    CREATE TABLE audit_log (
        entry_id TEXT PRIMARY KEY,
        ts INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        reason TEXT NOT NULL,
        details TEXT
    ) STRICT
    """,
    "CREATE INDEX audit_log_recent ON audit_log (ts)",
    """
    INSERT INTO table_versions (name) VALUES
        ('drift_observations'), ('risk_alerts'), ('uploads'), ('runs'), ('audit_log')
    """,
)

# The step's own list: a later change to what backtests feed is a later step, not an edit here.
_V3_MARKED = (
    "orders",
    "order_events",
    "fills",
    "positions",
    "position_events",
    "balances",
    "drift_observations",
    "risk_alerts",
)

_V3_NODE = (
    # The node's latest heartbeat: one row at most (id is always 1), replaced by a newer one.
    # WITHOUT ROWID, as a rowid table's INTEGER PRIMARY KEY ignores its DEFAULT.
    """
    CREATE TABLE node_status (
        id INTEGER PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        ts_event INTEGER NOT NULL,
        mode TEXT NOT NULL,
        venues TEXT NOT NULL,
        node_state TEXT NOT NULL,
        trading_state TEXT NOT NULL,
        data_feed TEXT NOT NULL,
        venue_connection TEXT NOT NULL,
        equity REAL,
        detail TEXT NOT NULL
    ) STRICT, WITHOUT ROWID
    """,
    # Every change of the trading state; the latest is the one in force (a kill survives a
    # restart). Keyed by time first, so the latest is the last entry of the primary key.
    """
    CREATE TABLE trading_state (
        ts_event INTEGER NOT NULL,
        state TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (ts_event, state, actor)
    ) STRICT, WITHOUT ROWID
    """,
    # Which backtest wrote a trading row (NULL: the node). A backtest that starts feeding the
    # OMS deletes the rows of earlier ones (see events.BacktestStarted); the partial indexes
    # find them without scanning the node's rows.
    *(f"ALTER TABLE {table} ADD COLUMN run_id TEXT" for table in _V3_MARKED),
    *(
        f"CREATE INDEX {table}_backtest ON {table} (run_id) WHERE run_id IS NOT NULL"
        for table in _V3_MARKED
    ),
    "INSERT INTO table_versions (name) VALUES ('node_status'), ('trading_state')",
)

_V4_FLATTEN = (
    # A kill that also closes every position: the node cancels, flattens through the risk
    # checks, then halts. Kept with the state change so a restarted node knows it was asked.
    "ALTER TABLE trading_state ADD COLUMN flatten INTEGER NOT NULL DEFAULT 0",
)

_V5_ROUTING = (
    # Where the smart order router sent each order and why: one row per order it placed (the
    # orders of a split share a decision_id), the venues weighed and their costs as JSON.
    """
    CREATE TABLE route_decisions (
        client_order_id TEXT PRIMARY KEY,
        decision_id TEXT NOT NULL,
        ts_event INTEGER NOT NULL,
        instrument_id TEXT NOT NULL,
        venue TEXT NOT NULL,
        side TEXT NOT NULL,
        quantity REAL NOT NULL,
        parent_quantity REAL NOT NULL,
        order_type TEXT NOT NULL,
        explanation TEXT NOT NULL,
        candidates TEXT NOT NULL,
        operation_id TEXT,
        rerouted_from TEXT,
        run_id TEXT
    ) STRICT
    """,
    "CREATE INDEX route_decisions_recent ON route_decisions (ts_event)",
    "CREATE INDEX route_decisions_backtest ON route_decisions (run_id) WHERE run_id IS NOT NULL",
    "INSERT INTO table_versions (name) VALUES ('route_decisions')",
)

_V6_PARENT = (
    # An execution algorithm's child orders name their parent (Nautilus's exec_spawn_id), so
    # the Orders pane shows them under it; NULL for every order that is not a child.
    "ALTER TABLE orders ADD COLUMN parent_order_id TEXT",
    "ALTER TABLE order_events ADD COLUMN parent_order_id TEXT",
)

_V7_HOLDER = (
    # The one node allowed to trade on this OMS: who it is, for the refusal a second node
    # prints and for `status`. One row at most (id is always 1), deleted when the node stops;
    # a holder that died leaves it, and the next node takes over (core.live.lease). token
    # identifies one holding, so a node only ever replaces or deletes the row it judged.
    """
    CREATE TABLE node_holder (
        id INTEGER PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        token TEXT NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        os_user TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        replaces TEXT
    ) STRICT, WITHOUT ROWID
    """,
    "INSERT INTO table_versions (name) VALUES ('node_holder')",
)

_V8_NODE_PARTS = (
    # Each part of the node (target watcher, state watch, external venues, OMS writer...) with
    # its own state and error, as JSON: a dead part is DOWN, not hidden behind a fresh beat.
    "ALTER TABLE node_status ADD COLUMN parts TEXT NOT NULL DEFAULT '[]'",
)

_V9_TARGETS = (
    # The node's targets in force, each change kept: after a flatten (every target 0) the row
    # before it says which targets a re-arm may restore. Keyed by time first, as trading_state.
    """
    CREATE TABLE targets (
        ts_event INTEGER NOT NULL,
        source TEXT NOT NULL,
        weights TEXT NOT NULL,
        operation_id TEXT NOT NULL,
        actor TEXT NOT NULL,
        as_of INTEGER,
        PRIMARY KEY (ts_event, operation_id)
    ) STRICT, WITHOUT ROWID
    """,
    "INSERT INTO table_versions (name) VALUES ('targets')",
)

_V10_PNL = (
    # The node's equity, marks and PnL (session and UTC day, by instrument as JSON), replaced
    # with each heartbeat: one row at most (id is always 1). See core.oms.pnl_record for what
    # the figures mean and how they add up.
    """
    CREATE TABLE pnl (
        id INTEGER PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        ts_event INTEGER NOT NULL,
        currency TEXT NOT NULL,
        equity REAL NOT NULL,
        session_start_ns INTEGER NOT NULL,
        session_start_equity REAL NOT NULL,
        day_start_ns INTEGER NOT NULL,
        day_start_equity REAL NOT NULL,
        realized REAL NOT NULL,
        unrealized REAL NOT NULL,
        fees REAL NOT NULL,
        funding REAL NOT NULL,
        external REAL NOT NULL,
        day_realized REAL NOT NULL,
        day_unrealized REAL NOT NULL,
        day_fees REAL NOT NULL,
        day_funding REAL NOT NULL,
        day_external REAL NOT NULL,
        instruments TEXT NOT NULL
    ) STRICT, WITHOUT ROWID
    """,
    "INSERT INTO table_versions (name) VALUES ('pnl')",
)

_V11_PROVENANCE = (
    # Where a trading-state change came from: ``source`` console, cli (a shell) or auto (the
    # node's own risk rules); ``host`` the machine the actor typed it on. NULL on rows written
    # before this step: unknown, and shown as such.
    "ALTER TABLE trading_state ADD COLUMN source TEXT",
    "ALTER TABLE trading_state ADD COLUMN host TEXT",
    # ORPHANED closes an order too: one left open by a node session that ended (its sandbox
    # gone, or not reported open by the venue's reconciliation), settled by the next node
    # (core.live.orphans). A generated column cannot be altered: dropped and added again
    # (VIRTUAL, so no row is rewritten), its index with it.
    "DROP INDEX orders_open_recent",
    "ALTER TABLE orders DROP COLUMN is_open",
    """
    ALTER TABLE orders ADD COLUMN is_open INTEGER GENERATED ALWAYS AS (
        status NOT IN ('FILLED', 'CANCELED', 'REJECTED', 'DENIED', 'EXPIRED', 'ORPHANED')
    ) VIRTUAL
    """,
    "CREATE INDEX orders_open_recent ON orders (is_open, ts_event)",
)

_V12_NOTIFICATIONS = (
    # Each message the node's notifier sent to a channel, or failed to (core.notify): one row
    # per channel per message, the channel's URL masked. Keyed by its own id; read newest first.
    """
    CREATE TABLE notifications (
        notification_id TEXT PRIMARY KEY,
        ts_event INTEGER NOT NULL,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        incident TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        alert_id TEXT,
        error TEXT,
        elapsed_ms REAL NOT NULL
    ) STRICT
    """,
    "CREATE INDEX notifications_recent ON notifications (ts_event)",
    "CREATE INDEX notifications_by_alert ON notifications (alert_id) WHERE alert_id IS NOT NULL",
    "INSERT INTO table_versions (name) VALUES ('notifications')",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    _V1_TRADING,
    _V2_OPERATIONS,
    _V3_NODE,
    _V4_FLATTEN,
    _V5_ROUTING,
    _V6_PARENT,
    _V7_HOLDER,
    _V8_NODE_PARTS,
    _V9_TARGETS,
    _V10_PNL,
    _V11_PROVENANCE,
    _V12_NOTIFICATIONS,
)
"""Step ``i`` takes a database from version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)

BACKTEST_FED = (*_V3_MARKED, "route_decisions")
"""The tables a backtest's events reach (through ``OmsFeed``): each has a ``run_id`` column."""

TABLES = (
    "orders",
    "order_events",
    "fills",
    "positions",
    "position_events",
    "balances",
    "drift_observations",
    "risk_alerts",
    "uploads",
    "runs",
    "audit_log",
    "node_status",
    "trading_state",
    "route_decisions",
    "node_holder",
    "targets",
    "pnl",
    "notifications",
)
"""Every data table of the current schema (``table_versions`` has a row for each)."""
