"""Load and validate a runbook TOML file.

Every problem is reported as ``file:line: key.path: what is wrong``.  An unknown key is an
error, not silently ignored: a typo such as ``requird = true`` would otherwise turn a
required checklist item into an optional one without anyone noticing.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rtoml

from spfp_console.errors import ConsoleError
from spfp_console.lean_dataclass import lean_dataclass
from spfp_console.runbook.model import (
    ACTIONS,
    CHECK_KINDS,
    SQLSTATE,
    ApprovalSettings,
    Check,
    ChecklistItem,
    Claim,
    Contact,
    HeadlineQuery,
    Phase,
    Profile,
    Runbook,
    ScriptRef,
    Settings,
    SuccessCriterion,
    SupabaseSettings,
    TimelineEntry,
    TroubleshootingEntry,
    parse_estimate,
)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_TIMEOUT = re.compile(r"^(\d+)\s*(ms|s|min|h|d)?$")
_UNIT_MS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}

LOCK_TIMEOUT_BOUNDS = ("100ms", "5min")
"""lock_timeout: how long one statement may queue for a table lock.  While an ALTER
TABLE waits for its ACCESS EXCLUSIVE lock, every later query on that table queues behind
it: a long wait is an outage of the table, and 0 (PostgreSQL's "wait forever") an
unbounded one.  Below 100 ms even a quiet database fails for nothing."""
STATEMENT_TIMEOUT_BOUNDS = ("1s", "24h")
"""statement_timeout: how long one statement may run (0 would be "forever").  A day is
far beyond any index build this console should run in one transaction; under a second
fails ordinary DDL."""
_SUPABASE_FILE = re.compile(r"^([0-9]+)_(.*)\.sql$")
"""The Supabase CLI's migration file name: the digits are the version, the rest the name."""


class RunbookError(ConsoleError, ValueError):
    """The runbook file is missing, not TOML, or does not describe a valid runbook."""

    def __init__(self, path: Path, message: str, *, line: int | None = None,
                 key: str | None = None) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.detail = message
        where = str(path) + (f":{line}" if line else "")
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


# ----------------------------------------------------------------------------- key lines


class _KeyLines:
    """Best-effort map from a key path (``phases[1].items[0].required``) to a file line.

    tomllib gives no positions for valid TOML, so the loader finds lines itself: it walks
    the table headers, counting array-of-tables entries, and the ``key =`` lines below
    them.  Inline tables and multi-line values are not tracked; for those the nearest
    enclosing header's line is used.
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        counts: dict[str, int] = {}
        prefix = ""
        in_multiline = False
        for lineno, raw in enumerate(text.splitlines(), start=1):
            if in_multiline:
                if raw.count('"""') % 2 == 1 or raw.count("'''") % 2 == 1:
                    in_multiline = False
                continue
            header = self._HEADER.match(raw)
            if header:
                is_array = header.group(1) == "[["
                parts = [p.strip().strip('"') for p in header.group(2).split(".")]
                path = ""
                for i, part in enumerate(parts):
                    path = f"{path}.{part}" if path else part
                    last = i == len(parts) - 1
                    if is_array and last:
                        n = counts.get(path, -1) + 1
                        counts[path] = n
                        # nested arrays restart counting under a new parent entry
                        for key in list(counts):
                            if key.startswith(path + f"[{n}]"):
                                del counts[key]
                        path = f"{path}[{n}]"
                    elif f"{path}" in counts and not last:
                        path = f"{path}[{counts[path]}]"
                prefix = path
                self.lines.setdefault(prefix, lineno)
                continue
            key_match = self._KEY.match(raw)
            if key_match:
                name = key_match.group(1).strip('"')
                full = f"{prefix}.{name}" if prefix else name
                self.lines.setdefault(full, lineno)
                rest = raw.split("=", 1)[1]
                if rest.count('"""') == 1 or rest.count("'''") == 1:
                    in_multiline = True

    def line_of(self, key: str) -> int | None:
        while key:
            if key in self.lines:
                return self.lines[key]
            cut = max(key.rfind("."), key.rfind("["))
            key = key[:cut] if cut > 0 else ""
        return None


# ----------------------------------------------------------------------------- validation


@lean_dataclass
class _Context:
    path: Path
    key_lines: _KeyLines

    def error(self, key: str, message: str) -> RunbookError:
        return RunbookError(self.path, message, line=self.key_lines.line_of(key), key=key)


_TYPE_NAMES = {str: "a string", bool: "true or false", int: "an integer",
               float: "a number", list: "an array", dict: "a table"}


class _Table:
    """Typed access to one TOML table that remembers which keys were read."""

    def __init__(self, ctx: _Context, key: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ctx.error(key, f"must be a table, not {type(data).__name__}")
        self.ctx, self.key, self.data = ctx, key, data
        self.used: set[str] = set()

    def _full(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def get(self, name: str, kind: type, default: Any = ..., *,
            check: Callable[[Any], str | None] | None = None) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise self.ctx.error(self._full(name), "is required but missing")
            return default
        value = self.data[name]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise self.ctx.error(
                self._full(name),
                f"must be {_TYPE_NAMES.get(kind, kind.__name__)}, not {value!r}",
            )
        if kind is str and not value.strip():
            raise self.ctx.error(self._full(name), "must not be empty")
        if check is not None:
            problem = check(value)
            if problem:
                raise self.ctx.error(self._full(name), problem)
        return value

    def tables(self, name: str, *, required: bool = True) -> list[_Table]:
        self.used.add(name)
        raw = self.data.get(name)
        if raw is None:
            if required:
                raise self.ctx.error(self._full(name), "is required but missing")
            return []
        if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
            raise self.ctx.error(self._full(name), "must be an array of tables ([[...]])")
        return [_Table(self.ctx, f"{self._full(name)}[{i}]", x) for i, x in enumerate(raw)]

    def table(self, name: str, *, required: bool = True) -> _Table:
        self.used.add(name)
        if name not in self.data:
            if required:
                raise self.ctx.error(self._full(name), "is required but missing")
            return _Table(self.ctx, self._full(name), {})
        return _Table(self.ctx, self._full(name), self.data[name])

    def strings(self, name: str) -> tuple[str, ...]:
        values = self.get(name, list, [])
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise self.ctx.error(f"{self._full(name)}[{i}]", f"must be a string, not {v!r}")
        return tuple(values)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            name = unknown[0]
            raise self.ctx.error(
                self._full(name),
                f"unknown key (allowed here: {', '.join(sorted(self.used))})",
            )


def _identifier(value: str) -> str | None:
    return None if _ID.match(value) else "must be an identifier (letters, digits, _ . : -)"


def _milliseconds(value: str) -> int | None:
    """A duration as PostgreSQL reads it for a timeout (no unit: milliseconds)."""
    match = _TIMEOUT.match(value.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_MS[match.group(2) or "ms"]


def _timeout(bounds: tuple[str, str]) -> Callable[[str], str | None]:
    low, high = bounds
    low_ms, high_ms = _milliseconds(low), _milliseconds(high)
    assert low_ms is not None and high_ms is not None

    def check(value: str) -> str | None:
        ms = _milliseconds(value)
        if ms is None:
            return "must be a PostgreSQL duration like 5s, 500ms, 2min"
        if ms == 0:
            return (f"{value!r} means no limit at all; set a duration between {low} and "
                    f"{high}")
        if not low_ms <= ms <= high_ms:
            return f"{value!r} is out of range; set a duration between {low} and {high}"
        return None

    return check


def _unique_ids(ctx: _Context, key: str, ids: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for item_key, item_id in ids:
        if item_id in seen:
            raise ctx.error(item_key, f"duplicate id {item_id!r} in {key}")
        seen.add(item_id)


def _load_phase(ctx: _Context, t: _Table) -> Phase:
    items = []
    for it in t.tables("items"):
        action = it.get(
            "action", str, None,
            check=lambda v: None if v in ACTIONS else f"must be one of {', '.join(ACTIONS)}",
        )
        items.append(ChecklistItem(
            id=it.get("id", str, check=_identifier),
            text=it.get("text", str),
            required=it.get("required", bool, True),
            evidence=it.get("evidence", str, None),
            action=action,
        ))
        it.finish()
    _unique_ids(ctx, f"{t.key}.items",
                [(f"{t.key}.items[{i}].id", x.id) for i, x in enumerate(items)])
    phase = Phase(
        id=t.get("id", str, check=_identifier),
        title=t.get("title", str),
        description=t.get("description", str, ""),
        items=tuple(items),
    )
    t.finish()
    return phase


def _load_check(ctx: _Context, t: _Table) -> Check:
    kind = t.get("kind", str, check=lambda v: None if v in CHECK_KINDS
                  else f"must be one of {', '.join(CHECK_KINDS)}")
    check = Check(
        id=t.get("id", str, check=_identifier),
        kind=kind,
        name=t.get("name", str),
        table=t.get("table", str, None),
        definition=t.get("definition", str, None),
        data_type=t.get("data_type", str, None),
        nullable=t.get("nullable", bool, None),
        default=t.get("default", str, None),
        columns=t.strings("columns"),
        rls=t.get("rls", bool, None),
        command=t.get("command", str, None),
        using=t.get("using", str, None),
        returns=t.get("returns", str, None),
        function=t.get("function", str, None),
        added_by_migration=t.get("added_by_migration", bool, True),
    )
    needs = {
        "index": ("table", "definition"), "unique_rule": ("table", "definition"),
        "column": ("table", "data_type", "nullable"), "view": ("columns",),
        "table": ("rls",), "policy": ("table", "command"), "function": ("returns",),
        "trigger": ("table", "function"),
    }[kind]
    for field_name in needs:
        if getattr(check, field_name) in (None, ()):
            raise ctx.error(f"{t.key}.{field_name}", f"is required for a {kind} check")
    t.finish()
    return check


def _load_claim(t: _Table) -> Claim:
    claim = Claim(
        id=t.get("id", str, check=_identifier),
        text=t.get("text", str),
        claimed=t.get("claimed", float),
        unit=t.get("unit", str, ""),
        measure=t.get("measure", str, ""),
        kind=t.get("kind", str, "equal", check=lambda v: None
                   if v in ("at_least", "at_most", "equal", "about")
                   else "must be one of at_least, at_most, equal, about"),
    )
    t.finish()
    return claim


def _load_query(t: _Table) -> HeadlineQuery:
    query = HeadlineQuery(
        id=t.get("id", str, check=_identifier),
        title=t.get("title", str),
        sql=t.get("sql", str),
        user_table=t.get("user_table", str),
        expected_index=t.get("expected_index", str),
        sql_before=t.get("sql_before", str, None),
        claimed_speedup=t.get("claimed_speedup", float),
        claimed_before_ms=t.get("claimed_before_ms", float, None),
        claimed_after_ms=t.get("claimed_after_ms", float, None),
    )
    t.finish()
    return query


def _load_supabase(ctx: _Context, t: _Table, migration: Path) -> SupabaseSettings:
    """Supabase's migration history: on by default when the migration's file name carries
    a version as the Supabase CLI names them (``<digits>_<name>.sql``).  The CLI ignores
    other file names, so for those the history is off unless the runbook gives a version;
    asking for the history without one is an error."""
    explicit = "migration_history" in t.data
    history = t.get("migration_history", bool, True)
    version = t.get("version", str, None, check=lambda v: None if v.isdigit() else
                    "must be digits, like the Supabase CLI's versions (20260216000000)")
    name = t.get("name", str, None)
    t.finish()
    derived = _SUPABASE_FILE.match(migration.name)
    if history and version is None:
        if derived is None:
            if explicit:
                raise ctx.error("supabase.version", "is required: the migration file name"
                                f" {migration.name!r} does not start with a version"
                                " (<digits>_<name>.sql)")
            return SupabaseSettings(migration_history=False)
        version = derived.group(1)
    if history and name is None:
        name = derived.group(2) if derived is not None else migration.stem
    return SupabaseSettings(migration_history=history, version=version, name=name)


def _load_approvals(ctx: _Context, t: _Table, base: Path) -> ApprovalSettings:
    required = t.get("required", int, 0,
                     check=lambda v: None if v >= 0 else "must be 0 or more")
    signers = t.get("allowed_signers", str, None)
    directory = t.get("directory", str, "approvals")
    t.finish()
    if required and signers is None:
        raise ctx.error("approvals.allowed_signers",
                        "is required when approvals are required: the OpenSSH"
                        " allowed_signers file of who may approve")
    signers_path = (base / signers).resolve() if signers else None
    if signers_path is not None and not signers_path.is_file():
        raise ctx.error("approvals.allowed_signers", f"file not found: {signers_path}")
    return ApprovalSettings(required=required, allowed_signers=signers_path,
                            directory=(base / directory).resolve())


def _load_profile(ctx: _Context, t: _Table, phases: list[Phase]) -> Profile:
    items = {f"{phase.id}/{item.id}" for phase in phases for item in phase.items}
    optional = t.strings("optional")
    required = t.strings("required")
    for name, refs in (("optional", optional), ("required", required)):
        for i, ref in enumerate(refs):
            if ref not in items:
                raise ctx.error(f"{t.key}.{name}[{i}]",
                                f"names {ref!r}, which is not a phase/item of this runbook")
    approvals = t.get("approvals_required", int, None,
                      check=lambda v: None if v >= 0 else "must be 0 or more")
    profile = Profile(
        id=t.get("id", str, check=_identifier),
        title=t.get("title", str),
        description=t.get("description", str, ""),
        optional=optional,
        required=required,
        approvals_required=approvals,
        phase_signoff=t.get("phase_signoff", bool, False),
        default=t.get("default", bool, False),
    )
    t.finish()
    return profile


def _sqlstate(value: str) -> str | None:
    if SQLSTATE.match(value):
        return None
    return (f"{value!r} is not an SQLSTATE: five characters, digits and upper-case letters"
            " (23505, 42P07)")


def _load_troubleshooting(t: _Table) -> TroubleshootingEntry:
    entry = TroubleshootingEntry(
        sqlstate=t.get("sqlstate", str, check=_sqlstate),
        title=t.get("title", str),
        cause=t.get("cause", str),
        action=t.get("action", str),
        paper=t.get("paper", str, ""),
    )
    t.finish()
    return entry


def _load_timeline(ctx: _Context, t: _Table, phases: list[Phase]) -> TimelineEntry:
    phase_ids = [p.id for p in phases]
    entry = TimelineEntry(
        phase=t.get("phase", str, check=lambda v: None if v in phase_ids else
                    f"names {v!r}, which is not a phase of this runbook"
                    f" ({', '.join(phase_ids)})"),
        title=t.get("title", str),
        estimate=t.get("estimate", str, check=lambda v: None if parse_estimate(v) else
                       f"{v!r} is not a duration estimate; write 5min, 5-10min, 30-60s"
                       " or 30+min"),
    )
    t.finish()
    return entry


def _proof_problem(proof: str, check_ids: list[str], query_ids: list[str],
                   items: set[str]) -> str | None:
    """Why ``proof`` cannot prove anything in this runbook (None: it can)."""
    kind, _, ref = proof.partition(":")
    if proof == "run":
        return None
    if kind == "check" and ref:
        return None if fnmatch.filter(check_ids, ref) else (
            f"{proof!r} matches none of this runbook's [[checks]] ids")
    if kind == "query" and ref:
        return None if fnmatch.filter(query_ids, ref) else (
            f"{proof!r} matches none of this runbook's [[queries]] ids")
    if kind == "item" and ref:
        return None if ref in items else (
            f"{proof!r} names no phase/item of this runbook")
    return (f"{proof!r} is not a proof: write check:GLOB (a [[checks]] id), query:ID,"
            " item:PHASE/ITEM or run")


def _load_criterion(ctx: _Context, t: _Table, phases: list[Phase], checks: list[Check],
                    queries: list[HeadlineQuery]) -> SuccessCriterion:
    items = {f"{phase.id}/{item.id}" for phase in phases for item in phase.items}
    check_ids = [c.id for c in checks]
    query_ids = [q.id for q in queries]
    proven_by = t.strings("proven_by")
    for i, proof in enumerate(proven_by):
        problem = _proof_problem(proof, check_ids, query_ids, items)
        if problem:
            raise ctx.error(f"{t.key}.proven_by[{i}]", problem)
    criterion = SuccessCriterion(
        id=t.get("id", str, check=_identifier),
        text=t.get("text", str),
        proven_by=proven_by,
    )
    t.finish()
    return criterion


def _load_contact(t: _Table) -> Contact:
    contact = Contact(
        role=t.get("role", str),
        name=t.get("name", str, ""),
        reach=t.get("reach", str, ""),
        about=t.get("about", str, ""),
        escalation=t.get("escalation", int, None,
                         check=lambda v: None if v >= 1 else "must be 1 or more (1: call first)"),
    )
    t.finish()
    return contact


def load_runbook(path: str | Path) -> Runbook:
    """Read, parse and validate a runbook; raise RunbookError on any problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RunbookError(path, "runbook file not found") from None
    except OSError as exc:
        raise RunbookError(path, f"cannot read runbook: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunbookError(path, f"not UTF-8 text (byte {exc.start})") from None
    try:
        # rtoml (Rust, ~10x faster: every command loads the runbook) for the valid
        # runbook, the normal case; tomllib only to word an invalid one, as before.
        data = rtoml.loads(text)
    except rtoml.TomlParsingError:
        data = None
    try:
        if data is None:
            # Imported only here (start-up: a valid runbook never needs it); the except
            # clause below is evaluated only after an exception, so tomllib is bound.
            import tomllib

            data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "... (at line 12, column 5)": lift the line into our format.
        message = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = int(match.group(1)) if match else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        col = f", column {match.group(2)}" if match else ""
        raise RunbookError(path, f"invalid TOML: {message}{col}", line=line) from None

    ctx = _Context(path, _KeyLines(text))
    top = _Table(ctx, "", data)

    meta = top.table("runbook")
    runbook_id = meta.get("id", str, check=_identifier)
    title = meta.get("title", str)
    description = meta.get("description", str, "")
    success_message = meta.get("success_message", str, None)
    meta.finish()

    st = top.table("settings", required=False)
    settings = Settings(
        lock_timeout=st.get("lock_timeout", str, "5s",
                            check=_timeout(LOCK_TIMEOUT_BOUNDS)),
        statement_timeout=st.get("statement_timeout", str, "1h",
                                 check=_timeout(STATEMENT_TIMEOUT_BOUNDS)),
        connect_timeout_s=st.get("connect_timeout_s", float, 10.0),
        min_server_version_num=st.get("min_server_version_num", int, 150000),
        schema=st.get("schema", str, "public"),
        execution_mode=st.get(
            "execution_mode", str, "transaction",
            check=lambda v: None if v in ("transaction", "online")
            else "must be \"transaction\" or \"online\"",
        ),
        online_lock_timeout=st.get("online_lock_timeout", str, "500ms",
                                   check=_timeout(LOCK_TIMEOUT_BOUNDS)),
        integrity_check=st.get("integrity_check", bool, False),
    )
    st.finish()

    scripts_table = top.table("scripts")
    scripts: dict[str, ScriptRef] = {}
    for role in list(scripts_table.data):
        rel = scripts_table.get(role, str)
        script_path = (path.parent / rel).resolve()
        if not script_path.is_file():
            raise ctx.error(f"scripts.{role}", f"SQL file not found: {script_path}")
        scripts[role] = ScriptRef(role=role, path=script_path)
    scripts_table.finish()
    for role in ("migration", "rollback"):
        if role not in scripts:
            raise ctx.error(f"scripts.{role}", "is required but missing")

    supabase = _load_supabase(ctx, top.table("supabase", required=False),
                              scripts["migration"].path)
    approvals = _load_approvals(ctx, top.table("approvals", required=False), path.parent)
    witness_table = top.table("witness", required=False)
    witness = witness_table.get("enabled", bool, True)
    witness_table.finish()

    phases = [_load_phase(ctx, t) for t in top.tables("phases")]
    _unique_ids(ctx, "phases", [(f"phases[{i}].id", p.id) for i, p in enumerate(phases)])
    profiles = [_load_profile(ctx, t, phases) for t in top.tables("profiles", required=False)]
    _unique_ids(ctx, "profiles", [(f"profiles[{i}].id", p.id) for i, p in enumerate(profiles)])
    if sum(p.default for p in profiles) > 1:
        raise ctx.error("profiles", "more than one profile has default = true")
    checks = [_load_check(ctx, t) for t in top.tables("checks", required=False)]
    _unique_ids(ctx, "checks", [(f"checks[{i}].id", c.id) for i, c in enumerate(checks)])
    claims = [_load_claim(t) for t in top.tables("claims", required=False)]
    _unique_ids(ctx, "claims", [(f"claims[{i}].id", c.id) for i, c in enumerate(claims)])
    queries = [_load_query(t) for t in top.tables("queries", required=False)]
    _unique_ids(ctx, "queries", [(f"queries[{i}].id", q.id) for i, q in enumerate(queries)])
    query_ids = {q.id for q in queries}
    for i, claim in enumerate(claims):
        if claim.measure.startswith("speedup:") and claim.measure[8:] not in query_ids:
            raise ctx.error(f"claims[{i}].measure",
                            f"names query {claim.measure[8:]!r}, which is not defined")
    troubleshooting = [_load_troubleshooting(t)
                       for t in top.tables("troubleshooting", required=False)]
    _unique_ids(ctx, "troubleshooting", [(f"troubleshooting[{i}].sqlstate", e.sqlstate)
                                         for i, e in enumerate(troubleshooting)])
    timeline = [_load_timeline(ctx, t, phases) for t in top.tables("timeline", required=False)]
    criteria = [_load_criterion(ctx, t, phases, checks, queries)
                for t in top.tables("success_criteria", required=False)]
    _unique_ids(ctx, "success_criteria", [(f"success_criteria[{i}].id", c.id)
                                          for i, c in enumerate(criteria)])
    contacts = [_load_contact(t) for t in top.tables("contacts", required=False)]
    top.finish()

    return Runbook(
        id=runbook_id,
        title=title,
        path=path.resolve(),
        sha256=hashlib.sha256(raw).hexdigest(),
        description=description,
        settings=settings,
        scripts=scripts,
        phases=tuple(phases),
        checks=tuple(checks),
        claims=tuple(claims),
        queries=tuple(queries),
        success_message=success_message,
        supabase=supabase,
        approvals=approvals,
        profiles=tuple(profiles),
        witness=witness,
        troubleshooting=tuple(troubleshooting),
        timeline=tuple(timeline),
        success_criteria=tuple(criteria),
        contacts=tuple(contacts),
    )
