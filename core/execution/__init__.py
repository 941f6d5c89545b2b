"""Execution: the one path an order takes from a target change to a venue.

Owns the rebalancing strategy shared by backtest and node (``strategy``), the orchestrator
every order goes through (``orchestrator``: router, algorithm, pre-trade checks, venue, OMS),
what the router knows of a Nautilus venue (``venue_quotes``) and of the strategy (``host``), the
execution algorithms (``algorithms``: TWAP, VWAP, iceberg), the smart order router
(``routing``), venues Nautilus has no adapter for (``external``) and the actor that records
the strategy's Nautilus events in the OMS (``oms_feed``).

May import: ``core.risk``, ``core.portfolio``, ``core.oms``, ``core.data``, ``core.storage``.
"""
