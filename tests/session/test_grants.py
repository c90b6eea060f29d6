"""Grants that do not depend on who runs the migration.

Supabase's default privileges belong to the role that set them.  On a base without them,
or run by another superuser, the new audit table and views get no grants from defaults;
the migration grants what the API roles need itself, so ``run`` commits and validation
passes, the RLS probe included.  The same run of the migration without its GRANT
statements fails validation there (42501): the test can tell the difference.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from spfp_console.deployment import DeploymentSession
from spfp_console.events import Finding
from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL
from spfp_console.runbook import load_runbook
from spfp_console.session.operator import ScriptedOperator

VIEWS = ("dashboard_metrics", "crm_health_check", "corporate_health_check",
         "sales_health_check", "operational_health_check", "marketing_health_check")
OTHER_SUPERUSER = "spfp_other_admin"


def _without_supabase_defaults(db: Any) -> None:
    with db.connect() as conn:
        conn.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES"
                     " FROM anon, authenticated, service_role")
        conn.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON FUNCTIONS"
                     " FROM anon, authenticated, service_role")


@pytest.fixture
def other_superuser(base_db: Any) -> Any:
    with base_db.connect() as conn:
        conn.execute(f"CREATE ROLE {OTHER_SUPERUSER} LOGIN SUPERUSER")
    yield OTHER_SUPERUSER
    with base_db.connect() as conn:  # what it created here (the migration history) goes too
        conn.execute(f"DROP OWNED BY {OTHER_SUPERUSER}")
        conn.execute(f"DROP ROLE {OTHER_SUPERUSER}")


def _runbook(tmp_path: Path, migration: Path = MIGRATION_SQL) -> Path:
    text = DEFAULT_RUNBOOK.read_text(encoding="utf-8")
    rollback = load_runbook(DEFAULT_RUNBOOK).script("rollback")
    text = re.sub(r'(?m)^migration = ".*"$', f'migration = "{migration}"', text)
    text = re.sub(r'(?m)^rollback = ".*"$', f'rollback = "{rollback}"', text)
    path = tmp_path / "runbook.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _deploy(dsn: str, runbook: Path, tmp_path: Path, dbname: str) -> tuple[Any, Any]:
    operator = ScriptedOperator(name="alice", typed=[dbname, f"rollback {dbname}"])
    with DeploymentSession(runbook=load_runbook(runbook), dsn=dsn, log_dir=tmp_path / "logs",
                           operator="alice") as session:
        session.open()
        result = session.deploy(operator)
        findings = [f for f in session.state.findings if f.section == "privileges"
                    and f.source == "preflight"]
        rolled_back = session.rollback(operator) if result.run and result.run.ok else None
        session.close(result)
    return result, (findings, rolled_back)


def _table(result: Any, prefix: str) -> Any:
    return next(t for t in result.tables if t.title.startswith(prefix))


@pytest.mark.parametrize("who", ["base without Supabase's defaults", "another superuser"])
def test_run_commits_and_validation_passes_without_default_privileges(
    base_db: Any, other_superuser: str, tmp_path: Path, who: str
) -> None:
    if who == "another superuser":
        dsn = base_db.cluster.dsn(base_db.name, user=other_superuser)
    else:
        _without_supabase_defaults(base_db)
        dsn = base_db.dsn
    result, (findings, rolled_back) = _deploy(dsn, _runbook(tmp_path), tmp_path, base_db.name)
    assert (result.outcome, result.ok) == ("committed", True), result.message
    rls = _table(result, "RLS: a user sees only their own")
    assert rls.passed and len(rls.rows) >= 4
    assert rolled_back is not None and rolled_back.ok
    # The preflight said what the defaults would (not) have given.
    defaults = [f for f in findings if "default privileges" in f.message]
    assert len(defaults) == 1
    assert "anon, authenticated, service_role: nothing" in defaults[0].message
    assert "unlike Supabase's postgres role" in defaults[0].message


def test_the_api_roles_read_every_view_and_the_audit_table_under_rls(base_db: Any) -> None:
    _without_supabase_defaults(base_db)
    base_db.execute_file(MIGRATION_SQL)
    with base_db.connect() as conn:
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL ROLE authenticated")
            for view in VIEWS:
                conn.execute(f"SELECT * FROM public.{view} LIMIT 1")
            conn.execute("SELECT count(*) FROM public.automation_permissions_audit")
    privileges = dict(base_db.query(
        "select grantee, string_agg(privilege_type, ',' order by privilege_type)"
        " from information_schema.role_table_grants"
        " where table_name = 'automation_permissions_audit'"
        " and grantee in ('anon', 'authenticated', 'service_role') group by grantee"))
    assert privileges["authenticated"] == "SELECT"
    assert "anon" not in privileges  # an audit log has no anonymous reader
    assert set(privileges["service_role"].split(",")) >= {"SELECT", "INSERT", "DELETE"}


def test_without_its_grants_the_migration_fails_validation_there(
    base_db: Any, tmp_path: Path
) -> None:
    _without_supabase_defaults(base_db)
    text = MIGRATION_SQL.read_text(encoding="utf-8")
    stripped, n = re.subn(r"(?ms)^GRANT .*?;\n", "", text)
    assert n == 3
    migration = tmp_path / "20260216_without_grants.sql"
    migration.write_text(stripped, encoding="utf-8")
    result, _ = _deploy(base_db.dsn, _runbook(tmp_path, migration), tmp_path, base_db.name)
    assert result.outcome == "committed_validation_failed"
    rls = _table(result, "RLS: a user sees only their own")
    assert not rls.passed
    assert any("42501" in " ".join(row) for row in rls.rows)


def test_on_the_supabase_like_base_the_preflight_names_the_defaults(
    base_db: Any, tmp_path: Path
) -> None:
    with DeploymentSession(runbook=load_runbook(DEFAULT_RUNBOOK), dsn=base_db.dsn,
                           log_dir=tmp_path / "logs", operator="alice") as session:
        session.open()
        session.check()
        found = [f for f in session.state.findings if isinstance(f, Finding)
                 and "default privileges" in f.message]
    assert len(found) == 1
    assert found[0].message.startswith("new tables postgres creates in public get")
    assert "anon, authenticated, service_role: all privileges" in found[0].message
