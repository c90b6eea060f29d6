"""The analysis functions on the sample data generator's realistic data (real PostgreSQL)."""

from __future__ import annotations

import csv

import pytest

from spfp_console.engine.claims import measure_claims
from spfp_console.engine.preflight import run_preflight
from spfp_console.engine.rollback_impact import export_at_risk, rollback_impact
from spfp_console.engine.validate import (
    check_audit_rls,
    explain_headline_queries,
    run_validation,
)
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook

sampledata = pytest.importorskip("spfp_console.sampledata")


@pytest.fixture(scope="module")
def runbook():
    return load_runbook(DEFAULT_RUNBOOK)


def test_preflight_blocks_on_sample_duplicates(base_db, runbook):
    with base_db.connect() as conn:
        sampledata.load_sample_data(conn, scale=0.1, with_duplicate_categories=True)
        expected = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM public.categories"
            " GROUP BY user_id, lower(name) HAVING count(*) > 1) d"
        ).fetchone()[0]
        report = run_preflight(conn, runbook)
    assert expected > 0
    assert len(report.duplicates["unique_user_category_name"]) == expected
    assert not report.passed
    assert report.state == "not_applied"


def test_validation_and_impact_on_migrated_sample_data(migrated_db, runbook, tmp_path):
    with migrated_db.connect() as conn:
        sampledata.load_sample_data(conn, scale=0.2)
        conn.execute("ANALYZE")
        assert run_validation(conn, runbook).passed
        assert check_audit_rls(conn).passed
        plans = {r[0]: r for r in explain_headline_queries(conn, runbook).rows}
        assert all(r[3] in ("pass", "warn") for r in plans.values())
        claims = measure_claims(conn, runbook)
        assert claims.passed
        impact = rollback_impact(conn, runbook)
        audit_rows = conn.execute(
            "SELECT count(*) FROM public.automation_permissions_audit"
        ).fetchone()[0]
        deleted = conn.execute(
            "SELECT count(*) FROM public.sales_leads WHERE deleted_at IS NOT NULL"
        ).fetchone()[0]
        paths = {p.name: p for p in export_at_risk(conn, tmp_path, runbook).files}
    assert impact.audit_rows == audit_rows
    assert impact.deleted_at["sales_leads"] == deleted
    with paths["automation_permissions_audit.csv"].open(newline="") as f:
        assert len(list(csv.DictReader(f))) == audit_rows
    with paths["sales_leads.deleted_at.csv"].open(newline="") as f:
        assert len(list(csv.DictReader(f))) == deleted
