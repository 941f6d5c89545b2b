"""Data: the desk's files, where each one lives and the schema it must have.

Owns the layout (``layout``), the windowed tick reader (``ticks``), instruments
(``instrument_specs``, and ``nautilus_instruments`` turning a spec into a Nautilus instrument),
the strategy service's signals (``signals``, ``signal_windows``), the research process's
target-weights file (``target_file``), the result files of a run and run ids (``results``,
``run_id``) and the generated demo data (``demo_data``). Readers refuse a bad file with one line
naming the file; they never guess.

May import: ``core.storage`` (and the root modules ``core.config``, ``core.errors``).
"""
