"""The CLI's event printer: plain text when piped, JSON lines for machines, survives SIGHUP."""

from __future__ import annotations

import io
import re
import json

from spfp_console.events import ResultTable, RunFinished, StatementFailed, event_from_record
from spfp_console.cli.terminal_output import EventPrinter

FAILED = StatementFailed(index=3, file="/x/sql/m.sql", line=12, error_line=13,
                         sql="CREATE INDEX i ON t (nope)", sqlstate="42703",
                         message='column "nope" does not exist', position=22)
TABLE = ResultTable(title="Validation", source="validation", columns=("check", "status"),
                    rows=(("index:i", "pass"), ("view:v", "fail")), status_column="status",
                    passed=False)


def test_plain_output_names_file_line_sqlstate_and_has_no_escape_codes():
    out = io.StringIO()
    printer = EventPrinter("plain", out)
    printer(FAILED)
    printer(TABLE)
    printer(RunFinished(mode="run", outcome="rolled_back", duration_s=0.5, statements_ok=2,
                        statements_failed=1, message="rolled back"))
    text = out.getvalue()
    assert "FAILED m.sql:13 SQLSTATE 42703: column \"nope\" does not exist" in text
    assert "at character 22" in text
    assert "Validation - FAIL" in text
    assert re.search(r"^  view:v +fail$", text, re.MULTILINE)
    assert "== run rolled_back: 2 ok, 1 failed" in text
    assert "\x1b[" not in text


def test_json_lines_round_trip_to_the_same_events():
    out = io.StringIO()
    printer = EventPrinter("json", out)
    printer(FAILED)
    printer(TABLE)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["kind"] for r in records] == ["statement_failed", "result_table"]
    assert event_from_record(records[0]) == FAILED
    assert event_from_record(records[1]) == TABLE


class _HungUpTerminal(io.StringIO):
    def write(self, s: str) -> int:
        raise OSError(5, "Input/output error")

    def isatty(self) -> bool:
        return False


def test_a_vanished_terminal_does_not_raise():
    printer = EventPrinter("plain", _HungUpTerminal())
    printer(FAILED)  # would raise OSError without the guard
    printer.message("still here")
    printer(TABLE)


def test_an_actual_equal_to_expected_is_not_printed_twice():
    table = ResultTable(title="Validation", source="validation",
                        columns=("check", "expected", "actual", "status"),
                        rows=(("index:i", "CREATE INDEX i ON t (a)", "CREATE INDEX i ON t (a)", "pass"),
                              ("index:j", "CREATE INDEX j ON t (b)", "absent", "fail")),
                        status_column="status", passed=False)
    out = io.StringIO()
    EventPrinter("plain", out)(table)
    text = out.getvalue()
    assert text.count("CREATE INDEX i ON t (a)") == 1
    assert "= expected" in text
    assert "CREATE INDEX j ON t (b)  absent" in text


def test_a_table_too_wide_for_the_terminal_becomes_records():
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False, color_system=None)
    wide = ResultTable(
        title="Table sizes", source="preflight",
        columns=("table", "total size", "lock held until COMMIT", "status"),
        rows=(("public.operational_tasks", "600.0 kB",
               "ACCESS EXCLUSIVE (reads and writes wait) " * 2, "warn"),
              ("", "", "no long transactions", "pass")),
        status_column="status")
    EventPrinter("rich", console=console)(wide)
    text = out.getvalue()
    assert "public.operational_tasks  warn" in text
    assert "total size: 600.0 kB" in text
    assert "no long transactions  pass" in text  # a row without a name is headed by its text
    assert all(len(line) <= 80 for line in text.splitlines())

    narrow = ResultTable(title="Short", source="preflight", columns=("check", "status"),
                         rows=(("ok", "pass"),), status_column="status")
    out.truncate(0)
    EventPrinter("rich", console=console)(narrow)
    assert "check" in out.getvalue() and "─" in out.getvalue()  # a real table header


WIDE = ResultTable(
    title="Indexes", source="validation", columns=("check", "expected", "actual", "status"),
    rows=(("index idx_transactions_user_date_paid",
           "CREATE INDEX idx_transactions_user_date_paid ON public.transactions USING btree"
           " (user_id, date DESC, paid)", "missing", "fail"),),
    status_column="status", passed=False)


def test_piped_tables_honour_columns_and_never_cut_a_word(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    out = io.StringIO()
    EventPrinter("plain", out)(WIDE)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Indexes - FAIL"
    assert max(len(line) for line in lines) <= 60, lines
    words = " ".join(lines).split()
    assert "idx_transactions_user_date_paid" in words  # whole, not cut mid-name
    monkeypatch.delenv("COLUMNS")
    out = io.StringIO()
    EventPrinter("plain", out)(WIDE)
    assert max(len(line) for line in out.getvalue().splitlines()) > 60  # one line per row


def test_a_run_says_how_many_statements_it_skipped_and_why():
    out = io.StringIO()
    EventPrinter("plain", out)(RunFinished(mode="run", outcome="committed", duration_s=0.5,
                                           statements_ok=43, statements_skipped=2))
    assert ("== run committed: 43 ok, 0 failed, 2 skipped (the script's own BEGIN/COMMIT:"
            " the engine owns the transaction)") in out.getvalue()


def test_a_passing_table_with_warnings_says_so():
    table = ResultTable(title="Claims", source="performance", columns=("claim", "status"),
                        rows=(("14 indexes", "warn"), ("6 views", "pass")),
                        status_column="status", passed=True)
    out = io.StringIO()
    EventPrinter("plain", out)(table)
    assert out.getvalue().startswith("Claims - PASS, 1 warning\n")


def test_a_long_path_is_never_broken_on_a_narrow_terminal():
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=40, force_terminal=True, color_system=None)
    printer = EventPrinter("rich", out, console=console)
    path = "deploy-logs/20260216_database_optimizations_postgres_20261126T114643Z.deploy-log.toml"
    printer.message(f"deployment log: {path}")
    assert path in out.getvalue().replace("\x1b[0m", "")  # whole, so it can be copied
