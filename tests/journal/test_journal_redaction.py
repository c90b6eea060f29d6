"""Passwords never reach a log, a signature or a report."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import quote

import pytest
from journal_testkit import SSH_KEYGEN, header, make_ed25519_key, sample_events

from spfp_console import events as ev
from spfp_console.journal.record import JournalWriter, Target
from spfp_console.redact import (
    REDACTED,
    Redactor,
    redact_conninfo,
    redact_env,
    redact_patterns,
    secrets_in_conninfo,
)
from spfp_console.journal.sign import sign_log
from spfp_console.cli.journal_commands import cmd_export, cmd_verify


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:s3cret@db.example:5432/app",
         "postgresql://app:[redacted]@db.example:5432/app"),
        ("postgres://app:p@ss@db/app?sslmode=require",
         "postgres://app:[redacted]@db/app?sslmode=require"),
        ("postgresql://:onlypw@db/app", "postgresql://:[redacted]@db/app"),
        ("postgresql://db/app?user=u&password=qs&sslmode=require",
         "postgresql://db/app?user=u&password=[redacted]&sslmode=require"),
        ("host=db password=plain user=app", "host=db password=[redacted] user=app"),
        ("host=db password = 'with space\\' quote' user=app", "host=db password = '[redacted]' user=app"),
        ("password='unterminated", "password='[redacted]'"),
        ("postgresql://app@db/app", "postgresql://app@db/app"),
        ("host=db user=app", "host=db user=app"),
        ("connect to postgresql://u:x@h failed: timeout", "connect to postgresql://u:[redacted]@h failed: timeout"),
    ],
)
def test_redact_conninfo(text: str, expected: str) -> None:
    assert redact_conninfo(text) == expected
    assert redact_conninfo(expected) == expected  # idempotent


def test_patterns_cover_env_and_sql() -> None:
    assert redact_patterns("PGPASSWORD=hunter2 psql -h db") == "PGPASSWORD=[redacted] psql -h db"
    assert redact_patterns("export PGPASSWORD='a b'") == "export PGPASSWORD='[redacted]'"
    assert (redact_patterns("ALTER ROLE app WITH ENCRYPTED PASSWORD 'it''s';")
            == "ALTER ROLE app WITH ENCRYPTED PASSWORD '[redacted]';")
    # Ordinary SQL is left alone.
    sql = "CREATE INDEX CONCURRENTLY idx ON orders (user_id) WHERE status = 'open';"
    assert redact_patterns(sql) == sql


def test_secrets_in_conninfo_finds_the_values() -> None:
    assert secrets_in_conninfo("postgresql://u:p%40ss@h/db") == {"p%40ss", "p@ss"}
    assert secrets_in_conninfo("host=h password='a\\'b'") >= {"a'b"}
    assert secrets_in_conninfo("host=h user=u") == set()


def test_redactor_scrubs_known_values_everywhere() -> None:
    r = Redactor(["Tr0ub4dor&3"])
    assert r.text("error near 'Tr0ub4dor&3'") == f"error near '{REDACTED}'"
    assert r.text(quote("Tr0ub4dor&3", safe="")) == REDACTED
    assert r.value({"k Tr0ub4dor&3": ["x", "Tr0ub4dor&3"]}) == {f"k {REDACTED}": ["x", REDACTED]}
    assert redact_env({"PGPASSWORD": "zz", "OTHER": "uses zz"}) == {"PGPASSWORD": REDACTED, "OTHER": f"uses {REDACTED}"}


DSN_SECRET = "dsn-S3cret!"
ENV_SECRET = "env-PGPASS-42"
KV_SECRET = "kv secret 'quoted'"
PATTERN_ONLY_SECRET = "neverTold-xyz"


def test_no_password_reaches_any_log_signature_or_report(tmp_path: Path) -> None:
    dsn = f"postgresql://deployer:{quote(DSN_SECRET, safe='')}@db.example:5432/app"
    conninfo = "host=db.example password='kv secret \\'quoted\\'' user=deployer"
    env = {"PGPASSWORD": ENV_SECRET}
    secrets = secrets_in_conninfo(dsn) | secrets_in_conninfo(conninfo)
    assert DSN_SECRET in secrets and KV_SECRET in secrets

    h = header()
    h = type(h)(
        runbook_id=h.runbook_id,
        target=Target(host=f"db.example?{DSN_SECRET}", port=5432, database="app", user="deployer"),
        files={f"sql/{ENV_SECRET}.sql": "0" * 64},
        operator={"os_user": "alice", "hostname": f"bastion {KV_SECRET}"},
    )
    leaky: list[ev.Event] = [
        ev.OperatorNote(text=f"connected with {dsn}", who="alice"),
        ev.OperatorNote(text=f"conninfo was {conninfo}", who="alice"),
        ev.OperatorNote(text=f"PGPASSWORD={ENV_SECRET} psql", who=f"alice {ENV_SECRET}"),
        ev.OperatorNote(text=f"pasted postgresql://x:{PATTERN_ONLY_SECRET}@h/db", who="alice"),
        ev.StatementFailed(index=0, file="f.sql", line=1, sql=f"ALTER ROLE app PASSWORD '{PATTERN_ONLY_SECRET}'",
                           sqlstate="28P01", message=f"password authentication failed: {DSN_SECRET}",
                           detail=KV_SECRET),
        ev.ServerNotice(severity="NOTICE", message=f"raw {DSN_SECRET} {KV_SECRET} {ENV_SECRET}"),
        ev.ResultTable(title=ENV_SECRET, source="validation", columns=("c", DSN_SECRET),
                       rows=((KV_SECRET, f"password={PATTERN_ONLY_SECRET}"),)),
        ev.ChecklistItemToggled(phase="before", item_id="x", checked=True, who="alice",
                                evidence=f"PGPASSWORD={ENV_SECRET}", note=dsn),
        ev.OverrideRecorded(what=DSN_SECRET, reason=f"because {KV_SECRET}", who="alice"),
        ev.RollbackDecision(confirmed=False, typed=ENV_SECRET, who="alice"),
        *sample_events(),
    ]
    writer = JournalWriter.create(h, log_dir=tmp_path / "logs", secrets=secrets, env=env)
    for event in leaky:
        writer.record(event)
    writer.end("failed", message=f"auth failed for {dsn}")
    log = writer.path

    if SSH_KEYGEN is not None:
        sign_log(log, key_file=make_ed25519_key(tmp_path / "logs"), env={})
    for fmt, name in (("markdown", "report.md"), ("html", "report.html")):
        args = argparse.Namespace(log=str(log), format=fmt, output=str(tmp_path / name),
                                  allowed_signers=None, identity=None, namespace=None)
        assert cmd_export(args) == 0
    # Signed by a key nobody vouched for (6), or unsigned without ssh-keygen (5): never 0.
    assert cmd_verify(argparse.Namespace(log=str(log))) == (6 if SSH_KEYGEN is not None else 5)

    outputs = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.startswith("id_ed25519")]
    assert {p.suffix for p in outputs} >= {".toml", ".sig", ".md", ".html"}
    for path in outputs:
        data = path.read_bytes()
        # Fragments too: HTML/Markdown escaping must not hide a leak from this grep.
        for secret in (DSN_SECRET, ENV_SECRET, KV_SECRET, PATTERN_ONLY_SECRET, "S3cret",
                       quote(DSN_SECRET, safe=""), "kv secret", "PGPASS-42", "neverTold"):
            assert secret.encode() not in data, (path.name, secret)
    assert REDACTED in log.read_text()
