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


def test_cluster_goes_where_the_server_account_can_reach(tmp_path):
    """A private parent (pytest's tmp, a home directory) is never opened up; the
    cluster goes to a neutral temp directory instead."""
    import pwd

    from spfp_console.localpg.cluster import _neutral_parent

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    mode_before = os.stat(tmp_path).st_mode
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres") if _has_user("postgres") else pwd.getpwnam("nobody")
        chosen = _neutral_parent(private, account)
        assert chosen != private
        assert str(chosen) in ("/tmp", "/var/tmp") or chosen.is_dir()
    else:
        assert _neutral_parent(private, None) == private
    assert os.stat(tmp_path).st_mode == mode_before


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
