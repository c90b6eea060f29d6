"""The runbook as data: phases with checklist items, scripts, checks, claims, queries.

A runbook file (``runbooks/*.toml``) describes one migration: what the operator must
confirm, which SQL files the engine runs, what validation expects of each object, which
numbers the paper claims (so the console can show claim vs measured), and the headline
queries whose speed the migration is meant to change.  Loading lives in
:mod:`spfp_console.runbook.loader`; these classes only hold what was loaded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from spfp_console.lean_dataclass import lean_dataclass

ActionName = Literal[
    "preflight", "rehearse", "scratch-rehearse", "run", "success-message", "validate",
    "performance", "rollback-impact", "rollback", "approvals", "integrity",
]
ACTIONS: tuple[str, ...] = (
    "preflight", "rehearse", "scratch-rehearse", "run", "success-message", "validate",
    "performance", "rollback-impact", "rollback", "approvals", "integrity",
)
"""What can tick an item: the session ticks it from that step's result (the result is
the evidence).  ``success-message`` is ticked only when the run's notices contain the
runbook's ``success_message``; ``approvals`` when enough signed approvals hold (the
signers are the evidence); ``integrity`` when the run's data integrity check found the
row counts and checksums of every touched table unchanged (``integrity_check``)."""

CheckKind = Literal[
    "index", "column", "view", "table", "policy", "function", "trigger", "unique_rule",
]
CHECK_KINDS: tuple[str, ...] = (
    "index", "column", "view", "table", "policy", "function", "trigger", "unique_rule",
)


@lean_dataclass(frozen=True)
class ChecklistItem:
    id: str
    text: str
    required: bool = True
    evidence: str | None = None
    """What to record when ticking it (e.g. "backup id"); None when nothing is asked."""
    action: str | None = None
    """An automated step the console runs for this item (one of ACTIONS)."""


@lean_dataclass(frozen=True)
class Phase:
    id: str
    title: str
    items: tuple[ChecklistItem, ...]
    description: str = ""


@lean_dataclass(frozen=True)
class ScriptRef:
    """A SQL file the runbook runs, resolved relative to the runbook file."""

    role: str  # migration | rollback | ...
    path: Path


@lean_dataclass(frozen=True)
class Settings:
    lock_timeout: str = "5s"
    statement_timeout: str = "1h"
    connect_timeout_s: float = 10.0
    min_server_version_num: int = 150000
    schema: str = "public"
    execution_mode: Literal["transaction", "online"] = "transaction"
    """``transaction``: the whole migration in one transaction (atomic; CREATE INDEX and
    ALTER TABLE block the table's writers until COMMIT).  ``online``: each index built
    CONCURRENTLY outside a transaction, the rest in short transactions, lock timeouts
    retried with backoff (writers keep going; not atomic, so the script must be
    idempotent).  ``run --online`` picks online for one run."""
    online_lock_timeout: str = "500ms"
    """How long one statement waits for a lock in online mode before it lets the table's
    writers go and retries: no write waits on the migration much longer than this."""
    integrity_check: bool = False
    """Count the rows of every table the migration touches and checksum them, before the
    first statement and after the last, in the run's transaction (under a SHARE lock):
    any difference rolls the run back.  Reads every row twice, so off unless asked for
    (``run --integrity`` / ``--no-integrity`` decide for one run); not possible online."""


@lean_dataclass(frozen=True)
class SupabaseSettings:
    """How the run appears in Supabase's own migration history.

    ``version`` and ``name`` are what the Supabase CLI would derive from the migration's
    file name (``<digits>_<name>.sql``), unless the runbook's ``[supabase]`` table sets
    them; the loader resolves them, so they are never None while the history is on.
    """

    migration_history: bool = True
    """Record the run in ``supabase_migrations.schema_migrations`` (and remove it on
    rollback), in the same transaction."""
    version: str | None = None
    name: str | None = None


@lean_dataclass(frozen=True)
class ApprovalSettings:
    """Four eyes: how many signed approvals a run needs, and who may give them."""

    required: int = 0
    allowed_signers: Path | None = None
    """An OpenSSH allowed_signers file (resolved relative to the runbook)."""
    directory: Path | None = None
    """Where approval files are looked for (resolved relative to the runbook)."""


@lean_dataclass(frozen=True)
class Profile:
    """A way of running the runbook, chosen at the start of a session (the paper's Quick,
    Guided and Enterprise deployment options): which checklist items are required, how
    many signed approvals ``run`` needs, and whether leaving each phase needs a signed
    sign-off by someone other than the executor."""

    id: str
    title: str
    description: str = ""
    optional: tuple[str, ...] = ()
    """``phase/item`` ids this profile does not require."""
    required: tuple[str, ...] = ()
    """``phase/item`` ids this profile requires although the runbook does not."""
    approvals_required: int | None = None
    """None: the runbook's ``[approvals] required``."""
    phase_signoff: bool = False
    default: bool = False

    def item_required(self, phase_id: str, item: ChecklistItem) -> bool:
        key = f"{phase_id}/{item.id}"
        if key in self.required:
            return True
        if key in self.optional:
            return False
        return item.required


@lean_dataclass(frozen=True)
class Check:
    """One expectation validation verifies about one object of the migration.

    Which fields matter depends on ``kind``:

    - index: ``table``, ``name``, ``definition`` (exactly as ``pg_get_indexdef``)
    - column: ``table``, ``name``, ``data_type`` (as ``format_type``), ``nullable``,
      optional ``default``
    - view: ``name``, ``columns``
    - table: ``name``, ``rls``
    - policy: ``table``, ``name``, ``command`` (SELECT/ALL...), optional ``using``
    - function: ``name``, ``returns``
    - trigger: ``table``, ``name``, ``function``
    - unique_rule: ``table``, ``name`` (a unique index), ``definition``
    """

    id: str
    kind: str
    name: str
    table: str | None = None
    definition: str | None = None
    data_type: str | None = None
    nullable: bool | None = None
    default: str | None = None
    columns: tuple[str, ...] = ()
    rls: bool | None = None
    command: str | None = None
    using: str | None = None
    returns: str | None = None
    function: str | None = None
    added_by_migration: bool = True
    """False for objects the rollback must leave in place (e.g. a pre-existing function)."""


@lean_dataclass(frozen=True)
class Claim:
    """A number the paper runbook asserts; the console measures it and shows both."""

    id: str
    text: str
    claimed: float
    unit: str = ""
    measure: str = ""
    """What measures it: index_count, unique_rule_count, soft_delete_column_count,
    view_count, migration_seconds, or speedup:<query id>."""
    kind: Literal["at_least", "at_most", "equal", "about"] = "equal"


@lean_dataclass(frozen=True)
class HeadlineQuery:
    """A query the migration is meant to speed up, timed before and after."""

    id: str
    title: str
    sql: str
    """Parameters: %(user_id)s (the busiest user of ``user_table``) and %(today)s."""
    user_table: str
    expected_index: str
    claimed_speedup: float
    claimed_before_ms: float | None = None
    claimed_after_ms: float | None = None
    sql_before: str | None = None
    """The query as the application ran it before the migration (no soft-delete filter:
    the column did not exist yet); None when it is the same as ``sql``."""


SQLSTATE = re.compile(r"^[0-9A-Z]{5}$")
"""An SQLSTATE: five characters, digits and upper-case letters (``23505``, ``42P07``)."""


@lean_dataclass(frozen=True)
class TroubleshootingEntry:
    """What a failed statement's SQLSTATE usually means in this migration, and what to do:
    the paper's troubleshooting guide, keyed by the code the server actually returns."""

    sqlstate: str
    title: str
    cause: str
    """The likely cause, in this migration's terms."""
    action: str
    """What to do next (the console rolled the transaction back: nothing changed)."""
    paper: str = ""
    """What the paper runbook said about it, when it said something."""


@lean_dataclass(frozen=True)
class Estimate:
    """A duration the paper estimates: ``low_s`` to ``high_s`` seconds (None: open-ended,
    the paper's "30+ minutes")."""

    low_s: float
    high_s: float | None

    def __add__(self, other: Estimate) -> Estimate:
        high = (None if self.high_s is None or other.high_s is None
                else self.high_s + other.high_s)
        return Estimate(self.low_s + other.low_s, high)


_ESTIMATE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?))?\s*(\+)?\s*(s|min|h)\s*$")
_ESTIMATE_UNIT_S = {"s": 1.0, "min": 60.0, "h": 3600.0}


def parse_estimate(text: str) -> Estimate | None:
    """``5min``, ``5-10min``, ``30-60s``, ``30+min`` as an :class:`Estimate`; None when the
    text is none of these.  Shared by the loader (which refuses a bad one) and the fold
    (which reads it back from a log)."""
    match = _ESTIMATE.match(text)
    if match is None:
        return None
    low, high, plus, unit = match.groups()
    if high is not None and plus:
        return None
    scale = _ESTIMATE_UNIT_S[unit]
    low_s = float(low) * scale
    if plus:
        return Estimate(low_s, None)
    high_s = float(high) * scale if high is not None else low_s
    return Estimate(low_s, high_s) if high_s >= low_s else None


@lean_dataclass(frozen=True)
class TimelineEntry:
    """One row of the paper's timeline: how long a part of a phase is expected to take."""

    phase: str
    """The runbook phase it belongs to: the phase's estimate is the sum of its rows."""
    title: str
    estimate: str
    """As written in the runbook (``5-10min``); :func:`parse_estimate` reads it."""


PROOF_KINDS = ("check", "query", "item", "run")
"""What can prove a success criterion:

- ``check:GLOB``: validation rows of the runbook's checks whose id matches GLOB
  (``index:*``);
- ``query:ID``: the headline query's plan row (the index it uses);
- ``item:PHASE/ITEM``: a checklist item, ticked (by hand or by its action);
- ``run``: the migration's run in this session, committed without a failure."""


@lean_dataclass(frozen=True)
class SuccessCriterion:
    """A line of the paper's success criteria, with what proves it in this session."""

    id: str
    text: str
    proven_by: tuple[str, ...]


@lean_dataclass(frozen=True)
class Contact:
    """Someone to call: the paper's contacts and escalation path (a role alone when the
    paper names nobody)."""

    role: str
    name: str = ""
    reach: str = ""
    """How to reach them (a Slack channel, a phone number)."""
    about: str = ""
    """What to call them for."""
    escalation: int | None = None
    """Their step in the escalation path (1 first), None when they are not on it."""


@lean_dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    path: Path
    sha256: str
    description: str
    settings: Settings
    scripts: dict[str, ScriptRef]
    phases: tuple[Phase, ...]
    checks: tuple[Check, ...]
    claims: tuple[Claim, ...]
    queries: tuple[HeadlineQuery, ...]
    success_message: str | None = None
    supabase: SupabaseSettings = SupabaseSettings()
    approvals: ApprovalSettings = ApprovalSettings()
    profiles: tuple[Profile, ...] = ()
    witness: bool = True
    """Record each committed run in the target's ``spfp_console.deployments`` (in the
    run's transaction); ``[witness] enabled = false`` for targets that must not be
    written to."""
    troubleshooting: tuple[TroubleshootingEntry, ...] = ()
    """The troubleshooting guide, one entry per SQLSTATE."""
    timeline: tuple[TimelineEntry, ...] = ()
    success_criteria: tuple[SuccessCriterion, ...] = ()
    contacts: tuple[Contact, ...] = ()

    def script(self, role: str) -> Path:
        return self.scripts[role].path

    def phase(self, phase_id: str) -> Phase:
        for phase in self.phases:
            if phase.id == phase_id:
                return phase
        raise KeyError(phase_id)

    def profile(self, profile_id: str | None) -> Profile | None:
        """The named profile, the default one for None, or None when the runbook has no
        profiles.  KeyError for an unknown id."""
        if profile_id is None:
            return next((p for p in self.profiles if p.default), None)
        for profile in self.profiles:
            if profile.id == profile_id:
                return profile
        raise KeyError(profile_id)

    def checks_of(self, kind: str) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.kind == kind)
