"""Console tests: the real app (Pilot) on a real database of the test cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console_kit import open_session

from spfp_console.deployment import DeploymentSession


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

