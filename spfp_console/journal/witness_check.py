"""Check a log against the target's own record of its deployments (engine/witness.py).

The database recorded, inside each committed transaction, the session id (the log
header's hash) and the log's chain position just before COMMIT.  A log agrees with it when

* every row of its session points at an event the log has, with exactly that hash (a
  log rewritten before that point, even with a recomputed chain, does not);
* after that event the log says the run committed, the workflow's outcome says so, and
  the session's end does not claim that nothing changed (an edited outcome does not);
* every run the log says committed has its row (a log of a session the database never
  saw, or with a forged header, does not).

Rows of the same runbook from other sessions are listed, and those whose log file is not
beside this one are the deployments whose logs are missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spfp_console.engine.witness import TABLE, WitnessRow
from spfp_console.journal.canonical import HASH_KEY

_EXPECTED_WORKFLOW = {"deploy": ("committed", "committed_validation_failed"),
                      "rollback": ("rolled_back", "rolled_back_validation_failed")}
_NOTHING_CHANGED = ("failed", "cancelled", "not_confirmed", "refused_by_preflight",
                    "refused_by_gate", "preflight_failed", "aborted", "rehearsed",
                    "rehearsal_failed")
"""Session outcomes that say the target was not changed."""


@dataclass
class WitnessCheck:
    problems: list[str] = field(default_factory=list)
    matched: list[WitnessRow] = field(default_factory=list)
    others: list[WitnessRow] = field(default_factory=list)
    """This runbook's deployments recorded by other sessions."""
    missing_logs: list[WitnessRow] = field(default_factory=list)
    """Of ``others``, those whose log is not beside this log (or that kept none)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        if self.problems:
            return f"does NOT agree with {TABLE}: " + "; ".join(self.problems)
        commits = len(self.matched)
        return (f"agrees with {TABLE} ({commits} commit{'s' * (commits != 1)} recorded at"
                " the chain positions the log has)")

    def missing_lines(self) -> list[str]:
        return [f"recorded {row.recorded_at} by {row.operator}: {row.workflow} of"
                f" {row.runbook_id} ({row.script}), log "
                + (f"{row.log_file} not found" if row.log_file else "not kept (--no-log)")
                for row in self.missing_logs]


def check_against_witness(log: Path, rows: list[WitnessRow]) -> WitnessCheck:
    from spfp_console.journal.read import read_journal

    journal = read_journal(log)
    session_id = journal.header.get(HASH_KEY)
    runbook_id = journal.header.get("runbook_id")
    entries = journal.entries
    by_seq = {entry.seq: entry for entry in entries}
    result = WitnessCheck()
    mine = [r for r in rows if session_id and r.session_id == session_id]
    result.others = [r for r in rows if r not in mine and r.runbook_id == runbook_id]
    result.missing_logs = [r for r in result.others
                           if not r.log_file or not (log.parent / r.log_file).is_file()]
    for row in mine:
        result.matched.append(row)
        problem = _row_problem(row, str(session_id), by_seq, entries)
        if problem:
            result.problems.append(problem)
    committed = [e.seq for e in entries
                 if e.kind == "run_finished" and e.fields.get("mode") == "run"
                 and e.fields.get("outcome") == "committed"]
    if len(committed) != len(mine):
        result.problems.append(
            f"the log says {len(committed)} run(s) committed, the database recorded"
            f" {len(mine)} for this session"
            + ("" if mine else " (it has no record of this session: a forged or foreign"
               " header, or a target whose witness is off)"))
    return result


def _row_problem(row: WitnessRow, header_hash: str, by_seq: dict[int, Any],
                 entries: list[Any]) -> str | None:
    at = f"event #{row.chain_seq}"
    if row.chain_seq is None or row.chain_hash is None:
        return f"the database recorded the {row.workflow} commit without a chain position"
    if row.chain_seq == 0:  # nothing recorded yet: the chain stands at the header
        logged: str | None = header_hash
    elif row.chain_seq in by_seq:
        logged = by_seq[row.chain_seq].hash
    else:
        return f"the log has no {at}, where the database recorded the {row.workflow} commit"
    if logged != row.chain_hash:
        return (f"{at} is not the event the database recorded at COMMIT (hash"
                f" {str(logged)[:12]}... in the log, {row.chain_hash[:12]}... in the"
                " database): the log was rewritten")
    after = [e for e in entries if e.seq > row.chain_seq]
    run = next((e for e in after if e.kind == "run_finished"), None)
    if run is None or run.fields.get("outcome") != "committed":
        said = run.fields.get("outcome") if run is not None else "nothing"
        return (f"the database recorded a COMMIT of {row.script} after {at}; the log says"
                f" the run {said}")
    workflow = next((e for e in after if e.kind == "workflow_finished"
                     and e.fields.get("workflow") == row.workflow), None)
    expected = _EXPECTED_WORKFLOW.get(row.workflow, ())
    if workflow is not None and workflow.fields.get("outcome") not in expected:
        return (f"the {row.workflow} workflow ends {workflow.fields.get('outcome')!r} in the"
                f" log, but the database recorded its commit")
    ended = next((e for e in reversed(entries) if e.kind == "session_ended"), None)
    if ended is not None and ended.fields.get("outcome") in _NOTHING_CHANGED:
        return (f"the session ends {ended.fields.get('outcome')!r} in the log (nothing"
                f" changed), but the database recorded a commit of {row.script}")
    return None
