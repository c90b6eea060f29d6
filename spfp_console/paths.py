"""Where the project's data lives: SQL scripts and runbooks next to the package."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = REPO_ROOT / "sql"
BASE_SCHEMA_DIR = SQL_DIR / "base"
SUPABASE_ROLES_SQL = BASE_SCHEMA_DIR / "00_supabase_roles.sql"
RUNBOOKS_DIR = REPO_ROOT / "runbooks"
DEFAULT_RUNBOOK = RUNBOOKS_DIR / "20260216_database_optimizations.toml"
MIGRATION_SQL = SQL_DIR / "20260216_database_optimizations.sql"
ROLLBACK_SQL = SQL_DIR / "20260216_rollback.sql"


def base_schema_files() -> list[Path]:
    """The base schema scripts in the order they apply (file name order)."""
    return sorted(BASE_SCHEMA_DIR.glob("*.sql"))
