"""The human report: content, escaping, self-containment, verification status."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from journal_testkit import allowed_signers, make_ed25519_key, sample_events, write_session

from spfp_console import events as ev
from spfp_console.journal.export import export_log
from spfp_console.journal.sign import sign_log
from spfp_console.journal.verify import verify_log


def _report(log: Path, fmt: str) -> str:
    return export_log(log, fmt, verify_log(log))


def test_markdown_report_has_every_part_of_a_deployment_log(tmp_path: Path) -> None:
    log = write_session(tmp_path, sample_events())
    md = _report(log, "markdown")
    assert md.startswith("# Deployment log: 20260216-optimizations on app\n")
    assert "**Verification: UNSIGNED**: UNSIGNED: 16 events, chain intact, session rolled\\_back" in md
    # who / where / when / target
    for fact in ("**Operator (OS user)**: alice", "**Console host**: bastion-1",
                 "**Target**: deployer@db.example:5432/app", "**Server version**: 16.4",
                 "**Outcome**: rolled\\_back", "**Started (UTC)**: "):
        assert fact in md
    # checklist: who ticked what, when
    assert "### Phase: before" in md
    assert re.search(r"\| \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(\+[\d.]+ s\) \| backup-taken \| ticked \| alice \| "
                     r"pg\\_dump at 09:58 \| s3://backups/app-0958.dump \|", md)
    # SQL timeline with durations and SQLSTATE
    # The timeline's words and statuses are the terminal's (session.presentation).
    assert ("`CREATE INDEX CONCURRENTLY idx_orders_user ON orders (user_id);` | 12.250 s |"
            " ok 20260216\\_database\\_optimizations.sql:3 CREATE INDEX (12250 ms) | ok |") in md
    assert ("| 0.500 s | FAILED 20260216\\_database\\_optimizations.sql:9 SQLSTATE 23503: insert or"
            " update violates foreign key constraint at character 12 of the statement detail:"
            " Key (user\\_id)=(7) is not present. | fail |") in md
    assert "| == run rolled\\_back: 1 ok, 1 failed, 13.00 s rolled back after failure | fail |" in md
    assert "NOTICE 42P07: relation exists, skipping" in md
    assert "waiting 1.5s for a lock held by pid 42 (report, since 2026-02-16T10:00:00Z)" in md
    # results, claims vs measured, overrides, rollback decisions, notes
    assert "### Preflight: Preflight (FAILED)" in md
    assert "| no long xacts | fail | pid 42 &lt;idle&gt; |" in md
    assert "### Performance: claims vs measured: Query timings" in md
    assert "| orders by user | 5 | 3.2 |" in md
    assert "| alice | preflight: no long xacts | pid 42 is the reporting job, safe |" in md
    assert "| alice | confirmed | ROLLBACK app | 3 | /tmp/at-risk.csv |" in md
    assert "Retry tomorrow after the orphan cleanup." in md
    assert "sql/20260216\\_database\\_optimizations.sql" in md


def test_html_report_is_one_self_contained_escaped_file(tmp_path: Path) -> None:
    hostile = "<script>alert('x')</script>"
    log = write_session(tmp_path, [
        *sample_events(),
        ev.OperatorNote(text=hostile, who='"><img src=x onerror=alert(1)>'),
        ev.ResultTable(title=hostile, source="validation", columns=(hostile,), rows=((hostile,),)),
    ])
    # Signed and checked against allowed_signers: the one case a report may call OK.
    key = make_ed25519_key(tmp_path)
    sign_log(log, key_file=key, env={})
    allowed = allowed_signers(tmp_path, "alice@example.com", key.with_suffix(".pub"))
    page = export_log(log, "html", verify_log(log, allowed_signers=allowed))
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    # No external assets: no linking tags, no CSS imports or urls.
    assert not re.search(r"<(link|img|script|iframe)\b|@import|url\(", page)

    class Collector(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []
            self.text: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append(tag)
            assert not {name for name, _ in attrs} & {"src", "href", "onerror", "onload"}

        def handle_data(self, data: str) -> None:
            self.text.append(data)

    parser = Collector()
    parser.feed(page)
    assert set(parser.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p",
                                "section", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td",
                                "code", "footer"}
    text = "".join(parser.text)
    assert hostile in text  # shown to the reader as text
    assert "Verification: OK" in text
    assert 'class="status ok"' in page


def test_reports_say_when_verification_failed(tmp_path: Path) -> None:
    log = write_session(tmp_path, sample_events())
    data = log.read_bytes()
    log.write_bytes(data.replace(b"Retry tomorrow", b"Retry  never  ", 1))
    md = _report(log, "markdown")
    assert "**Verification: FAILED**: FAILED: seq 15 edited: content does not match its hash" in md
    assert 'class="status fail"' in _report(log, "html")


def test_report_of_a_truncated_log_stops_where_the_log_does(tmp_path: Path) -> None:
    log = write_session(tmp_path, sample_events(), outcome=None)
    data = log.read_bytes()
    log.write_bytes(data[:-10])
    md = _report(log, "markdown")
    assert "FAILED: seq 15 truncated" in md
    assert "The report stops early: event #15 truncated" in md
    assert "**Outcome**: unknown (log incomplete)" in md


def test_report_of_an_empty_session(tmp_path: Path) -> None:
    log = write_session(tmp_path, [], outcome="cancelled")
    md = _report(log, "markdown")
    for line in ("No checklist item was ticked.", "No SQL was run.",
                 "No preflight, rehearsal, validation or performance results.",
                 "No overrides, rollback decisions or notes.", "**Outcome**: cancelled"):
        assert line in md
