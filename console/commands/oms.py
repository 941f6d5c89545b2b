"""``trade-console oms migrate --from SQLITE_PATH --to URL``: a desk's history moved to
PostgreSQL.

Copies every table of the SQLite OMS into an empty PostgreSQL OMS in one transaction, checks
each table's rows and checksum read back from the target against the source, and prints one
line per table (``core.oms.migrate`` says what is guaranteed). Exit codes: 0 when every table
matched and the copy was kept; 1 when a table differs (named; nothing was kept); 2 for a bad
input (one line on stderr: no file, not a current OMS, a bad URL, a password in it, the server
down, a target that already holds a desk's rows).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from core.errors import bounded
from core.oms.migrate import MigrationReport, TableCopy, migrate_to_postgres


def run_oms_command(args: argparse.Namespace) -> int:
    """Run ``oms migrate`` (the only ``oms`` action so far)."""
    report = asyncio.run(migrate_to_postgres(args.source, args.target))
    for line in report_lines(report):
        print(line)
    if not report.ok:
        tables = ", ".join(report.mismatched)
        print(
            f"trade-console: the copy differs from the source in {tables}: nothing was kept "
            "in the target",
            file=sys.stderr,
        )
        return 1
    return 0


def report_lines(report: MigrationReport) -> list[str]:
    """One line per table, then what was copied where."""
    width = max(len(copy.table) for copy in report.tables)
    lines = [_table_line(copy, width) for copy in report.tables]
    outcome = "copied" if report.ok else "NOT copied (rolled back)"
    lines.append(
        f"{report.rows:,} rows in {len(report.tables)} tables {outcome}: "
        f"{bounded(report.source)} -> {bounded(report.target)} ({report.seconds:.1f} s)"
    )
    return lines


def _table_line(copy: TableCopy, width: int) -> str:
    if copy.ok:
        return f"{copy.table:<{width}}  {copy.rows:>10,} rows  checksum ok"
    if copy.unreadable is not None:
        return (
            f"{copy.table:<{width}}  {copy.rows:>10,} rows  DIFFERS: cannot be read back "
            f"({bounded(copy.unreadable, 200)})"
        )
    return (
        f"{copy.table:<{width}}  {copy.rows:>10,} rows  DIFFERS: {copy.copied_rows:,} rows "
        f"read back, checksum {copy.copied_checksum[:12]} instead of {copy.checksum[:12]}"
    )
