"""Turn a log into a human deployment report (Markdown or one self-contained HTML file).

In the spirit of a paper DEPLOYMENT-LOG: who ran what, where and when; every checklist
tick; the SQL timeline with durations and SQLSTATEs; validation, rehearsal and
performance tables (claims vs measured); overrides and rollback decisions; and whether
the log itself verifies.  The report is built once as a small document model and rendered
twice, so both formats always say the same thing.

Every string is run through pattern redaction again on the way out, as a second line of
defence for logs written by older versions or edited by hand.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spfp_console.events import Event, GateChecked, StatementFailed, UnknownEventKind
from spfp_console.journal.read import Journal, JournalEntry, read_journal
from spfp_console.journal.record import SESSION_ENDED
from spfp_console.redact import redact_patterns
from spfp_console.journal.verify import VerifyResult
from spfp_console.session.presentation import describe, first_sql_line
from spfp_console.session.runbook_guide import TroubleshootingEntry, troubleshooting_from

STATUS_LABELS = {"ok": "OK", "failed": "FAILED", "unsigned": "UNSIGNED",
                 "unchecked": "SIGNER NOT CHECKED", "partial": "PARTIALLY SIGNED"}

# --------------------------------------------------------------------------- document model


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    code_columns: frozenset[int] = frozenset()
    """Columns rendered as code (SQL)."""
    status_column: int | None = None
    """Column whose pass/fail/warn value colours the row in HTML."""


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[tuple[str, Table]] = field(default_factory=list)
    """(caption, table) pairs; an empty caption means none."""


@dataclass
class Report:
    title: str
    status_ok: bool
    status_line: str
    sections: list[Section]
    status_label: str = "OK"
    """OK, FAILED, UNSIGNED, SIGNER NOT CHECKED or PARTIALLY SIGNED: what the reviewer
    reads first."""


def _s(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_s(v) for v in value)
    return redact_patterns(str(value))


def _when(entry: JournalEntry) -> str:
    # "2026-02-16T10:00:00.123456Z" -> "2026-02-16 10:00:00Z", plus the session offset.
    stamp = entry.at.replace("T", " ")
    if "." in stamp:
        stamp = stamp.split(".", 1)[0] + "Z"
    return f"{stamp} (+{_duration(entry.t)})"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.3f} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)} min {secs:04.1f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)} h {int(minutes):02d} min {int(secs):02d} s"


def _session_section(journal: Journal) -> Section:
    h = journal.header
    target = h.get("target", {}) if isinstance(h.get("target"), dict) else {}
    ended = journal.ended
    section = Section("Session")
    who = _s(h.get("os_user")) or "unknown"
    where = _s(h.get("hostname"))
    if h.get("ssh_client_address"):
        where += f" (over SSH from {_s(h.get('ssh_client_address'))})"
    facts = [
        ("Runbook", _s(h.get("runbook_id"))),
        ("Operator (OS user)", who),
        ("Console host", where),
        ("SSH key", _s(h.get("ssh_key_fingerprint")) or "not discoverable"),
        ("Started (UTC)", _s(h.get("started_at"))),
        ("Ended (UTC)", _s(ended.at) if ended else "no session end record"),
        ("Duration", _duration(ended.t) if ended else ""),
        ("Outcome", _s(ended.record.get("outcome")) if ended else "unknown (log incomplete)"),
        (
            "Target",
            f"{_s(target.get('user'))}@{_s(target.get('host'))}:{_s(target.get('port'))}"
            f"/{_s(target.get('database'))}",
        ),
        ("Server version", _s(target.get("server_version"))),
        ("Console version", _s(h.get("console_version"))),
    ]
    if h.get("terminal_columns"):
        facts.append(("Terminal", f"{h.get('terminal_columns')}x{h.get('terminal_lines')}"))
    section.facts = [(k, v) for k, v in facts if v]
    files = [["runbook", _s(h.get("runbook_sha256"))]] if h.get("runbook_sha256") else []
    raw_files = h.get("files", {})
    if isinstance(raw_files, dict):
        files += [[_s(name), _s(digest)] for name, digest in raw_files.items()]
    if files:
        section.tables.append(("Files (sha256)", Table(["File", "sha256"], files, frozenset({1}))))
    return section


def _by_kind(entries: Iterable[JournalEntry], *kinds: str) -> list[JournalEntry]:
    return [e for e in entries if e.kind in kinds]


def _checklist_section(entries: list[JournalEntry]) -> Section:
    section = Section("Checklists")
    ticks = _by_kind(entries, "checklist_item_toggled")
    if not ticks:
        section.paragraphs.append("No checklist item was ticked.")
        return section
    phases: dict[str, list[list[str]]] = {}
    for e in ticks:
        f = e.fields
        phases.setdefault(_s(f.get("phase")), []).append(
            [
                _when(e),
                _s(f.get("item_id")),
                "ticked" if f.get("checked") else "unticked",
                _s(f.get("who")),
                _s(f.get("note")),
                _s(f.get("evidence")),
            ]
        )
    for phase, rows in phases.items():
        section.tables.append(
            (
                f"Phase: {phase}",
                Table(["When", "Item", "Action", "Who", "Note", "Evidence"], rows),
            )
        )
    return section


_TIMELINE_KINDS = ("statement_finished", "statement_failed", "server_notice", "lock_wait",
                   "run_finished", "statement_skipped")


def _event_of(entry: JournalEntry) -> Event | None:
    try:
        return entry.event()
    except (UnknownEventKind, TypeError):
        return None


def _line_cells(event: Event, guide: Mapping[str, TroubleshootingEntry] | None = None
                ) -> tuple[str, str]:
    """(result text, status) of an event in the one presentation every front end uses;
    a failed statement gets the runbook's troubleshooting entry for its SQLSTATE, as the
    console and the CLI show it."""
    line = describe(event, guide=guide)
    if line is None:
        return "", ""
    text = " ".join([line.text.strip(), *line.details[1:]]) if isinstance(
        event, StatementFailed) else " ".join([line.text.strip(), *line.details])
    return _s(text), {"ok": "ok", "fail": "fail", "warn": "warn"}.get(line.status, "")


def _guide_of(entries: list[JournalEntry]) -> dict[str, TroubleshootingEntry]:
    """The troubleshooting guide the session started with (recorded in session_started,
    so the report needs no runbook)."""
    for e in _by_kind(entries, "session_started"):
        records = e.fields.get("troubleshooting")
        if isinstance(records, list):
            return troubleshooting_from(r for r in records if isinstance(r, list))
    return {}


def _timeline_section(entries: list[JournalEntry]) -> Section:
    section = Section("SQL timeline")
    guide = _guide_of(entries)
    rows: list[list[str]] = []
    started: dict[int, JournalEntry] = {}
    for e in entries:
        f = e.fields
        if e.kind == "run_started":
            rows.append(
                [_when(e), _s(f.get("script")), "", "",
                 f"{_s(f.get('mode'))} started: {_s(f.get('statements'))} statements, "
                 f"transaction {_s(f.get('transaction'))}", ""]
            )
            continue
        if e.kind == "statement_started":
            started[int(f.get("index", -1))] = e
            continue
        if e.kind not in _TIMELINE_KINDS:
            continue
        event = _event_of(e)
        if event is None:
            continue
        result, status = _line_cells(event, guide)
        if e.kind in ("statement_finished", "statement_failed", "statement_skipped"):
            start = started.pop(int(f.get("index", -1)), None)
            sql = _s(f.get("sql")) or (_s(start.fields.get("sql")) if start else "")
            where = f"{_s(f.get('file'))}:{_s(f.get('line'))}"
            rows.append([_when(start or e), where, first_sql_line(sql),
                         _duration(f.get("duration_s")), result, status])
        else:
            duration = f.get("waited_s") if e.kind == "lock_wait" else f.get("duration_s")
            rows.append([_when(e), "", "", _duration(duration), result, status])
    for start in started.values():
        rows.append([_when(start), f"{_s(start.fields.get('file'))}:{_s(start.fields.get('line'))}",
                     first_sql_line(_s(start.fields.get("sql"))), "", "no result recorded", "fail"])
    if not rows:
        section.paragraphs.append("No SQL was run.")
    else:
        section.tables.append(
            ("", Table(["When", "Where", "Statement", "Duration", "Result", "Status"], rows,
                       frozenset({2}), status_column=5))
        )
    return section


_DECISION_KINDS = ("workflow_finished", "finding", "gate_checked", "confirmation_answered",
                   "listener_failed")


def _findings_section(entries: list[JournalEntry]) -> Section | None:
    """Workflows, findings, gates and confirmations, in the words the terminal used."""
    rows: list[list[str]] = []
    for e in entries:
        if e.kind not in _DECISION_KINDS:
            continue
        event = _event_of(e)
        if event is None:
            continue
        line = describe(event)
        if line is None and isinstance(event, GateChecked):
            rows.append([_when(e), f"gate '{_s(event.gate)}' open", "ok"])
            continue
        if line is None:
            continue
        result, status = _line_cells(event)
        rows.append([_when(e), result, status])
    if not rows:
        return None
    section = Section("Workflows, findings and gates")
    section.tables.append(("", Table(["When", "What", "Status"], rows, status_column=2)))
    return section


_SOURCE_TITLES = {
    "preflight": "Preflight",
    "rehearsal": "Rehearsal",
    "validation": "Validation",
    "performance": "Performance: claims vs measured",
    "claims": "The paper's claims",
    "rollback-impact": "Rollback impact",
    "integrity": "Data integrity",
}


def _results_section(entries: list[JournalEntry]) -> Section:
    section = Section("Results")
    tables = _by_kind(entries, "result_table")
    if not tables:
        section.paragraphs.append("No preflight, rehearsal, validation or performance results.")
    for e in tables:
        f = e.fields
        columns = [_s(c) for c in f.get("columns", [])]
        rows = [[_s(c) for c in row] for row in f.get("rows", [])]
        status_column = None
        if f.get("status_column") in f.get("columns", []):
            status_column = list(f["columns"]).index(f["status_column"])
        verdict = "" if f.get("passed") is None else (" (passed)" if f["passed"] else " (FAILED)")
        source = _SOURCE_TITLES.get(str(f.get("source")), _s(f.get("source")))
        caption = f"{source}: {_s(f.get('title'))}{verdict}, {_when(e)}"
        section.tables.append((caption, Table(columns, rows, status_column=status_column)))
    return section


def _decisions_section(entries: list[JournalEntry]) -> Section:
    section = Section("Overrides, rollback decisions and notes")
    overrides = [[_when(e), _s(e.fields.get("who")), _s(e.fields.get("what")), _s(e.fields.get("reason"))]
                 for e in _by_kind(entries, "override_recorded")]
    rollbacks = [
        [_when(e), _s(e.fields.get("who")), "confirmed" if e.fields.get("confirmed") else "declined",
         _s(e.fields.get("typed")), _s(e.fields.get("rows_at_risk")), _s(e.fields.get("exported_to"))]
        for e in _by_kind(entries, "rollback_decision")
    ]
    notes = [[_when(e), _s(e.fields.get("who")), _s(e.fields.get("text"))]
             for e in _by_kind(entries, "operator_note")]
    if overrides:
        section.tables.append(("Overrides", Table(["When", "Who", "What", "Reason"], overrides)))
    if rollbacks:
        section.tables.append(
            ("Rollback decisions",
             Table(["When", "Who", "Decision", "Typed", "Rows at risk", "Exported to"], rollbacks))
        )
    if notes:
        section.tables.append(("Operator notes", Table(["When", "Who", "Note"], notes)))
    if not (overrides or rollbacks or notes):
        section.paragraphs.append("No overrides, rollback decisions or notes.")
    return section


def _unknown_section(entries: list[JournalEntry]) -> Section | None:
    unknown: list[list[str]] = []
    for e in entries:
        if e.kind == SESSION_ENDED:
            continue
        try:
            e.event()
        except (UnknownEventKind, TypeError):
            unknown.append([_when(e), _s(e.kind), _s(e.fields)])
    if not unknown:
        return None
    section = Section("Events this console version does not know")
    section.tables.append(("", Table(["When", "Kind", "Fields"], unknown)))
    return section


def build_report(journal: Journal, verification: VerifyResult) -> Report:
    """The report's content, independent of output format."""
    h = journal.header
    target = h.get("target", {}) if isinstance(h.get("target"), dict) else {}
    title = f"Deployment log: {_s(h.get('runbook_id'))} on {_s(target.get('database')) or 'unknown database'}"
    verification_section = Section("Verification")
    chain = verification.chain
    verification_section.facts = [
        (
            "Hash chain",
            "intact"
            if chain.ok
            else f"broken: {chain.problem} at seq {chain.first_bad_seq}: {chain.detail}",
        ),
        ("Events verified", str(chain.events)),
        ("Signature", f"{verification.signature.status}: {verification.signature.detail}"),
    ]
    if journal.stopped:
        verification_section.paragraphs.append(f"The report stops early: {journal.stopped}.")
    sections = [
        verification_section,
        _session_section(journal),
        _checklist_section(journal.entries),
        _timeline_section(journal.entries),
        *filter(None, [_findings_section(journal.entries)]),
        _results_section(journal.entries),
        _decisions_section(journal.entries),
    ]
    unknown = _unknown_section(journal.entries)
    if unknown:
        sections.append(unknown)
    return Report(title, verification.ok, verification.line(), sections,
                  STATUS_LABELS.get(verification.status, verification.status.upper()))


# --------------------------------------------------------------------------- markdown


def _md(text: str) -> str:
    """Escape text for a Markdown paragraph or table cell (one line)."""
    text = " ".join(text.splitlines())
    for ch in "\\`*_[]|":
        text = text.replace(ch, "\\" + ch)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _md_code(text: str) -> str:
    text = " ".join(text.splitlines()).replace("|", "\\|")
    if not text:
        return ""
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(report: Report) -> str:
    out = [f"# {_md(report.title)}", ""]
    out += [f"**Verification: {report.status_label}**: {_md(report.status_line)}", ""]
    for section in report.sections:
        out += [f"## {_md(section.title)}", ""]
        for paragraph in section.paragraphs:
            out += [_md(paragraph), ""]
        for key, value in section.facts:
            out.append(f"- **{_md(key)}**: {_md(value)}")
        if section.facts:
            out.append("")
        for caption, table in section.tables:
            if caption:
                out += [f"### {_md(caption)}", ""]
            out.append("| " + " | ".join(_md(c) or " " for c in table.columns) + " |")
            out.append("|" + "|".join("---" for _ in table.columns) + "|")
            for row in table.rows:
                cells = [
                    _md_code(cell) if i in table.code_columns else _md(cell)
                    for i, cell in enumerate(row)
                ]
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- html

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #1d2329; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
.status { padding: .6rem .9rem; border-radius: 6px; font-weight: 600; }
.status.ok { background: #dafbe1; border: 1px solid #4ac26b; }
.status.fail { background: #ffebe9; border: 1px solid #ff8182; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin-bottom: .8rem; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap;
       word-break: break-all; }
tr.ok td:last-child { color: #1a7f37; } tr.fail { background: #fff5f5; }
tr.warn { background: #fff8c5; }
footer { margin-top: 2rem; color: #57606a; font-size: 12px; }
"""


def _row_class(table: Table, row: list[str]) -> str:
    if table.status_column is None or table.status_column >= len(row):
        return ""
    value = row[table.status_column].strip().lower()
    if value in ("ok", "pass", "passed", "true", "yes"):
        return "ok"
    if value in ("fail", "failed", "error", "false", "no"):
        return "fail"
    if value in ("warn", "warning"):
        return "warn"
    return ""


def render_html(report: Report) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(report.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        f'<p class="status {"ok" if report.status_ok else "fail"}">'
        f'Verification: {e(report.status_label)}: {e(report.status_line)}</p>',
    ]
    for section in report.sections:
        out.append(f"<section><h2>{e(section.title)}</h2>")
        out += [f"<p>{e(p)}</p>" for p in section.paragraphs]
        if section.facts:
            out.append("<dl>")
            out += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in section.facts]
            out.append("</dl>")
        for caption, table in section.tables:
            if caption:
                out.append(f"<h3>{e(caption)}</h3>")
            out.append("<table><thead><tr>")
            out += [f"<th>{e(c)}</th>" for c in table.columns]
            out.append("</tr></thead><tbody>")
            for row in table.rows:
                css = _row_class(table, row)
                out.append(f'<tr class="{css}">' if css else "<tr>")
                out += [
                    f"<td><code>{e(cell)}</code></td>" if i in table.code_columns else f"<td>{e(cell)}</td>"
                    for i, cell in enumerate(row)
                ]
                out.append("</tr>")
            out.append("</tbody></table>")
        out.append("</section>")
    out.append("<footer>Generated by spfp-console from the deployment log.</footer>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def export_log(path: Path | str, fmt: str, verification: VerifyResult) -> str:
    """The report for the log at ``path`` as ``markdown`` or ``html`` text."""
    report = build_report(read_journal(path), verification)
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown export format {fmt!r}: use markdown or html")
