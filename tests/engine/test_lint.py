"""The lint: one test per rule with the bad and good examples its Squawk documentation
gives (https://squawkhq.com/docs/<rule>), then the fixtures and the project's migrations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spfp_console.engine.lint import (
    PSQL,
    LintContext,
    LintFinding,
    console_context,
    errors,
    lint_script,
)
from spfp_console.engine.online_plan import online_statements
from spfp_console.engine.script import load_script, parse_script
from spfp_console.paths import MIGRATION_SQL, ROLLBACK_SQL

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PAPER = FIXTURES / "paper_original_migration.sql"
UNSAFE = FIXTURES / "unsafe_patterns.sql"

# Timeouts set first, so that a rule's example shows only that rule's findings.
TIMEOUTS = "SET lock_timeout = '1s';\nSET statement_timeout = '5s';\n"


def rules(sql: str, context: LintContext = PSQL, *, timeouts: bool = True) -> list[str]:
    script = parse_script((TIMEOUTS if timeouts else "") + sql, tolerant=True)
    return [f.rule for f in lint_script(script.statements, context)]


IN_TRANSACTION = LintContext(wrapped_in_transaction=True, skips_transaction_control=True)


def error_rules(sql: str, context: LintContext = PSQL) -> list[str]:
    script = parse_script(TIMEOUTS + sql, tolerant=True)
    return [f.rule for f in errors(lint_script(script.statements, context))]


# ----------------------------------------------------------------------------- per rule


def test_require_concurrent_index_creation() -> None:
    assert rules('CREATE INDEX "email_idx" ON "app_user" ("email");') == [
        "require-concurrent-index-creation"]
    assert rules('CREATE INDEX CONCURRENTLY IF NOT EXISTS "email_idx" ON "app_user" ("email");'
                 ) == []
    # an index on a table the same script creates blocks nobody
    assert rules("CREATE TABLE IF NOT EXISTS t (a int); CREATE INDEX i ON t (a);") == []


def test_require_concurrent_index_deletion() -> None:
    assert rules('DROP INDEX IF EXISTS "email_idx";') == ["require-concurrent-index-deletion"]
    assert rules('DROP INDEX CONCURRENTLY IF EXISTS "email_idx";') == []


def test_ban_concurrent_index_creation_in_transaction() -> None:
    bad = ('BEGIN;\nALTER TABLE t ADD COLUMN IF NOT EXISTS c int;\n'
           'CREATE INDEX CONCURRENTLY IF NOT EXISTS "email_idx" ON "app_user" ("email");\n'
           'COMMIT;')
    good = ('BEGIN;\nALTER TABLE t ADD COLUMN IF NOT EXISTS c int;\nCOMMIT;\n'
            'CREATE INDEX CONCURRENTLY IF NOT EXISTS "email_idx" ON "app_user" ("email");')
    assert rules(bad) == ["ban-concurrent-index-creation-in-transaction"]
    assert rules(good) == []
    # a runner that wraps the whole script in its transaction (spfp-console run)
    assert rules(good, IN_TRANSACTION) == ["ban-concurrent-index-creation-in-transaction"]


def test_constraint_missing_not_valid() -> None:
    bad = 'ALTER TABLE "accounts" ADD CONSTRAINT "positive_balance" CHECK ("balance" >= 0);'
    good = ('ALTER TABLE "accounts" ADD CONSTRAINT "positive_balance" CHECK ("balance" >= 0)'
            ' NOT VALID;\nCOMMIT;\nALTER TABLE accounts VALIDATE CONSTRAINT positive_balance;')
    assert rules(bad, IN_TRANSACTION) == ["constraint-missing-not-valid"]
    assert error_rules(good) == []
    # spfp-console run skips that COMMIT: one transaction, so VALIDATE is flagged there
    assert rules(good, IN_TRANSACTION) == ["constraint-missing-not-valid"]
    # VALIDATE in the transaction that added it NOT VALID keeps ACCESS EXCLUSIVE throughout
    same_tx = ('BEGIN;\nALTER TABLE accounts ADD CONSTRAINT positive_balance CHECK (balance'
               ' >= 0) NOT VALID;\nALTER TABLE accounts VALIDATE CONSTRAINT'
               ' positive_balance;\nCOMMIT;')
    assert rules(same_tx) == ["constraint-missing-not-valid"]


def test_adding_foreign_key_constraint() -> None:
    bad = ('ALTER TABLE "email" ADD CONSTRAINT "fk_user"\n'
           '    FOREIGN KEY ("user_id") REFERENCES "user" ("id");')
    good = ('ALTER TABLE "email" ADD CONSTRAINT "fk_user"\n'
            '    FOREIGN KEY ("user_id") REFERENCES "user" ("id") NOT VALID;\n'
            'ALTER TABLE "email" VALIDATE CONSTRAINT "fk_user";')
    assert rules(bad, IN_TRANSACTION) == ["adding-foreign-key-constraint"]
    assert error_rules(good) == []
    new_table = ('CREATE TABLE email (id bigint GENERATED ALWAYS AS IDENTITY, user_id bigint,'
                 ' PRIMARY KEY (id), CONSTRAINT fk_user FOREIGN KEY ("user_id")'
                 ' REFERENCES "user" ("id"));')
    assert rules(new_table, IN_TRANSACTION) == []


def test_disallowed_unique_constraint() -> None:
    bad = "ALTER TABLE table_name ADD CONSTRAINT field_name_constraint UNIQUE (field_name);"
    good = ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS dist_id_temp_idx ON distributors"
            " (dist_id);\nALTER TABLE distributors DROP CONSTRAINT IF EXISTS distributors_pkey,"
            " ADD CONSTRAINT distributors_pkey PRIMARY KEY USING INDEX dist_id_temp_idx;")
    assert rules(bad, IN_TRANSACTION) == ["disallowed-unique-constraint"]
    assert rules(good) == []


def test_adding_field_with_default() -> None:
    bad = 'ALTER TABLE "account" ADD COLUMN "ab_group" integer DEFAULT random();'
    good = ('ALTER TABLE "account" ADD COLUMN "ab_group" integer;\n'
            'ALTER TABLE "account" ALTER COLUMN "ab_group" SET DEFAULT random();')
    non_volatile = 'ALTER TABLE "account" ADD COLUMN "foo" integer DEFAULT 10;'
    assert rules(bad, IN_TRANSACTION) == ["adding-field-with-default"]
    assert rules(good, IN_TRANSACTION) == []
    assert rules(non_volatile, IN_TRANSACTION) == []
    assert rules("ALTER TABLE a ADD COLUMN t timestamptz NOT NULL DEFAULT now();",
                 IN_TRANSACTION) == []
    unknown = lint_script(parse_script(TIMEOUTS + "ALTER TABLE a ADD COLUMN c int DEFAULT"
                                       " my_func();").statements, IN_TRANSACTION)
    assert [(f.rule, f.severity) for f in unknown] == [("adding-field-with-default", "warning")]


def test_adding_required_field() -> None:
    assert rules('ALTER TABLE "recipe" ADD COLUMN "public" boolean NOT NULL;',
                 IN_TRANSACTION) == ["adding-required-field"]
    assert rules('ALTER TABLE "recipe" ADD COLUMN "public" boolean;', IN_TRANSACTION) == []
    assert rules('ALTER TABLE "recipe" ADD COLUMN "public" boolean NOT NULL DEFAULT false;',
                 IN_TRANSACTION) == []


def test_adding_not_nullable_field() -> None:
    bad = 'ALTER TABLE "recipe" ALTER COLUMN "view_count" SET NOT NULL;'
    good = ('ALTER TABLE "recipe" ADD CONSTRAINT view_count_not_null\n'
            '    CHECK ("view_count" IS NOT NULL) NOT VALID;\n')
    assert rules(bad, IN_TRANSACTION) == ["adding-not-nullable-field"]
    assert rules(good, IN_TRANSACTION) == []


def test_changing_column_type() -> None:
    assert rules('ALTER TABLE "core_recipe" ALTER COLUMN "edits" TYPE text USING "edits"::text;',
                 IN_TRANSACTION) == ["changing-column-type"]


def test_require_timeout_settings() -> None:
    assert rules("alter table t add column c boolean;", IN_TRANSACTION, timeouts=False) == [
        "require-timeout-settings"]
    assert rules("set lock_timeout = '1s';\nset statement_timeout = '5s';\n"
                 "alter table t add column c boolean;", IN_TRANSACTION, timeouts=False) == []
    # set_config(...) counts, and so do the timeouts the runner sets
    assert rules("select set_config('lock_timeout', '1s', true),"
                 " set_config('statement_timeout', '5s', true);\n"
                 "alter table t add column c boolean;", IN_TRANSACTION, timeouts=False) == []
    console = console_context(lock_timeout="5s", statement_timeout="10min")
    assert rules("alter table t add column c boolean;", console, timeouts=False) == []
    no_statement_timeout = console_context(lock_timeout="5s", statement_timeout="0")
    found = lint_script(parse_script("alter table t add column c boolean;").statements,
                        no_statement_timeout)
    assert [f.rule for f in found] == ["require-timeout-settings"]
    assert "statement_timeout" in found[0].why and "lock_timeout" not in found[0].why


def test_prefer_robust_stmts_outside_a_transaction() -> None:
    bad = ('ALTER TABLE "app_user" ADD COLUMN "email" integer NULL;\n'
           'CREATE INDEX CONCURRENTLY "email_idx" ON "app_user" ("email");\n'
           'CREATE TABLE "foo_tbl" ("id" serial NOT NULL PRIMARY KEY);\n'
           'DROP TABLE "foo_tbl";')
    good = ('ALTER TABLE "app_user" ADD COLUMN IF NOT EXISTS "email" integer NULL;\n'
            'CREATE INDEX CONCURRENTLY IF NOT EXISTS "email_idx" ON "app_user" ("email");\n'
            'CREATE TABLE IF NOT EXISTS "foo_tbl" ("id" serial NOT NULL PRIMARY KEY);\n'
            'DROP TABLE IF EXISTS "foo_tbl";')
    assert rules(bad) == ["prefer-robust-stmts"] * 4
    assert rules(good) == []
    # inside one transaction a failure undoes everything: nothing to re-run half-way
    assert "prefer-robust-stmts" not in rules(bad.replace("CONCURRENTLY ", ""), IN_TRANSACTION)


def test_transaction_nesting() -> None:
    assert rules("BEGIN;\nBEGIN;\nSELECT 1;\nCOMMIT;") == ["transaction-nesting"]
    assert rules("BEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;\nCOMMIT;") == []


def test_unique_constraint_on_expression_and_partial_unique_constraint() -> None:
    assert rules("ALTER TABLE categories ADD CONSTRAINT u UNIQUE (user_id, LOWER(name));") == [
        "unique-constraint-on-expression"]
    assert rules("ALTER TABLE t ADD CONSTRAINT d UNIQUE (user_id, type) WHERE is_default;") == [
        "partial-unique-constraint"]
    assert rules("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS u ON categories"
                 " (user_id, lower(name));") == []


def test_syntax_error() -> None:
    found = lint_script(parse_script("SELEC 1;", tolerant=True).statements)
    assert [(f.rule, f.severity) for f in found] == [("syntax-error", "error")]


def test_a_finding_names_file_line_statement_why_and_fix() -> None:
    script = parse_script(TIMEOUTS + "\n-- comment\nCREATE INDEX i\n  ON t (a);", file="m.sql")
    (finding,) = lint_script(script.statements)
    assert finding == LintFinding(
        rule="require-concurrent-index-creation", severity="error", file="m.sql", line=5,
        statement="CREATE INDEX i", why=finding.why, fix=finding.fix, index=3)
    assert "SHARE lock" in finding.why and "CONCURRENTLY" in finding.fix
    assert "\n" not in finding.one_line()
    with pytest.raises(AttributeError):
        finding.rule = "x"  # type: ignore[misc]


# ----------------------------------------------------------------------------- fixtures


def test_the_unsafe_fixture_flags_each_pattern_where_its_comment_says() -> None:
    """Each statement of the fixture is preceded by a comment naming the rule(s) it breaks."""
    text = UNSAFE.read_text()
    expected: set[tuple[int, str]] = set()
    pending: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith("-- ") and not line.startswith("-- One") and not \
                line.startswith("-- The comment"):
            pending += re.findall(r"([a-z]+(?:-[a-z]+){2,})", line)
        elif line.strip() and not line.startswith("--") and not line.startswith(
                ("BEGIN", "COMMIT")):
            expected |= {(lineno, rule) for rule in pending}
            pending = []
    found = lint_script(load_script(UNSAFE, tolerant=True).statements)
    assert {(f.line, f.rule) for f in errors(found)} == expected
    assert len(expected) == 13


def test_the_paper_migration_is_flagged_at_its_first_statement() -> None:
    script = load_script(PAPER, tolerant=True)
    found = lint_script(script.statements)
    first = script.statements[0]
    assert first.sql.startswith("ALTER TABLE categories ADD CONSTRAINT unique_user_category_name")
    assert (found[0].index, found[0].rule, found[0].severity) == (
        1, "unique-constraint-on-expression", "error")
    assert found[0].statement == "ALTER TABLE categories ADD CONSTRAINT unique_user_category_name"
    assert found[1].rule == "partial-unique-constraint"
    assert sum(f.rule == "require-concurrent-index-creation" for f in found) == 14


def test_the_project_migration_is_clean_in_online_mode() -> None:
    script = load_script(MIGRATION_SQL)
    online = console_context(lock_timeout="500ms", statement_timeout="10min", online=True)
    assert lint_script(online_statements(script), online) == []


def test_the_project_migration_in_one_transaction_blocks_writes_at_each_index() -> None:
    script = load_script(MIGRATION_SQL)
    run = console_context(lock_timeout="5s", statement_timeout="10min")
    found = lint_script(script.statements, run)
    assert {f.rule for f in found} == {"require-concurrent-index-creation"}
    assert len(found) == 20  # the audit table's two indexes are on a table it creates
    # as psql runs it, the timeouts are missing too
    assert {f.rule for f in lint_script(script.statements)} == {
        "require-concurrent-index-creation", "require-timeout-settings"}


def test_the_rollback_drops_indexes_without_concurrently() -> None:
    found = lint_script(load_script(ROLLBACK_SQL).statements,
                        console_context(lock_timeout="5s", statement_timeout="10min"))
    assert found and {f.rule for f in found} == {"require-concurrent-index-deletion"}


def test_lint_for_runbook_follows_the_execution_mode_and_maps_to_finding_events() -> None:
    import dataclasses

    from spfp_console.engine.lint import finding_event, lint_for_runbook
    from spfp_console.paths import DEFAULT_RUNBOOK
    from spfp_console.runbook import load_runbook

    settings = load_runbook(DEFAULT_RUNBOOK).settings
    script = load_script(MIGRATION_SQL)
    context, found = lint_for_runbook(script, settings)
    assert context.wrapped_in_transaction and len(found) == 20
    online_settings = dataclasses.replace(settings, execution_mode="online")
    context, found = lint_for_runbook(script, online_settings)
    assert context.label == "spfp-console run --online" and found == []
    _, as_psql = lint_for_runbook(script, online_settings, psql=True)
    assert {f.rule for f in as_psql} == {"require-concurrent-index-creation",
                                         "require-timeout-settings"}
    event = finding_event(as_psql[0])
    assert (event.source, event.section, event.severity) == (
        "lint", as_psql[0].rule, "warning")
    assert event.advice == as_psql[0].fix and event.message.startswith(as_psql[0].where)
