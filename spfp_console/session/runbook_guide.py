"""The rest of the paper package in a session: troubleshooting guide, timeline, success
criteria and escalation contacts.

The runbook holds them (:mod:`spfp_console.runbook.model`); :func:`paper_package_of` puts
them into ``SessionStarted`` as flat string arrays, so a log alone carries them and a
replay shows what the executor saw; the ``*_from`` functions read them back (an old or
edited log gives short or missing entries: padded, never a crash).  :func:`judge_criterion`
and :func:`time_phases` are the fold's two derived pieces: which success criteria the
session's results prove, and how long each phase took by the checklist's own timestamps.

Pure: no database, no clock, no Textual.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import fnmatch
from collections.abc import Iterable
from typing import Any, TypedDict

from spfp_console.lean_dataclass import lean_dataclass
from spfp_console.runbook.model import (
    Contact,
    Estimate,
    Runbook,
    TimelineEntry,
    TroubleshootingEntry,
    parse_estimate,
)

AFTER_ROLLBACK_TITLE = "Validation after rollback"
"""How validation titles its table after a rollback (engine/validate.py): its rows pass
when an object is gone, so they prove nothing about the migration being applied."""

CRITERION_STATUSES = ("pass", "warn", "fail", "pending")
"""pending: nothing in the session proves or disproves it yet ("not yet")."""

_RUN_PASSED = {"committed": "committed", "committed_validation_failed": "committed",
               "already_applied": "already applied before this session"}
_RUN_NOT_YET = ("refused_by_preflight", "refused_by_gate", "not_confirmed")


@lean_dataclass(frozen=True)
class CriterionState:
    """A success criterion and what the session's results say about it."""

    id: str
    text: str
    proven_by: tuple[str, ...]
    status: str = "pending"
    """pass | warn | fail | pending"""
    evidence: str = ""
    """Why: e.g. "20/20 pass", "fail: index:idx_x", "not validated yet"."""


# ---------------------------------------------------------------------- into the log


class PaperPackage(TypedDict):
    """SessionStarted's fields for the paper package (``SessionStarted(**package)``)."""

    troubleshooting: tuple[tuple[str, ...], ...]
    timeline: tuple[tuple[str, ...], ...]
    success_criteria: tuple[tuple[str, ...], ...]
    contacts: tuple[tuple[str, ...], ...]


def paper_package_of(runbook: Runbook) -> PaperPackage:
    """The runbook's guide, timeline, criteria and contacts as SessionStarted fields."""
    return {
        "troubleshooting": tuple((e.sqlstate, e.title, e.cause, e.action, e.paper)
                                 for e in runbook.troubleshooting),
        "timeline": tuple((t.phase, t.title, t.estimate) for t in runbook.timeline),
        "success_criteria": tuple((c.id, c.text, *c.proven_by)
                                  for c in runbook.success_criteria),
        "contacts": tuple((c.role, c.name, c.reach, c.about,
                           str(c.escalation) if c.escalation else "")
                          for c in runbook.contacts),
    }


# ---------------------------------------------------------------------- out of the log


def _padded(entry: Iterable[Any], n: int) -> tuple[str, ...]:
    return (tuple(str(x) for x in entry) + ("",) * n)[:n]


def troubleshooting_from(records: Iterable[Iterable[Any]]) -> dict[str, TroubleshootingEntry]:
    guide: dict[str, TroubleshootingEntry] = {}
    for record in records:
        sqlstate, title, cause, action, paper = _padded(record, 5)
        if sqlstate:
            guide[sqlstate] = TroubleshootingEntry(sqlstate, title or sqlstate, cause,
                                                   action, paper)
    return guide


def timeline_from(records: Iterable[Iterable[Any]]) -> tuple[TimelineEntry, ...]:
    """Rows whose estimate does not parse (an edited log) are left out."""
    rows = (TimelineEntry(*_padded(record, 3)) for record in records)
    return tuple(row for row in rows if parse_estimate(row.estimate) is not None)


def criteria_from(records: Iterable[Iterable[Any]]) -> list[CriterionState]:
    criteria = []
    for record in records:
        fields = tuple(str(x) for x in record)
        if len(fields) >= 2:
            criteria.append(CriterionState(id=fields[0], text=fields[1],
                                           proven_by=fields[2:]))
    return criteria


def contacts_from(records: Iterable[Iterable[Any]]) -> tuple[Contact, ...]:
    contacts = []
    for record in records:
        role, name, reach, about, step = _padded(record, 5)
        contacts.append(Contact(role=role or "?", name=name, reach=reach, about=about,
                                escalation=int(step) if step.isdigit() else None))
    return tuple(contacts)


def phase_estimate(rows: Iterable[TimelineEntry]) -> Estimate | None:
    """The sum of a phase's timeline rows (None: the timeline says nothing about it)."""
    total: Estimate | None = None
    for row in rows:
        estimate = parse_estimate(row.estimate)
        if estimate is not None:
            total = estimate if total is None else total + estimate
    return total


# ---------------------------------------------------------------------- success criteria


def _rolled_back(state: Any) -> bool:
    """Did a rollback succeed after the last run of the migration?"""
    for workflow in reversed(state.workflows):
        if workflow.outcome is None or workflow.name not in ("deploy", "rollback"):
            continue
        return bool(workflow.name == "rollback" and workflow.ok)
    return False


def _rows(state: Any, first_column: str, pattern: str) -> list[tuple[str, str]]:
    """(id, status) of the rows of applied-validation tables whose first column is
    ``first_column`` and whose first cell matches ``pattern``."""
    found: list[tuple[str, str]] = []
    for (source, title), table in state.tables.items():
        if source != "validation" or title.startswith(AFTER_ROLLBACK_TITLE):
            continue
        if not table.columns or table.columns[0] != first_column:
            continue
        if table.status_column not in table.columns:
            continue
        at = table.columns.index(table.status_column)
        found.extend((row[0], row[at]) for row in table.rows
                     if row and fnmatch.fnmatchcase(row[0], pattern))
    return found


def _judge_rows(rows: list[tuple[str, str]], what: str) -> tuple[str, str]:
    if not rows:
        return "pending", f"{what}: not validated yet"
    failing = [name for name, status in rows if status == "fail"]
    if failing:
        more = f" and {len(failing) - 3} more" if len(failing) > 3 else ""
        return "fail", f"{len(failing)}/{len(rows)} fail: {', '.join(failing[:3])}{more}"
    warning = [name for name, status in rows if status == "warn"]
    if warning:
        return "warn", f"{len(rows) - len(warning)}/{len(rows)} pass, warn: {', '.join(warning[:3])}"
    return "pass", f"{len(rows)}/{len(rows)} pass"


def _judge_proof(state: Any, proof: str) -> tuple[str, str]:
    kind, _, ref = proof.partition(":")
    if proof == "run":
        workflow = state.workflow_outcome("deploy")
        if workflow is None or workflow.outcome in _RUN_NOT_YET:
            return "pending", "the migration has not run yet"
        if workflow.outcome in _RUN_PASSED:
            return "pass", f"run: {_RUN_PASSED[workflow.outcome]}"
        return "fail", f"run: {workflow.outcome.replace('_', ' ')}"
    if kind == "check":
        return _judge_rows(_rows(state, "check", ref), ref)
    if kind == "query":
        return _judge_rows(_rows(state, "query", ref), f"plans of {ref}")
    if kind == "item":
        phase_id, _, item_id = ref.partition("/")
        item = state.item(phase_id, item_id)
        if item is None:
            return "pending", f"{ref}: not in this checklist"
        if item.checked:
            by = item.ticked_by_action or item.who or "?"
            return "pass", f"{ref} ticked by {by}" + (f": {item.evidence}"
                                                      if item.evidence else "")
        if item.evidence and item.who:  # unticked by its action's failure
            return "fail", f"{ref}: {item.evidence}"
        return "pending", f"{ref} not ticked yet"
    return "pending", f"{proof}: not a proof this console knows"


def judge_criterion(state: Any, criterion: CriterionState) -> CriterionState:
    """The criterion as the session's results stand: fail if any proof fails, not yet
    while one has no result, warn if one only warns, else pass."""
    if _rolled_back(state):
        return dataclasses.replace(criterion, status="pending",
                                   evidence="the migration was rolled back")
    judged = [_judge_proof(state, proof) for proof in criterion.proven_by]
    if not judged:
        return dataclasses.replace(criterion, status="pending",
                                   evidence="nothing in the runbook proves it")
    statuses = {status for status, _ in judged}
    status = next(s for s in ("fail", "pending", "warn", "pass") if s in statuses)
    evidence = "; ".join(text for s, text in judged if s == status or status == "pass")
    return dataclasses.replace(criterion, status=status, evidence=evidence)


# ---------------------------------------------------------------------- phase timing


def parse_utc(stamp: str | None) -> _dt.datetime | None:
    """A UTC ISO stamp of the log (``2026-02-16T10:03:00Z``); None if it is not one."""
    if not stamp:
        return None
    try:
        moment = _dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def _iso(moment: _dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(_dt.timezone.utc).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def time_phases(state: Any) -> None:
    """Set each phase's ``started_at`` and ``completed_at`` from the checklist's stamps.

    A phase is complete when every required item is ticked, at the latest of those
    ticks (a phase without required items never completes).  It starts when the phase
    before it completed (the first phase: when the session started), or at its own first
    tick if that came earlier or the phase before never completed.
    """
    previous_end = parse_utc(state.started_at)
    for phase in state.phases:
        ticks = [t for t in (parse_utc(i.when) for i in phase.items if i.checked)
                 if t is not None]
        first = min(ticks) if ticks else None
        starts = [t for t in (previous_end, first) if t is not None]
        start = min(starts) if starts else None
        required = [i for i in phase.items if i.required]
        end = None
        if required and all(i.checked for i in required):
            stamps = [parse_utc(i.when) for i in required]
            if all(s is not None for s in stamps):
                end = max(s for s in stamps if s is not None)
        phase.started_at = _iso(start)
        phase.completed_at = _iso(end)
        previous_end = end


def phase_seconds(phase: Any) -> float | None:
    """How long a completed phase took (None while it is not complete)."""
    start, end = parse_utc(phase.started_at), parse_utc(phase.completed_at)
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())
