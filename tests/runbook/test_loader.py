"""Runbook loading: the shipped runbook is complete; bad files give file:line: key errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL, ROLLBACK_SQL
from spfp_console.runbook import RunbookError, load_runbook
from spfp_console.runbook.model import ACTIONS

INVENTORY_INDEXES = {
    "idx_sent_atas_deleted_at", "idx_sent_atas_user_type_sent", "idx_user_files_deleted_at",
    "idx_operational_tasks_deleted_at", "idx_operational_tasks_kanban",
    "idx_operational_tasks_due_dates", "idx_sales_leads_deleted_at", "idx_sales_leads_analysis",
    "idx_sales_leads_value_analysis", "idx_corporate_activities_realtime",
    "idx_corporate_activities_approval", "idx_marketing_posts_calendar",
    "idx_marketing_posts_by_platform", "idx_transactions_user_date_paid", "idx_accounts_user_type",
    "idx_categories_user_order", "idx_goals_user_deadline", "idx_partnership_clients_closed",
    "idx_automation_permissions_audit_user_id", "idx_automation_permissions_audit_changed_at",
}


def test_shipped_runbook_covers_the_paper_and_the_inventory():
    rb = load_runbook(DEFAULT_RUNBOOK)
    assert rb.id == "20260216_database_optimizations"
    assert [p.id for p in rb.phases] == [
        "pre-deployment", "execution", "post-deployment", "monitoring", "rollback"]
    # the paper's pre-deployment, execution and post-deployment checklists, item for item
    assert len(rb.phase("pre-deployment").items) >= 7
    assert len(rb.phase("execution").items) == 7
    assert len(rb.phase("post-deployment").items) == 6
    assert {c.name for c in rb.checks_of("index")} == INVENTORY_INDEXES
    assert {c.name for c in rb.checks_of("unique_rule")} == {
        "unique_user_category_name", "unique_default_template"}
    assert len(rb.checks_of("view")) == 6
    assert rb.script("migration") == MIGRATION_SQL
    assert rb.script("rollback") == ROLLBACK_SQL
    assert {q.id for q in rb.queries} == {
        "kanban", "sales-pipeline", "transaction-history", "marketing-calendar", "overdue-tasks"}
    claimed = {c.id: c.claimed for c in rb.claims}
    assert claimed["indexes"] == 14 and claimed["views"] == 6
    for phase in rb.phases:
        for item in phase.items:
            assert item.action is None or item.action in ACTIONS
    assert rb.phase("pre-deployment").items[1].evidence == "backup id or file"
    assert len(rb.sha256) == 64


def _write(tmp_path: Path, text: str) -> Path:
    sql = tmp_path / "m.sql"
    sql.write_text("SELECT 1;\n")
    path = tmp_path / "rb.toml"
    path.write_text(text)
    return path


MINIMAL = """\
[runbook]
id = "t"
title = "T"

[scripts]
migration = "m.sql"
rollback = "m.sql"

[[phases]]
id = "pre"
title = "Pre"

[[phases.items]]
id = "a"
text = "A"

[[phases.items]]
id = "b"
text = "B"
required = false
"""


def test_minimal_runbook_loads(tmp_path):
    rb = load_runbook(_write(tmp_path, MINIMAL))
    assert [i.required for i in rb.phase("pre").items] == [True, False]


def test_unknown_key_is_an_error_with_line(tmp_path):
    path = _write(tmp_path, MINIMAL.replace("required = false", "requird = false"))
    with pytest.raises(RunbookError) as info:
        load_runbook(path)
    err = info.value
    assert err.line == 20
    assert err.key == "phases[0].items[1].requird"
    assert str(err).startswith(f"{path}:20: phases[0].items[1].requird: unknown key")


def test_wrong_type_names_file_line_and_field(tmp_path):
    path = _write(tmp_path, MINIMAL.replace("required = false", 'required = "no"'))
    with pytest.raises(RunbookError, match=r":20: phases\[0\]\.items\[1\]\.required: must be true or false"):
        load_runbook(path)


def test_missing_field(tmp_path):
    path = _write(tmp_path, MINIMAL.replace('text = "B"\n', ""))
    with pytest.raises(RunbookError, match=r"phases\[0\]\.items\[1\]\.text: is required but missing"):
        load_runbook(path)


def test_invalid_toml_reports_line(tmp_path):
    path = _write(tmp_path, MINIMAL.replace('title = "Pre"', 'title = "Pre'))
    with pytest.raises(RunbookError) as info:
        load_runbook(path)
    assert info.value.line == 11
    assert "invalid TOML" in str(info.value)


def test_missing_sql_file(tmp_path):
    path = _write(tmp_path, MINIMAL.replace('rollback = "m.sql"', 'rollback = "gone.sql"'))
    with pytest.raises(RunbookError, match=r":7: scripts\.rollback: SQL file not found: .*gone\.sql"):
        load_runbook(path)


def test_missing_runbook_file(tmp_path):
    with pytest.raises(RunbookError, match="runbook file not found"):
        load_runbook(tmp_path / "nope.toml")


def test_duplicate_item_id(tmp_path):
    path = _write(tmp_path, MINIMAL.replace('id = "b"', 'id = "a"'))
    with pytest.raises(RunbookError, match="duplicate id 'a'"):
        load_runbook(path)


def test_unknown_action(tmp_path):
    path = _write(tmp_path, MINIMAL.replace('text = "A"', 'text = "A"\naction = "deploy"'))
    with pytest.raises(RunbookError, match=r"action: must be one of preflight"):
        load_runbook(path)


def _with_settings(tmp_path: Path, settings: str) -> Path:
    # [settings] after [scripts] and before the phases: lines 9 (header) and 10, 11
    text = MINIMAL.replace("[[phases]]", f"[settings]\n{settings}\n\n[[phases]]", 1)
    return _write(tmp_path, text)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("lock_timeout", "0", "'0' means no limit at all"),
        ("lock_timeout", "0s", "'0s' means no limit at all"),
        ("lock_timeout", "10ms", "'10ms' is out of range"),
        ("lock_timeout", "50", "'50' is out of range"),  # no unit: milliseconds
        ("lock_timeout", "1h", "'1h' is out of range"),
        ("statement_timeout", "0", "'0' means no limit at all"),
        ("statement_timeout", "500ms", "'500ms' is out of range"),
        ("statement_timeout", "2d", "'2d' is out of range"),
        ("statement_timeout", "5 parsecs", "must be a PostgreSQL duration"),
    ],
)
def test_timeouts_of_zero_or_absurd_size_are_refused(tmp_path, field, value, problem):
    """Issue 8.10: lock_timeout = "0" (wait forever) was accepted."""
    path = _with_settings(tmp_path, f'{field} = "{value}"')
    line = path.read_text().splitlines().index(f'{field} = "{value}"') + 1
    with pytest.raises(RunbookError) as info:
        load_runbook(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: settings.{field}: {problem}"), message
    if "duration like" not in message:
        assert "set a duration between" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [("lock_timeout", "100ms"), ("lock_timeout", "5min"), ("lock_timeout", "2000"),
     ("statement_timeout", "1s"), ("statement_timeout", "24h"),
     ("statement_timeout", "1d")],
)
def test_timeouts_within_bounds_load(tmp_path, field, value):
    rb = load_runbook(_with_settings(tmp_path, f'{field} = "{value}"'))
    assert getattr(rb.settings, field) == value


def test_a_runbook_without_timeouts_gets_bounded_defaults(tmp_path):
    rb = load_runbook(_write(tmp_path, MINIMAL))
    assert (rb.settings.lock_timeout, rb.settings.statement_timeout) == ("5s", "1h")


def test_the_fast_parser_reads_every_shipped_runbook_as_tomllib_does() -> None:
    """The loader parses with rtoml and words errors with tomllib: on the runbooks we ship
    (and the test fixtures' base), both must give the same document."""
    import tomllib

    import rtoml

    texts = [p.read_text() for p in DEFAULT_RUNBOOK.parent.glob("*.toml")]
    assert texts
    for text in texts:
        assert rtoml.loads(text) == tomllib.loads(text)


def test_an_invalid_runbook_is_still_worded_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[runbook]\nid = "x"\ntitle = \n')
    with pytest.raises(RunbookError) as caught:
        load_runbook(path)
    assert "bad.toml:3" in str(caught.value) and "invalid TOML" in str(caught.value)


@pytest.mark.parametrize("value", ['"yes"', "1"])
def test_integrity_check_must_be_true_or_false(tmp_path, value):
    path = _with_settings(tmp_path, f"integrity_check = {value}")
    line = path.read_text().splitlines().index(f"integrity_check = {value}") + 1
    with pytest.raises(RunbookError) as info:
        load_runbook(path)
    assert str(info.value).startswith(
        f"{path}:{line}: settings.integrity_check: must be true or false"), str(info.value)


def test_integrity_check_is_off_unless_asked_for_and_on_in_the_spfp_runbook(tmp_path):
    assert load_runbook(_write(tmp_path, MINIMAL)).settings.integrity_check is False
    assert load_runbook(_with_settings(tmp_path, "integrity_check = true")).settings.integrity_check
    shipped = load_runbook(DEFAULT_RUNBOOK)
    assert shipped.settings.integrity_check is True
    item = next(i for i in shipped.phase("post-deployment").items if i.id == "data-integrity")
    assert item.action == "integrity"
