"""The desk's simulated venue: how an order fills when no real venue fills it.

Owns the fill models a backtest venue and the shadow node's sandbox share (the same model
drives both, so a backtest and a replayed shadow session agree order for order). ``models``
names them; ``matcher`` is the honest matching itself, pure arithmetic over printed trades;
``exec_client`` connects it to Nautilus as the venue's execution client.

May import: no other package of ``core``, only its root modules (``config``): the backtest
and the live node import this package, never the other way round.
"""
