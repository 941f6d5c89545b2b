"""Runs: every backtest the desk has, launched, batched, listed, compared and uploaded.

Owns launching runs in spawned processes with progress (``launcher``, ``progress``), grids of
runs on Dask and the T+1 schedule (``batch``, ``batch_grid``, ``batch_schedule``), the run list
from local folders, the bucket and the OMS (``catalog``), a run's files (``files``), runs side by
side (``compare``), a backtest against the shadow session of its period (``session_compare``)
and the durable upload queue that sends result files to GCS (``uploads``).

May import: ``core.backtest``, ``core.execution``, ``core.risk``, ``core.portfolio``,
``core.oms``, ``core.data``, ``core.storage``. Never ``core.live``.
"""
