"""The node's health endpoint: ``/healthz`` for a probe, ``/metrics`` for Prometheus.

``server.HealthServer`` is a small threaded HTTP server (``http.server``) in daemon threads of
the node's process, started when ``[health] listen`` names an address: nothing it does runs on
the event loop, and a slow scraper costs a thread, never an order. ``/healthz`` answers with
``trade-console status --json``'s object (``core.oms.status_report``, the same builder), 200
while nothing is DOWN and 503 otherwise; a node whose loop hangs stops beating, and its own
endpoint then says 503. ``metrics.DeskCollector`` reads the OMS at each scrape (its own
read-only connection) and the node's in-process figures (OMS write latency, event-loop lag from
``loop_lag.LoopLag``) into a registry of its own.

May import: ``core.oms`` and ``core.storage`` (and the root modules).
"""
