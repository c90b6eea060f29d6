"""``spfp-console sample-data``: load deterministic sample rows into a database.

Exit codes: 0 loaded; 1 the load failed (nothing was loaded: one transaction); 2 usage or
connection error.  Errors are one line on stderr, never a traceback, never a password.

Only argparse at import time: the main CLI builds its parser without importing psycopg.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import date

from spfp_console.errors import first_line

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (0 <= value <= 1000):  # also rejects nan
        raise argparse.ArgumentTypeError(f"scale must be between 0 and 1000, got {text}")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def add_sample_data_subcommand(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``sample-data`` on the main CLI's subparsers."""
    from spfp_console.sampledata.defaults import DEFAULT_SEED

    p = subparsers.add_parser(
        "sample-data",
        help="load deterministic sample data (scale 1 is about 100k rows) with COPY",
        description="Fill every SPFP table with deterministic, realistic sample rows in one"
                    " transaction, then ANALYZE.  The same seed, scale and --today always"
                    " give the same data.  Needs the base schema; after the migration its"
                    " columns are filled too (some rows soft-deleted, audit rows).",
    )
    p.add_argument("--dsn", default=None,
                   help="target database (URL or conninfo); default $DATABASE_URL, else"
                        " libpq's PG* variables")
    p.add_argument("--scale", type=_scale, default=1.0,
                   help="1 is about 100k rows over 50 users, 10 about 1M (default 1)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help="random seed (default %(default)s)")
    p.add_argument("--today", type=_day, default=None, metavar="YYYY-MM-DD",
                   help="the day the data is centred on (default: today, UTC)")
    p.add_argument("--with-duplicate-categories", action="store_true",
                   help="add category names differing only by case ('Mercado' vs"
                        " 'mercado'): data the migration's uniqueness rule must reject")
    p.set_defaults(handler=cmd_sample_data)
    return p


def cmd_sample_data(args: argparse.Namespace) -> int:
    import psycopg

    from spfp_console.sampledata.loader import SampleDataError, load_sample_data

    dsn = args.dsn or os.environ.get("DATABASE_URL", "")
    scrub = _scrubber(dsn)
    try:
        conn = psycopg.connect(dsn, connect_timeout=10)
    except psycopg.Error as exc:
        _error(scrub(f"cannot connect to the target database: {first_line(exc)}"
                     " (check --dsn, $DATABASE_URL or the PG* variables)"))
        return EXIT_USAGE
    try:
        with conn:
            report = load_sample_data(
                conn,
                scale=args.scale,
                seed=args.seed,
                today=args.today,
                with_duplicate_categories=args.with_duplicate_categories,
            )
    except SampleDataError as exc:
        _error(scrub(f"sample data not loaded: {exc}"))
        return EXIT_FAILED
    except psycopg.Error as exc:
        _error(scrub(f"sample data not loaded (rolled back): {first_line(exc)}"))
        return EXIT_FAILED
    width = max(len(name) for name in [*report.rows, *report.skipped])
    for name, count in report.rows.items():
        print(f"{name:<{width}}  {count:>9,}")
    for name in report.skipped:
        print(f"{name:<{width}}  {'-':>9}  (not in this schema)")
    print(f"{'total':<{width}}  {report.total_rows:>9,}  in {report.seconds:.1f} s"
          f" ({report.rows_per_second:,.0f} rows/s), seed {report.seed}, scale {report.scale:g},"
          f" today {report.today.isoformat()}"
          f"{', migration columns filled' if report.migrated else ''}")
    print(f"heaviest user {report.heaviest_user_id}, median user {report.median_user_id}")
    return EXIT_OK


def _scrubber(dsn: str) -> Callable[[str], str]:
    """Scrub passwords: patterns, plus the actual secrets of this DSN and $PGPASSWORD."""
    from spfp_console.redact import Redactor, secrets_in_conninfo, secrets_in_env

    return Redactor(secrets_in_conninfo(dsn) | secrets_in_env(os.environ)).text


def _error(message: str) -> None:
    print(f"spfp-console: {message}", file=sys.stderr)
