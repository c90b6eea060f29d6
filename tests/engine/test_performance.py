"""Performance check on a real PostgreSQL: the same data before and after the migration."""

from __future__ import annotations

import pytest
from analysis_testkit import seed_workload

from spfp_console.engine.performance import (
    compare,
    index_names_in_plan,
    measure_queries,
    speedups,
    timings_table,
)
from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL
from spfp_console.runbook import load_runbook


@pytest.fixture(scope="module")
def runbook():
    return load_runbook(DEFAULT_RUNBOOK)


def test_before_and_after_on_the_same_data(base_db, runbook):
    with base_db.connect() as conn:
        seed_workload(conn)
        before = measure_queries(conn, runbook, phase="before", runs=3)
        assert conn.info.transaction_status.name == "IDLE"
    base_db.execute_file(MIGRATION_SQL)
    with base_db.connect() as conn:
        conn.execute("ANALYZE")
        after = measure_queries(conn, runbook, phase="after", runs=3)

    ids = [q.id for q in runbook.queries]
    assert list(before) == ids and list(after) == ids
    for qid in ids:
        assert before[qid].error is None, before[qid]
        assert after[qid].error is None, after[qid]
        assert len(before[qid].runs_ms) == 3
        assert before[qid].median_ms > 0 and after[qid].median_ms > 0
        assert before[qid].user_id == after[qid].user_id  # same data, same busiest user
    assert before["kanban"].used_sql_before is True
    assert before["transaction-history"].used_sql_before is False  # no sql_before
    assert after["kanban"].used_sql_before is False
    assert "idx_operational_tasks_kanban" in after["kanban"].indexes_used
    assert "idx_operational_tasks_kanban" not in before["kanban"].indexes_used

    table = compare(before, after, runbook)
    assert table.source == "performance"
    assert table.columns == (
        "query",
        "claimed speedup",
        "before ms",
        "after ms",
        "measured speedup",
        "status",
    )
    assert len(table.rows) == 5
    assert all(r[5] in ("pass", "warn", "fail") for r in table.rows)
    assert set(speedups(before, after)) == set(ids)
    assert len(timings_table(after.values()).rows) == 5


def test_after_form_on_the_base_schema_is_an_error_not_an_exception(base_db, runbook):
    with base_db.connect() as conn:
        after = measure_queries(conn, runbook, phase="after", runs=1)
    assert after["kanban"].median_ms is None
    assert "deleted_at" in (after["kanban"].error or "")
    assert (
        after["transaction-history"].error is None
    )  # transactions had deleted_at already
    table = compare(after, after, runbook)
    rows = {r[0]: r for r in table.rows}
    assert rows["kanban"][5] == "fail"
    assert table.passed is False


def _timing(qid, phase, ms):
    from spfp_console.engine.performance import QueryTiming

    return QueryTiming(qid, phase, "u", runs_ms=(ms,), median_ms=ms)


def test_compare_statuses(runbook):
    before = {q.id: _timing(q.id, "before", 100.0) for q in runbook.queries}
    after = {
        "kanban": _timing("kanban", "after", 1.0),  # 100x >= 30x claimed
        "sales-pipeline": _timing("sales-pipeline", "after", 50.0),  # 2x < 17x
        "transaction-history": _timing("transaction-history", "after", 200.0),  # slower
        "marketing-calendar": _timing("marketing-calendar", "after", 100.0),  # 1.0x
    }
    rows = {r[0]: r for r in compare(before, after, runbook).rows}
    assert rows["kanban"][4:] == ("100.0x", "pass")
    assert rows["sales-pipeline"][4:] == ("2.0x", "warn")
    assert rows["transaction-history"][4:] == ("0.5x", "fail")
    assert rows["marketing-calendar"][5] == "warn"
    assert rows["overdue-tasks"][3:] == ("not measured", "not measured", "warn")


def test_index_names_in_plan_walks_nested_plans():
    plan = [
        {
            "Plan": {
                "Node Type": "Limit",
                "Plans": [
                    {
                        "Node Type": "Index Scan",
                        "Index Name": "a",
                        "Relation Name": "t",
                    },
                    {
                        "Node Type": "Bitmap Heap Scan",
                        "Plans": [
                            {"Node Type": "Bitmap Index Scan", "Index Name": "b"},
                            {"Node Type": "Bitmap Index Scan", "Index Name": "a"},
                        ],
                    },
                ],
            }
        }
    ]
    assert index_names_in_plan(plan) == ["a", "b"]


def test_validation_names_the_busiest_user_from_statistics_without_a_scan(base_db) -> None:
    from spfp_console.engine.performance import busiest_user, likely_busiest_user
    from spfp_console.sampledata import load_sample_data

    load_sample_data(base_db.dsn, scale=0.05)
    with base_db.connect() as conn:
        conn.execute("SELECT pg_stat_reset()")
        conn.execute("DELETE FROM pg_statistic WHERE starelid = 'public.transactions'::regclass")
        assert likely_busiest_user(conn, "public", "transactions") is None  # no statistics
        conn.execute("ANALYZE public.transactions")
        # the sample data has one clearly busiest user: the statistics name the same one
        assert likely_busiest_user(conn, "public", "transactions") == busiest_user(
            conn, "public", "transactions")
