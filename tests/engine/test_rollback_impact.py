"""Rollback impact on a real PostgreSQL: exact counts, CSV export, absent objects."""

from __future__ import annotations

import csv
import stat

import pytest
from analysis_testkit import add_users

from spfp_console.engine.rollback_impact import export_at_risk, rollback_impact
from spfp_console.paths import DEFAULT_RUNBOOK, ROLLBACK_SQL
from spfp_console.runbook import load_runbook


@pytest.fixture(scope="module")
def runbook():
    return load_runbook(DEFAULT_RUNBOOK)


def _seed_at_risk(conn):
    """3 audit rows, 2 + 1 deleted_at values, 1 edited sent_atas row.  Returns expectations."""
    user_a, user_b = add_users(conn, 2)
    for user in (user_a, user_b):
        conn.execute(
            "INSERT INTO public.automation_permissions (user_id) VALUES (%s)", (user,)
        )
    audit_ids = [
        conn.execute(
            "INSERT INTO public.automation_permissions_audit"
            " (user_id, changed_by, change_type, previous_value, new_value)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id::text",
            (user, "ops@example.com", change, "a,b", 'new "quoted", value'),
        ).fetchone()[0]
        for user, change in (
            (user_a, "enabled"),
            (user_a, "whitelist_added"),
            (user_b, "disabled"),
        )
    ]
    atas = [
        conn.execute(
            "INSERT INTO public.sent_atas (user_id, client_name, type, channel, content,"
            " recipient) VALUES (%s, %s, 'reuniao', 'email', 'x', 'r@example.com')"
            " RETURNING id::text",
            (user_a, f"client {i}"),
        ).fetchone()[0]
        for i in range(4)
    ]
    deleted_atas = sorted(atas[:2])
    conn.execute(
        "UPDATE public.sent_atas SET deleted_at = now() - interval '1 day'"
        " WHERE id = ANY(%s::uuid[])",
        (deleted_atas,),
    )
    # The trigger moves updated_at of the two soft-deleted rows; make one more edit.
    conn.execute(
        "UPDATE public.sent_atas SET subject = 'edited' WHERE id = %s", (atas[3],)
    )
    edited = sorted([*deleted_atas, atas[3]])
    tasks = [
        conn.execute(
            "INSERT INTO public.operational_tasks (user_id, title) VALUES (%s, %s)"
            " RETURNING id::text",
            (user_a, f"task {i}"),
        ).fetchone()[0]
        for i in range(3)
    ]
    conn.execute(
        "UPDATE public.operational_tasks SET deleted_at = now() WHERE id = %s",
        (tasks[0],),
    )
    return {
        "audit": sorted(audit_ids),
        "deleted_atas": deleted_atas,
        "deleted_tasks": [tasks[0]],
        "edited_atas": edited,
    }


def _read(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_counts_exactly_what_was_inserted(migrated_db, runbook):
    with migrated_db.connect() as conn:
        _seed_at_risk(conn)
        impact = rollback_impact(conn, runbook)
        assert conn.info.transaction_status.name == "IDLE"
    assert impact.audit_rows == 3
    assert impact.deleted_at == {
        "sent_atas": 2,
        "user_files": 0,
        "operational_tasks": 1,
        "sales_leads": 0,
        "corporate_activities": 0,
        "marketing_posts": 0,
    }
    assert impact.updated_at_lost == 3
    assert impact.total == 3 + 3 + 3
    table = impact.table
    assert table.source == "rollback-impact"
    rows = {(r[0], r[1]): r for r in table.rows}
    assert rows[("public.automation_permissions_audit", "(whole table)")][3:5] == (
        "3",
        "warn",
    )
    assert rows[("public.sent_atas", "deleted_at")][3:5] == ("2", "warn")
    assert rows[("public.user_files", "deleted_at")][3:5] == ("0", "pass")
    assert (
        len(table.rows) == 1 + 7
    )  # the audit table, six deleted_at and one updated_at


def test_export_writes_the_rows_at_risk(migrated_db, runbook, tmp_path):
    out = tmp_path / "export"
    with migrated_db.connect() as conn:
        expected = _seed_at_risk(conn)
        export = export_at_risk(conn, out, runbook)
        assert conn.info.transaction_status.name == "IDLE"
    paths = export.files
    assert export.folder.parent == out and export.folder.name.startswith("rollback-")
    assert all(p.parent == export.folder for p in paths)
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "automation_permissions_audit.csv",
            "sent_atas.updated_at.csv",
            "sent_atas.deleted_at.csv",
            "user_files.deleted_at.csv",
            "operational_tasks.deleted_at.csv",
            "sales_leads.deleted_at.csv",
            "corporate_activities.deleted_at.csv",
            "marketing_posts.deleted_at.csv",
        ]
    )
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE(export.folder.stat().st_mode) == 0o700
    out = export.folder

    audit = _read(out / "automation_permissions_audit.csv")
    assert sorted(r["id"] for r in audit) == expected["audit"]
    assert {r["new_value"] for r in audit} == {'new "quoted", value'}
    assert set(audit[0]) >= {"id", "user_id", "changed_at", "changed_by", "change_type"}

    deleted = _read(out / "sent_atas.deleted_at.csv")
    assert list(deleted[0]) == ["id", "deleted_at"]
    assert [r["id"] for r in deleted] == expected["deleted_atas"]
    assert all(r["deleted_at"] for r in deleted)
    assert [r["id"] for r in _read(out / "operational_tasks.deleted_at.csv")] == (
        expected["deleted_tasks"]
    )
    assert _read(out / "user_files.deleted_at.csv") == []
    assert (out / "user_files.deleted_at.csv").read_text() == "id,deleted_at\n"
    updated = _read(out / "sent_atas.updated_at.csv")
    assert [r["id"] for r in updated] == expected["edited_atas"]


def test_a_second_export_never_overwrites_the_first(migrated_db, runbook, tmp_path):
    """Issue 8.4: the first export was the only copy of the audit rows."""
    with migrated_db.connect() as conn:
        expected = _seed_at_risk(conn)
        first = export_at_risk(conn, tmp_path, runbook)
        conn.execute("DELETE FROM public.automation_permissions_audit")
        second = export_at_risk(conn, tmp_path, runbook)
    assert first.folder != second.folder
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [first.folder.name, second.folder.name]
    )
    kept = _read(first.folder / "automation_permissions_audit.csv")
    assert sorted(r["id"] for r in kept) == expected["audit"]
    assert _read(second.folder / "automation_permissions_audit.csv") == []


def test_export_never_writes_through_an_existing_file(migrated_db, runbook, tmp_path):
    from spfp_console.engine.rollback_impact import _export_items, _items

    target = tmp_path / "elsewhere.txt"
    target.write_text("precious")
    (tmp_path / "automation_permissions_audit.csv").symlink_to(target)
    with migrated_db.connect() as conn, pytest.raises(FileExistsError):
        _export_items(conn, _items(conn, runbook), tmp_path)
    assert target.read_text() == "precious"


def test_absent_objects_are_reported_and_skipped(migrated_db, runbook, tmp_path):
    with migrated_db.connect() as conn:
        _seed_at_risk(conn)
        conn.execute("DROP TABLE public.automation_permissions_audit")
        conn.execute("DROP VIEW public.operational_health_check")
        conn.execute("ALTER TABLE public.operational_tasks DROP COLUMN deleted_at")
        impact = rollback_impact(conn, runbook)
        paths = export_at_risk(conn, tmp_path, runbook).files
    assert impact.audit_rows == 0
    assert "operational_tasks" not in impact.deleted_at
    assert impact.deleted_at["sent_atas"] == 2
    rows = {(r[0], r[1]): r for r in impact.table.rows}
    assert rows[("public.automation_permissions_audit", "(whole table)")][3:5] == (
        "-",
        "info",
    )
    names = {p.name for p in paths}
    assert "automation_permissions_audit.csv" not in names
    assert "operational_tasks.deleted_at.csv" not in names
    assert "sent_atas.deleted_at.csv" in names


def test_after_the_rollback_nothing_is_at_risk(migrated_db, runbook, tmp_path):
    migrated_db.execute_file(ROLLBACK_SQL)
    with migrated_db.connect() as conn:
        impact = rollback_impact(conn, runbook)
        paths = export_at_risk(conn, tmp_path / "x", runbook).files
    assert impact.total == 0
    assert all(r[4] == "info" for r in impact.table.rows)
    assert paths == []


def test_export_defaults_to_the_shipped_runbook(migrated_db, tmp_path):
    with migrated_db.connect() as conn:
        paths = export_at_risk(conn, tmp_path).files
    assert len(paths) == 8


# --------------------------------------------------------------- counted again under lock


def _audit_row(conn, user):
    return conn.execute(
        "INSERT INTO public.automation_permissions_audit (user_id, changed_by, change_type)"
        " VALUES (%s, 'app', 'enabled') RETURNING id::text",
        (user,),
    ).fetchone()[0]


def _rollback_with(migrated_db, recheck, **kwargs):
    from spfp_console.engine.executor import run_script
    from spfp_console.engine.script import load_script

    return run_script(migrated_db.dsn, load_script(ROLLBACK_SQL),
                      before_statements=recheck, monitor_interval=0, **kwargs)


def test_rows_written_after_the_export_are_exported_under_lock(
    migrated_db, runbook, tmp_path
):
    """Issue 8.5: a row the application commits between the export and the rollback is
    exported from inside the rollback's transaction, and the real count is reported."""
    import threading
    import time

    from spfp_console.engine.rollback_impact import ImpactRecheck

    with migrated_db.connect() as conn:
        expected = _seed_at_risk(conn)
        impact = rollback_impact(conn, runbook)
        export = export_at_risk(conn, tmp_path, runbook)
        (user,) = conn.execute(
            "select user_id from public.automation_permissions limit 1").fetchone()
    events = []
    recheck = ImpactRecheck(runbook, confirmed=impact,
                            export_folder=export.folder, on_event=events.append)
    # The application inserts and has not committed yet when the rollback starts: the
    # recheck must wait for it (the table lock), then see and export its row.
    with migrated_db.connect() as app:
        app.execute("BEGIN")
        late = _audit_row(app, user)
        result = {}
        worker = threading.Thread(
            target=lambda: result.setdefault("run", _rollback_with(migrated_db, recheck))
        )
        worker.start()
        deadline = time.monotonic() + 10
        while not migrated_db.scalar(
            "select count(*) from pg_locks where not granted"
            " and relation = 'public.automation_permissions_audit'::regclass"
        ):
            assert time.monotonic() < deadline, "the recheck never waited for the lock"
            time.sleep(0.02)
        app.execute("COMMIT")
        worker.join(30)
    run = result["run"]
    assert run.outcome == "committed", run.message
    assert recheck.total == impact.total + 1
    # the first export is untouched; the one under lock holds the late row too
    assert sorted(r["id"] for r in _read(export.folder / "automation_permissions_audit.csv")
                  ) == expected["audit"]
    under_lock = export.folder / "at-rollback" / "automation_permissions_audit.csv"
    assert sorted(r["id"] for r in _read(under_lock)) == sorted([*expected["audit"], late])
    assert recheck.exported is not None
    assert recheck.exported.rows[under_lock] == len(expected["audit"]) + 1
    (table, exported) = [e for e in events if getattr(e, "source", "") == "rollback-impact"]
    assert table.title == (
        "Data the rollback destroys, counted again under lock: "
        f"{impact.total + 1} rows and values, +1 since the {impact.total} confirmed"
    )
    assert table.rows == (("public.automation_permissions_audit", "(whole table)",
                           str(len(expected["audit"])), str(len(expected["audit"]) + 1),
                           "warn"),)
    assert exported.title.endswith(f"to {export.folder / 'at-rollback'}")
    assert migrated_db.scalar("select to_regclass('public.automation_permissions_audit')"
                              ) is None


def test_without_an_export_a_grown_impact_stops_the_rollback(migrated_db, runbook):
    from spfp_console.engine.rollback_impact import ImpactRecheck

    with migrated_db.connect() as conn:
        _seed_at_risk(conn)
        impact = rollback_impact(conn, runbook)
        (user,) = conn.execute(
            "select user_id from public.automation_permissions limit 1").fetchone()
        _audit_row(conn, user)
        _audit_row(conn, user)
    recheck = ImpactRecheck(runbook, confirmed=impact.total, export_folder=None)
    run = _rollback_with(migrated_db, recheck)
    assert run.outcome == "refused" and not run.ok
    assert run.statements_ok == 0
    assert f"2 more than the {impact.total} you confirmed" in run.message
    assert "nothing was changed" in run.message
    assert migrated_db.scalar("select count(*) from public.automation_permissions_audit") == 5


def test_an_unchanged_impact_rolls_back_without_an_export(migrated_db, runbook):
    from spfp_console.engine.rollback_impact import ImpactRecheck

    with migrated_db.connect() as conn:
        _seed_at_risk(conn)
        impact = rollback_impact(conn, runbook)
    recheck = ImpactRecheck(runbook, confirmed=impact.total, export_folder=None)
    run = _rollback_with(migrated_db, recheck)
    assert run.outcome == "committed", run.message
    assert recheck.total == impact.total and recheck.exported is None


def test_the_recheck_waits_at_most_lock_timeout(migrated_db, runbook):
    from spfp_console.engine.rollback_impact import ImpactRecheck

    recheck = ImpactRecheck(runbook, confirmed=0, export_folder=None)
    with migrated_db.connect() as app:
        app.execute("BEGIN")
        app.execute("LOCK TABLE public.sent_atas IN ROW EXCLUSIVE MODE")
        run = _rollback_with(migrated_db, recheck, lock_timeout="300ms")
        app.execute("ROLLBACK")
    assert run.outcome == "refused"
    assert "55P03" in run.message and "nothing was changed" in run.message
    assert migrated_db.scalar("select to_regclass('public.automation_permissions_audit')"
                              ) is not None
