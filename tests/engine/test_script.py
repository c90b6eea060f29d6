"""Splitting SQL with the real PostgreSQL parser, keeping each statement's source line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spfp_console.engine.errors import ScriptError
from spfp_console.engine.script import load_script, parse_script, read_script_text
from spfp_console.paths import MIGRATION_SQL

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_migration_splits_into_statements_with_their_lines() -> None:
    script = load_script(MIGRATION_SQL)
    text = MIGRATION_SQL.read_text()
    stmts = script.statements
    assert len(stmts) == 48
    assert [s.index for s in stmts] == list(range(1, 49))
    assert len(script.sha256) == 64

    first, last = stmts[0], stmts[-1]
    assert (first.sql, first.kind, first.control, first.line) == (
        "BEGIN",
        "transaction_control",
        "begin",
        17,
    )
    assert (last.sql, last.kind, last.control, last.line) == (
        "COMMIT",
        "transaction_control",
        "commit",
        277,
    )
    assert all(s.kind == "statement" for s in stmts[1:-1])

    by_line = {s.line: s for s in stmts}
    assert by_line[23].sql.startswith(
        "ALTER TABLE public.sent_atas ADD COLUMN IF NOT EXISTS updated_at"
    )
    kanban = by_line[_line_of(text, "CREATE INDEX IF NOT EXISTS idx_operational_tasks_kanban")]
    assert kanban.line == 53 and kanban.end_line == 54
    assert kanban.sql.endswith("WHERE deleted_at IS NULL")  # no ';', no trailing comment

    fn = by_line[225]
    assert fn.sql.startswith("CREATE OR REPLACE FUNCTION public.cleanup_old_automation_logs()")
    assert "GET DIAGNOSTICS deleted_count = ROW_COUNT;" in fn.sql  # $fn$ body intact
    assert fn.sql.endswith("$fn$") and fn.end_line == 238

    do = by_line[245]
    assert do.sql.startswith("DO $mig$") and do.sql.endswith("$mig$") and do.end_line == 265
    assert "NEW.updated_at = now();" in do.sql and do.sql.count("$fn$") == 2
    # Every statement's text is exactly what the file holds at that line.
    lines = text.splitlines()
    for s in stmts:
        assert lines[s.line - 1].lstrip().startswith(s.sql.splitlines()[0])


def test_semicolons_in_strings_comments_and_dollar_quotes_do_not_split() -> None:
    text = (
        "select 'a;b' as x; -- trailing; comment\n"
        "/* block; comment\n spanning; lines */\n"
        'select "odd;name" from (select 1 as "odd;name") t;\n'
        "select $tag$ ; $$ ; $tag$;\n"
        "select E'it''s; \\' ok';\n"
    )
    script = parse_script(text)
    assert [s.sql for s in script.statements] == [
        "select 'a;b' as x",
        'select "odd;name" from (select 1 as "odd;name") t',
        "select $tag$ ; $$ ; $tag$",
        "select E'it''s; \\' ok'",
    ]
    assert [s.line for s in script.statements] == [1, 4, 5, 6]


def test_lines_count_characters_not_bytes() -> None:
    # libpg_query works in UTF-8 bytes; multi-byte text before a statement must not
    # shift its line or cut its text.
    text = "select 'ação—✓' as café;\n-- çççççç\nselect 2;\n\nselect 'é'; select 3;"
    stmts = parse_script(text).statements
    assert [(s.line, s.sql) for s in stmts] == [
        (1, "select 'ação—✓' as café"),
        (3, "select 2"),
        (5, "select 'é'"),
        (5, "select 3"),
    ]


def test_strict_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.sql"
    path.write_text("select 1;\n\n-- ü\ncreate table t (\n  a int,,\n  b int);\nselect 2;\n")
    with pytest.raises(ScriptError) as info:
        load_script(path)
    err = info.value
    assert err.file == str(path) and err.line == 5
    assert str(err).startswith(f'{path}:5: syntax error at or near ","')
    assert "nothing was run" in str(err)


def test_strict_counts_further_syntax_errors(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match=r"x\.sql:2: .*\(and 1 more\)"):
        parse_script("select 1;\nselec 2;\nselect 3;\nfrom;", file="x.sql")


def test_tolerant_keeps_every_statement_and_marks_the_broken_one() -> None:
    script = load_script(FIXTURES / "broken_migration.sql", tolerant=True)
    kinds = [(s.line, s.kind) for s in script.statements]
    assert kinds == [
        (4, "transaction_control"),
        (6, "statement"),
        (8, "statement"),
        (12, "syntax_error"),
        (16, "statement"),
        (20, "statement"),
        (24, "statement"),
        (28, "statement"),
        (34, "transaction_control"),
    ]
    broken = script.syntax_errors[0]
    assert broken.error_line == 13
    assert broken.note == 'syntax error at or near ","'
    assert broken.sql.startswith("CREATE INDEX IF NOT EXISTS idx_operational_tasks_kanban")
    assert "a;b" in script.statements[7].sql  # the quoted ';' stayed inside the view
    # Strict load of the same file refuses it, pointing at the same line.
    with pytest.raises(ScriptError) as info:
        load_script(FIXTURES / "broken_migration.sql")
    assert info.value.line == 13


def test_tolerant_unterminated_quote_swallows_only_the_rest() -> None:
    script = parse_script("select 1;\nselect 2;\nselect 'oops;\nselect 3;\n", tolerant=True)
    assert [s.kind for s in script.statements] == ["statement", "statement", "syntax_error"]
    bad = script.statements[2]
    assert bad.line == 3 and "unterminated quoted string" in (bad.note or "")


def test_tolerant_split_respects_begin_atomic_and_parentheses() -> None:
    text = (
        "create function f() returns int language sql\n"
        "begin atomic select case when true then 1 end; select 2; end;\n"
        "create rule r as on insert to t do also (select 1; select 2);\n"
        "selec 1;\n"
        "\\set ON_ERROR_STOP on\n"
        "select 4;"
    )
    script = parse_script(text, tolerant=True)
    assert [(s.line, s.kind) for s in script.statements] == [
        (1, "statement"),
        (3, "statement"),
        (4, "syntax_error"),
        (5, "syntax_error"),
    ]
    assert "psql meta-command" in (script.statements[3].note or "")
    assert script.statements[3].sql.endswith("select 4")  # no ';' after the meta-command


@pytest.mark.parametrize(
    ("sql", "kind", "control"),
    [
        ("BEGIN", "transaction_control", "begin"),
        ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "transaction_control", "begin"),
        ("END", "transaction_control", "commit"),
        ("ROLLBACK", "transaction_control", "rollback"),
        ("SAVEPOINT a", "statement", None),
        ("CREATE INDEX CONCURRENTLY i ON t (a)", "no_transaction", None),
        ("DROP INDEX CONCURRENTLY i", "no_transaction", None),
        ("REINDEX (CONCURRENTLY) TABLE t", "no_transaction", None),
        ("REINDEX TABLE CONCURRENTLY t", "no_transaction", None),
        ("VACUUM (ANALYZE) t", "no_transaction", None),
        ("ANALYZE t", "statement", None),
        ("CREATE DATABASE d", "no_transaction", None),
        ("ALTER SYSTEM SET work_mem = '8MB'", "no_transaction", None),
        ("ALTER TABLE t DETACH PARTITION p CONCURRENTLY", "no_transaction", None),
        ("CREATE INDEX i ON t (a)", "statement", None),
    ],
)
def test_statement_kinds(sql: str, kind: str, control: str | None) -> None:
    (stmt,) = parse_script(sql + ";").statements
    assert (stmt.kind, stmt.control) == (kind, control)
    if kind == "no_transaction":
        assert "cannot run inside a transaction block" in (stmt.note or "")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sql"
    with pytest.raises(ScriptError) as info:
        load_script(missing)
    assert str(info.value) == f"{missing}: SQL file not found; check the path"


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.sql"
    path.write_bytes(b"select 1;\nselect 'caf\xe9';\n")
    with pytest.raises(ScriptError, match=r"latin1\.sql:2: not valid UTF-8"):
        load_script(path)


def test_one_loader_names_the_file_line_and_byte_offset(tmp_path: Path) -> None:
    """Issue 8.8: every reader of a script fails the same way on bytes that are not
    UTF-8 (preflight's read_text() raised a bare UnicodeDecodeError)."""
    path = tmp_path / "latin1.sql"
    path.write_bytes(b"select 1;\nselect 'caf\xe9';\n")
    for read in (read_script_text, load_script, lambda p: load_script(p, tolerant=True)):
        with pytest.raises(ScriptError) as info:
            read(path)
        assert str(info.value) == (
            f"{path}:2: not valid UTF-8 (byte 0xe9 at byte offset 21); save the file as "
            "UTF-8 (nothing was run)"
        )


def test_read_script_text_drops_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.sql"
    path.write_bytes(b"\xef\xbb\xbfselect 'ok';\n")
    assert read_script_text(path) == "select 'ok';\n"


@pytest.mark.parametrize(
    "text",
    ["", "\n\n  \n", "-- nothing to see\n/* really */\n", "BEGIN;\nCOMMIT;\n", ";;\n"],
    ids=["empty", "blank", "comments", "begin-commit", "semicolons"],
)
@pytest.mark.parametrize("tolerant", [False, True], ids=["strict", "tolerant"])
def test_a_script_without_statements_is_refused(
    tmp_path: Path, text: str, tolerant: bool
) -> None:
    """Issue 8.9: an empty or comment-only script is the wrong file, not a success."""
    path = tmp_path / "empty.sql"
    path.write_text(text)
    with pytest.raises(ScriptError) as info:
        load_script(path, tolerant=tolerant)
    assert str(info.value).startswith(f"{path}: contains ")
    assert "the file is empty or holds only comments" in str(info.value)


_pieces = st.sampled_from(
    [
        "select 1",
        "select ';'",
        "select $$ ; $$",
        "select 1 /* ; */ + 2",
        'create table "a;b" (x int)',
        "do $d$ begin perform 1; end $d$",
    ]
)
_gaps = st.sampled_from(["\n", " ", "\n-- note; here\n", "\n\n/* x; y */ ", ";\n"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_pieces, _gaps), min_size=1, max_size=8))
def test_split_roundtrip_property(parts: list[tuple[str, str]]) -> None:
    """Joining statements with any mix of comments/blank lines splits back into them,
    at the lines where they were written, in strict and tolerant mode alike (a broken
    statement at the end forces the tolerant, scanner-based split)."""
    text = ""
    expected: list[tuple[int, str]] = []
    for sql, gap in parts:
        expected.append((text.count("\n") + 1, sql))
        text += sql + ";" + gap
    got = [(s.line, s.sql) for s in parse_script(text).statements]
    assert got == expected
    broken_line = text.count("\n") + 1
    tolerant = parse_script(text + "selec 9;", tolerant=True).statements
    assert [(s.line, s.sql) for s in tolerant] == [*expected, (broken_line, "selec 9")]
    assert [s.kind for s in tolerant][-1] == "syntax_error"
