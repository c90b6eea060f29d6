"""Console tests: the real app (Pilot) on a real database of the test cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spfp_console.deployment import DeploymentSession
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook


OPERATOR = "alice"


def open_session(db: Any, log_dir: Path) -> DeploymentSession:
    session = DeploymentSession(runbook=load_runbook(DEFAULT_RUNBOOK), dsn=db.dsn,
                                log_dir=log_dir, operator=OPERATOR, environment="staging")
    session.open()
    return session


@pytest.fixture
def base_session(base_db: Any, tmp_path: Path) -> Iterator[DeploymentSession]:
    """An opened session on a fresh database with the base schema (nothing applied)."""
    session = open_session(base_db, tmp_path / "logs")
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def migrated_session(migrated_db: Any, tmp_path: Path) -> Iterator[DeploymentSession]:
    """An opened session on a fresh database where the migration is applied."""
    session = open_session(migrated_db, tmp_path / "logs")
    try:
        yield session
    finally:
        session.close()

