"""``check`` and ``rehearse`` end to end: read-only, every problem listed, exit 1 when
something would fail, and the target unchanged afterwards."""

from __future__ import annotations

import json
import re
from pathlib import Path

from clikit import (
    VERIFY_UNSIGNED,
    ANSI,
    BROKEN_SQL,
    Cli,
    deploy_logs,
    duplicate_categories,
    table_counts,
)

EXIT_OK, EXIT_FAILED = 0, 1


def test_check_lists_duplicate_categories_and_fails(
    cli: Cli, tmp_path: Path, dup_db
) -> None:
    groups = duplicate_categories(dup_db)
    assert groups, "the fixture should have made duplicate categories"
    before, counts = dup_db.schema_dump(), table_counts(dup_db)

    result = cli("check", "--dsn", dup_db.dsn)
    assert result.rc == EXIT_FAILED, str(result)
    assert "BLOCKER: unique_user_category_name" in result.out, str(result)
    assert "preflight FAILED" in result.out
    # each duplicate group, by its lower-cased name and how many rows share it
    dup_rows = [
        ln
        for ln in result.out.splitlines()
        if re.search(r"\bfail\s*$", ln) and re.search(r"\b[0-9a-f-]{36}\b", ln)
    ]
    assert len(dup_rows) == len(groups), str(result)
    for name, count in groups:
        assert any(
            re.search(rf"\s{re.escape(name)}\s+{count}\s", ln) for ln in dup_rows
        ), f"{name!r} x{count} not listed:\n" + "\n".join(dup_rows)
    assert ANSI not in result.out
    assert dup_db.schema_dump() == before
    assert table_counts(dup_db) == counts
    (log,) = deploy_logs(tmp_path)
    assert cli("verify", log).rc == VERIFY_UNSIGNED


def test_check_json_reports_the_duplicates(cli: Cli, dup_db) -> None:
    groups = duplicate_categories(dup_db)
    result = cli("check", "--json", "--dsn", dup_db.dsn)
    assert result.rc == EXIT_FAILED, str(result)
    records = [json.loads(line) for line in result.out.splitlines()]
    assert all("kind" in r for r in records)
    tables = [r for r in records if r["kind"] == "result_table"]
    dup_table = next(t for t in tables if t["title"].startswith("Duplicates blocking"))
    assert dup_table["passed"] is False
    name_col = dup_table["columns"].index("lower(name)")
    count_col = dup_table["columns"].index("count")
    listed = sorted((row[name_col], int(row[count_col])) for row in dup_table["rows"])
    assert listed == sorted(groups)


def test_check_on_clean_data_passes(cli: Cli, clean_db) -> None:
    before = clean_db.schema_dump()
    result = cli("check", "--dsn", clean_db.dsn)
    assert result.rc == EXIT_OK, str(result)
    assert "state: not_applied; preflight passed" in result.out
    assert "BLOCKER" not in result.out
    assert clean_db.schema_dump() == before


def test_check_on_a_migrated_database_says_applied(cli: Cli, migrated_db) -> None:
    result = cli("check", "--dsn", migrated_db.dsn)
    assert result.rc == EXIT_OK, str(result)
    assert "Current state: fully applied" in result.out, str(result)
    assert "state: applied; preflight passed" in result.out


def test_rehearse_broken_script_lists_all_three_defects(
    cli: Cli, tmp_path: Path, base_db
) -> None:
    before, counts = base_db.schema_dump(), table_counts(base_db)
    result = cli("rehearse", "--script", BROKEN_SQL, "--dsn", base_db.dsn)
    assert result.rc == EXIT_FAILED, str(result)
    failed = [ln for ln in result.out.splitlines() if ln.startswith("FAILED ")]
    # defect: (error line, statement line, SQLSTATE) - see the fixture's comments
    expected = [(13, 12, "42601"), (18, 16, "42703"), (24, 24, "42883")]
    assert len(failed) == 3, str(result)
    for line, (err_line, stmt_line, sqlstate) in zip(failed, expected, strict=True):
        assert line.startswith(
            f"FAILED broken_migration.sql:{err_line} SQLSTATE {sqlstate}:"
        ), line
        assert f"statement at line {stmt_line}:" in result.out
    assert "3 failing statement" in result.out
    assert "nothing was changed" in result.out
    # the statements around the defects did run (inside savepoints) before the rollback
    assert "ok broken_migration.sql:28 CREATE VIEW" in result.out
    assert base_db.schema_dump() == before
    assert table_counts(base_db) == counts
    (log,) = deploy_logs(tmp_path)
    assert cli("verify", log).rc == VERIFY_UNSIGNED


def test_rehearse_broken_script_json(cli: Cli, base_db) -> None:
    result = cli("rehearse", "--json", "--script", BROKEN_SQL, "--dsn", base_db.dsn)
    assert result.rc == EXIT_FAILED, str(result)
    records = [json.loads(line) for line in result.out.splitlines()]
    failures = [r for r in records if r["kind"] == "statement_failed"]
    assert [(f["sqlstate"], f["line"], f["error_line"]) for f in failures] == [
        ("42601", 12, 13),
        ("42703", 16, 18),
        ("42883", 24, 24),
    ]
    finished = [r for r in records if r["kind"] == "run_finished"]
    assert len(finished) == 1 and finished[0]["statements_failed"] == 3


def test_rehearse_the_real_migration_on_clean_data(cli: Cli, clean_db) -> None:
    before, counts = clean_db.schema_dump(), table_counts(clean_db)
    result = cli("rehearse", "--dsn", clean_db.dsn)
    assert result.rc == EXIT_OK, str(result)
    assert "rehearsal passed" in result.out
    assert "FAILED" not in result.out
    assert clean_db.schema_dump() == before
    assert table_counts(clean_db) == counts


def test_rehearse_the_real_migration_with_duplicates_fails_at_the_unique_index(
    cli: Cli, dup_db
) -> None:
    before = dup_db.schema_dump()
    result = cli("rehearse", "--dsn", dup_db.dsn)
    assert result.rc == EXIT_FAILED, str(result)
    assert "SQLSTATE 23505" in result.out
    assert "unique_user_category_name" in result.out
    assert dup_db.schema_dump() == before


def test_rehearse_with_the_integrity_check_fails_on_a_changed_row_and_changes_nothing(
    cli: Cli, clean_db, tmp_path: Path
) -> None:
    script = tmp_path / "updating.sql"
    script.write_text("ALTER TABLE public.categories ADD COLUMN archived boolean;\n"
                      "UPDATE public.categories SET name = name || '!';\n")
    before, counts = clean_db.schema_dump(), table_counts(clean_db)
    checksum = "select sum(hashtextextended(c::text, 0))::text from public.categories c"
    data_before = clean_db.scalar(checksum)
    result = cli("rehearse", "--dsn", clean_db.dsn, "--script", str(script), "--integrity")
    assert result.rc == EXIT_FAILED, str(result)
    assert "data integrity check failed" in result.out and "public.categories:" in result.out
    assert "data integrity check (rehearse): read " in result.out, str(result)
    assert clean_db.schema_dump() == before and table_counts(clean_db) == counts
    assert clean_db.scalar(checksum) == data_before

    skipped = cli("rehearse", "--dsn", clean_db.dsn, "--script", str(script),
                  "--no-integrity")
    assert skipped.rc == EXIT_OK, str(skipped)
    assert "data integrity" not in skipped.out
