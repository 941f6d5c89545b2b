"""Backtest: one simulated run of the desk's strategy over its tick data.

Owns the pipeline (``pipeline.run_backtest``), its inputs (``inputs``), the catalog the ticks
are converted into and fed from (``catalog``, ``catalog_arrow``, ``catalog_feed``,
``catalog_worker``, a spawned process that never imports Nautilus), the simulated venue
(``nautilus_setup``), the equity curve (``equity``), reading orders and fills back from the
engine (``nautilus_results``), the result tables and metrics (``results_builder``,
``metrics``), keeping a run's trading out of an OMS a node runs on (``node_guard``) and a
harness that runs one execution algorithm on a few ticks (``algo_trial``).

May import: ``core.execution``, ``core.risk``, ``core.portfolio``, ``core.oms``,
``core.data``, ``core.storage``. Never ``core.live`` or ``core.runs`` (they run backtests).
"""
