"""Portfolio: what the book holds and should hold, in plain arithmetic.

Owns the rebalance arithmetic (``rebalance``: from holdings and target weights to the orders
that close the gap, with every venue rule) and marking to the last trade (``marks``). Both are
shared by the backtest, the node and the console's preview, so all three compute the same
orders from the same numbers.

May import: nothing of core but the root modules.
"""
