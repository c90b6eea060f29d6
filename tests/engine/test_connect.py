"""Connecting the way libpq tools do, with clear one-line errors and no password leaks."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from spfp_console.engine.connect import (
    Target,
    connect,
    describe_target,
    side_connection,
)
from spfp_console.engine.errors import ConnectError
from spfp_console.localpg.cluster import SUPERUSER_PASSWORD

WRONG = "wrong-Pa55word-xyz"


def test_connect_explicit_dsn_and_describe(base_db) -> None:
    with connect(base_db.dsn) as conn:
        assert conn.autocommit
        info = describe_target(conn)
    assert info.dbname == base_db.name
    assert info.user == "postgres"
    assert info.is_superuser
    assert info.application_name == "spfp-console"
    assert info.server_version_num >= 150000
    assert info.server_version.split(".")[0] == str(info.server_version_num // 10000)


def test_database_url_then_libpq_env(base_db, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", base_db.tcp_dsn())
    with connect(None, application_name="via-env") as conn:
        assert conn.info.dbname == base_db.name
        assert conn.info.host == "127.0.0.1"
        assert describe_target(conn).application_name == "via-env"
    # No DSN, no DATABASE_URL: libpq reads PG* variables itself.
    monkeypatch.delenv("DATABASE_URL")
    cluster = base_db.cluster
    monkeypatch.setenv("PGHOST", str(cluster.socket_dir))
    monkeypatch.setenv("PGPORT", str(cluster.port))
    monkeypatch.setenv("PGUSER", "postgres")
    monkeypatch.setenv("PGDATABASE", base_db.name)
    with connect() as conn:
        assert conn.info.dbname == base_db.name


def test_target_never_shows_password_but_side_connection_uses_it(base_db) -> None:
    target = Target(base_db.tcp_dsn())
    for text in (repr(target), str(target), target.display):
        assert SUPERUSER_PASSWORD not in text
    assert target.display == f"postgres@127.0.0.1:{base_db.cluster.port}/{base_db.name}"
    with target.connect() as conn:
        # TCP requires the password: the side connection can only work if it was kept.
        assert SUPERUSER_PASSWORD not in conn.info.dsn
        with side_connection(conn) as side:
            assert side.info.backend_pid != conn.info.backend_pid
            assert side.execute("select current_database()").fetchone() == (base_db.name,)


def _connect_error(dsn: str, timeout: float = 10) -> ConnectError:
    with pytest.raises(ConnectError) as info:
        connect(dsn, connect_timeout=timeout)
    return info.value


def test_wrong_password(base_db) -> None:
    err = _connect_error(base_db.tcp_dsn(password=WRONG))
    text = str(err)
    assert "password authentication failed" in text
    assert f"postgres@127.0.0.1:{base_db.cluster.port}/{base_db.name}" in text
    assert WRONG not in text and "\n" not in text
    assert err.reason == "auth"
    assert err.__cause__ is None and err.__suppress_context__


def test_unknown_database(pg_cluster) -> None:
    err = _connect_error(pg_cluster.tcp_dsn("no_such_db"))
    assert "'no_such_db' does not exist" in str(err)
    assert SUPERUSER_PASSWORD not in str(err)
    assert err.reason == "unknown_database"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused() -> None:
    port = _free_port()  # bound then closed: nothing listens there
    err = _connect_error(f"postgresql://u:{WRONG}@127.0.0.1:{port}/db")
    assert "connection refused" in str(err)
    assert f"u@127.0.0.1:{port}/db" in str(err)
    assert WRONG not in str(err)
    assert err.reason == "refused"


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A loopback TCP port whose connections the kernel accepts but nobody answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


def test_never_answering_host_times_out(silent_listener) -> None:
    started = time.monotonic()
    err = _connect_error(
        f"host=127.0.0.1 port={silent_listener} user=u password={WRONG} dbname=db",
        timeout=2,
    )
    elapsed = time.monotonic() - started
    assert elapsed < 6, f"connect hung for {elapsed:.1f} s"
    assert "no answer within 2 s" in str(err)
    assert WRONG not in str(err)
    assert err.reason == "timeout"


def test_unparsable_dsn_does_not_echo_it() -> None:
    with pytest.raises(ConnectError) as info:
        Target("host=x password=secret part")
    assert "secret" not in str(info.value) and "part" not in str(info.value)
    assert info.value.reason == "bad_dsn"


def _no_libpq_env(monkeypatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PG") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


def test_pgpass_supplies_the_password(base_db, tmp_path, monkeypatch) -> None:
    _no_libpq_env(monkeypatch)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{base_db.cluster.port}:*:postgres:{SUPERUSER_PASSWORD}\n")
    pgpass.chmod(0o600)  # libpq ignores a .pgpass others can read
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    target = Target(base_db.tcp_dsn(password=None))
    assert target.secrets() == ()
    with target.connect() as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        with side_connection(conn) as side:  # the monitor's connection finds it too
            assert side.execute("SELECT 1").fetchone() == (1,)


def test_service_file_names_the_target(base_db, tmp_path, monkeypatch) -> None:
    _no_libpq_env(monkeypatch)
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[spfp]\nhost=127.0.0.1\nport={base_db.cluster.port}\ndbname={base_db.name}\n"
        f"user=postgres\npassword={SUPERUSER_PASSWORD}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    with connect("service=spfp") as conn:
        assert conn.info.dbname == base_db.name
    monkeypatch.setenv("PGSERVICE", "spfp")
    target = Target(None)
    assert target.display == f"postgres@127.0.0.1:{base_db.cluster.port}/{base_db.name}"
    assert SUPERUSER_PASSWORD not in repr(target)
    with target.connect() as conn:
        assert conn.info.dbname == base_db.name


def test_sslmode_require_against_a_server_without_tls(base_db) -> None:
    # The test server has no certificate: sslmode=require must refuse, clearly, rather
    # than silently fall back to an unencrypted connection.
    with pytest.raises(ConnectError) as info:
        connect(base_db.tcp_dsn() + "?sslmode=require", connect_timeout=3)
    message = str(info.value)
    assert "SSL" in message
    assert SUPERUSER_PASSWORD not in message
    assert "\n" not in message


def test_sessions_check_that_their_client_is_still_there(base_db) -> None:
    """Issue 8.11: a backend notices a vanished client while running a statement."""
    from spfp_console.engine.connect import CLIENT_CONNECTION_CHECK_INTERVAL, connect

    assert CLIENT_CONNECTION_CHECK_INTERVAL == "2s"
    for autocommit in (True, False):
        with connect(base_db.dsn, autocommit=autocommit) as conn:
            row = conn.execute("show client_connection_check_interval").fetchone()
            assert row == ("2s",)
