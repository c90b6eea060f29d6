"""The harness itself: a real server, fresh databases, and not running as root."""

from __future__ import annotations

import os


def test_server_is_real_and_unprivileged(base_db):
    version = base_db.scalar("SHOW server_version_num")
    assert int(version) >= 150000
    # The postmaster's data directory is owned by a non-root account when we are root.
    owner = os.stat(base_db.cluster.data_dir).st_uid
    if os.geteuid() == 0:
        assert owner != 0


def test_each_test_gets_a_fresh_database(base_db, empty_db):
    assert base_db.name != empty_db.name
    assert base_db.scalar("SELECT to_regclass('public.categories') IS NOT NULL") is True
    assert empty_db.scalar("SELECT to_regclass('public.categories') IS NOT NULL") is False


def test_tcp_requires_the_password(base_db):
    import psycopg
    import pytest

    with psycopg.connect(base_db.tcp_dsn()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(base_db.tcp_dsn(password="wrong"))
