"""The console's first frame comes before its session is open: the header says where it
is connecting, keys that need the session are refused until then, and the opened
session is rendered like one handed over opened (``spfp-console console`` does this)."""

from __future__ import annotations

import threading
from typing import Any

from console_kit import OPERATOR, settle, wait_until

from spfp_console.deployment import DeploymentSession
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook
from spfp_console.ui.app import ConsoleApp, SessionOpening
from spfp_console.ui.launch import target_hint
from spfp_console.ui.widgets.session_header import SessionHeader


def header_text(app: ConsoleApp) -> str:
    content: Any = app.query_one(SessionHeader).content
    return "\n".join(text.plain for text in content.renderables)


async def test_keys_wait_for_the_session_that_opens_after_the_first_frame(base_db, tmp_path):
    runbook = load_runbook(DEFAULT_RUNBOOK)
    may_open = threading.Event()

    def new_session() -> DeploymentSession:
        assert may_open.wait(60), "the test never let the session open"
        return DeploymentSession(runbook=runbook, dsn=base_db.dsn, log_dir=tmp_path,
                                 operator=OPERATOR, environment="staging")

    app = ConsoleApp(SessionOpening(new_session, target="alice@db.example:5432/app",
                                    runbook_id=runbook.id, operator=OPERATOR,
                                    environment="staging"))
    said: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (said.append(message), notify(message, **kw))[1]
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            header = header_text(app)
            # the database first: at 80 columns the end of the line is what gets cut
            assert "connecting to app on alice@db.example:5432" in header, header
            assert "read-write" not in header and f"runbook {runbook.id}" in header, header
            await pilot.press("p")  # the preflight needs the session
            assert app.session is None and not app.state.findings
            assert any(m.startswith("still connecting to alice@db.example:5432/app: check"
                                    " can start once the session is open") for m in said), said

            may_open.set()
            await wait_until(pilot, lambda: app.session is not None)
            session = app.session
            assert session is not None and session is app.opened_session
            await settle(app, pilot)
            header = header_text(app)
            info = session.info
            assert "read-write" in header and info is not None, header
            assert f"{info.dbname} on {info.user}@{info.host}:{info.port}" in header, header
            assert app.state.phases and app.state.events == session.state.events

            await pilot.press("p")  # now it runs
            await settle(app, pilot)
            assert app.last_result is not None and app.last_result.workflow == "check"
    finally:
        if app.opened_session is not None:
            app.opened_session.close(app.last_result)


async def test_a_session_that_fails_to_open_ends_the_app_with_the_error(base_db, tmp_path):
    runbook = load_runbook(DEFAULT_RUNBOOK)

    def new_session() -> DeploymentSession:
        return DeploymentSession(runbook=runbook, dsn=f"{base_db.dsn} dbname=no_such_db",
                                 log_dir=tmp_path, operator=OPERATOR)

    app = ConsoleApp(SessionOpening(new_session, target="x", runbook_id=runbook.id,
                                    operator=OPERATOR))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.open_error is not None)
    from spfp_console.engine.errors import ConnectError

    assert isinstance(app.open_error, ConnectError) and "no_such_db" in str(app.open_error)
    assert app.session is None and app.opened_session is None
    assert not list(tmp_path.glob("*.deploy-log.toml"))


def test_the_target_before_connecting_names_no_password(monkeypatch):
    for name in ("DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    assert target_hint("postgresql://bob:s3cret@db.example:6543/app?sslmode=require") \
        == "bob@db.example:6543/app"
    assert target_hint("host=/tmp/sock port=5433 dbname=fp user=postgres password='a b'") \
        == "postgres@local socket:5433/fp"
    monkeypatch.setenv("DATABASE_URL", "postgres://carol:pw@h/x")
    assert target_hint(None) == "carol@h:5432/x"
