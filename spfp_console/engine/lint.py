"""Lint a migration before anything runs: what blocks writes, or is unsafe online.

Pure: statements in (as :mod:`spfp_console.engine.script` splits them), findings out; no
database, no I/O.  Each statement's text is parsed again with pglast (the server's own
grammar, a few microseconds a statement), so a rule reads the parse tree, never a regex;
statements that do not parse are read from the scanner's tokens, which is how the paper
migration's "constraints" (a UNIQUE on an expression, a partial UNIQUE) are recognised.

The rule set is anchored on Squawk's (https://squawkhq.com/docs/rules), under Squawk's rule
ids where one exists, plus ``unique-constraint-on-expression`` and
``partial-unique-constraint``, which the paper migration needed and Squawk reports only
as a syntax error.  Style rules (prefer-text-field, prefer-bigint, ...) are left out: they
say nothing about locks or about a run failing.

What the lint assumes about the runner matters (Squawk's ``--assume-in-transaction``):
:class:`LintContext` says whether the statements run in one transaction the runner owns
(``spfp-console run``), as psql runs them, or in online mode, and which timeouts the
runner sets before the first statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pglast import ast, enums, parser

from spfp_console.engine.online_plan import online_statements
from spfp_console.engine.script import Script, Statement
from spfp_console.events import Finding
from spfp_console.runbook.model import Settings

Severity = Literal["error", "warning"]

_NO_TIMEOUT = frozenset({"", "0", "0ms", "0s", "0min", "0h", "0d"})

# Functions whose value changes per row: as a column DEFAULT they make ADD COLUMN rewrite
# the table under ACCESS EXCLUSIVE (PostgreSQL 11+ stores a non-volatile default once).
_VOLATILE_FUNCTIONS = frozenset({
    "random", "random_normal", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc",
    "uuid_generate_v4", "uuidv4", "uuidv7", "clock_timestamp", "timeofday", "nextval",
    "txid_current", "gen_random_bytes", "setseed",
})
# Built-in functions that are STABLE or IMMUTABLE: a default made of them is stored once.
_NON_VOLATILE_FUNCTIONS = frozenset({
    "now", "transaction_timestamp", "statement_timestamp", "current_date", "lower", "upper",
    "coalesce", "to_timestamp", "make_interval", "jsonb_build_object", "json_build_object",
    "array", "concat", "length", "abs", "round", "date_trunc",
})


@dataclass(frozen=True)
class LintFinding:
    """One unsafe pattern in one statement, with why it matters and what to do instead."""

    rule: str
    """Squawk's rule id where one exists (``require-concurrent-index-creation``)."""
    severity: Severity
    """``error``: blocks writes (or reads) on a populated table, or fails; ``warning``:
    makes a partial failure harder to recover from."""
    file: str
    line: int
    statement: str
    """The statement's first line, as written."""
    why: str
    fix: str
    index: int | None = None
    """The statement's 1-based position in the script."""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def one_line(self) -> str:
        return f"{self.where}: {self.severity}: {self.rule}: {self.why}; fix: {self.fix}"


@dataclass(frozen=True)
class LintContext:
    """What the runner does around the statements."""

    wrapped_in_transaction: bool = False
    """The runner runs the whole script in one transaction of its own
    (``spfp-console run``)."""
    skips_transaction_control: bool = False
    """The runner skips the script's own BEGIN/COMMIT (spfp-console does)."""
    lock_timeout: str | None = None
    """The lock_timeout the runner sets before the first statement (None: none)."""
    statement_timeout: str | None = None
    label: str = "psql"


PSQL = LintContext()
"""As ``psql -f`` runs a file: the script's own BEGIN/COMMIT, no timeouts of its own."""


def console_context(
    *, lock_timeout: str, statement_timeout: str, online: bool = False
) -> LintContext:
    """How spfp-console runs a script: one transaction (``run``), or online mode (each
    index built concurrently outside a transaction, everything else in short ones)."""
    return LintContext(
        wrapped_in_transaction=not online,
        skips_transaction_control=True,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
        label="spfp-console run --online" if online else "spfp-console run",
    )


def lint_script(
    statements: Iterable[Statement], context: LintContext = PSQL
) -> list[LintFinding]:
    """Every finding of every rule over ``statements``, in script order."""
    return _Linter(context).run(list(statements))


def errors(findings: Iterable[LintFinding]) -> list[LintFinding]:
    return [f for f in findings if f.severity == "error"]


def lint_for_runbook(
    script: Script, settings: Settings, *, online: bool | None = None, psql: bool = False
) -> tuple[LintContext, list[LintFinding]]:
    """Lint ``script`` as it will run: as ``spfp-console run`` runs it with the runbook's
    settings (online when ``online`` is true, or None and the runbook's execution_mode is
    online: the statements are then the ones online mode sends), or as ``psql -f`` does."""
    if psql:
        return PSQL, lint_script(script.statements, PSQL)
    if online is None:
        online = settings.execution_mode == "online"
    if online:
        context = console_context(lock_timeout=settings.online_lock_timeout,
                                  statement_timeout=settings.statement_timeout, online=True)
        return context, lint_script(online_statements(script), context)
    context = console_context(lock_timeout=settings.lock_timeout,
                              statement_timeout=settings.statement_timeout)
    return context, lint_script(script.statements, context)


def finding_event(finding: LintFinding) -> Finding:
    """A lint finding as the session's :class:`~spfp_console.events.Finding` event
    (source ``lint``, section the rule id).  An error is a ``warning`` there, not a
    ``blocker``: the default one-transaction run knowingly blocks writes at each index;
    whether a workflow refuses to go on is the workflow's decision."""
    return Finding(
        source="lint",
        section=finding.rule,
        severity="warning" if finding.severity == "error" else "info",
        message=f"{finding.where}: {finding.why}",
        subject=finding.statement,
        advice=finding.fix,
    )


# --------------------------------------------------------------------------- the rules


@dataclass
class _Parsed:
    stmt: Statement
    node: Any  # the pglast node, None for a statement that does not parse


class _Linter:
    def __init__(self, context: LintContext) -> None:
        self.context = context
        self.findings: list[LintFinding] = []
        self.created_tables: set[str] = set()
        self.in_explicit_transaction = False
        self.timeouts_set = {
            "lock_timeout": _sets_timeout(context.lock_timeout),
            "statement_timeout": _sets_timeout(context.statement_timeout),
        }
        self.timeout_reported = False
        self.dropped_constraints: set[str] = set()
        self.not_valid_in_transaction: set[str] = set()

    @property
    def in_transaction(self) -> bool:
        return self.context.wrapped_in_transaction or self.in_explicit_transaction

    def report(self, p: _Parsed, rule: str, severity: Severity, why: str, fix: str) -> None:
        stmt = p.stmt
        first = stmt.sql.strip().splitlines()[0] if stmt.sql.strip() else ""
        self.findings.append(LintFinding(
            rule=rule, severity=severity, file=stmt.file, line=stmt.line, statement=first,
            why=why, fix=fix, index=stmt.index,
        ))

    def run(self, statements: list[Statement]) -> list[LintFinding]:
        for stmt in statements:
            p = _Parsed(stmt, _parse(stmt))
            if stmt.kind == "syntax_error" or p.node is None:
                self.unparsed(p)
                continue
            if stmt.kind == "transaction_control":
                self.transaction_control(p)
                continue
            self.statement(p)
        return self.findings

    # ---------------------------------------------------------------- per statement

    def transaction_control(self, p: _Parsed) -> None:
        if self.context.skips_transaction_control:
            return
        if p.stmt.control == "begin":
            if self.in_explicit_transaction:
                self.report(
                    p, "transaction-nesting", "warning",
                    "BEGIN inside an open transaction does nothing (PostgreSQL has no "
                    "nested transactions): the statements after it are not a unit of their own",
                    "remove the inner BEGIN, or COMMIT the first transaction before it",
                )
            self.in_explicit_transaction = True
        else:
            self.in_explicit_transaction = False
            self.not_valid_in_transaction.clear()

    def statement(self, p: _Parsed) -> None:
        node = p.node
        if isinstance(node, ast.VariableSetStmt) and node.name in self.timeouts_set:
            self.timeouts_set[node.name] = _set_value_is_timeout(node)
            return
        if _is_set_config_select(node):
            for name, value in _set_config_calls(node):
                if name in self.timeouts_set:
                    self.timeouts_set[name] = _sets_timeout(value)
            return
        if _takes_locks(node):
            self.require_timeouts(p)
        if isinstance(node, ast.CreateStmt):
            self.create_table(p, node)
        elif isinstance(node, ast.IndexStmt):
            self.create_index(p, node)
        elif isinstance(node, ast.DropStmt):
            self.drop(p, node)
        elif isinstance(node, ast.AlterTableStmt):
            self.alter_table(p, node)

    def require_timeouts(self, p: _Parsed) -> None:
        if self.timeout_reported or all(self.timeouts_set.values()):
            return
        self.timeout_reported = True
        missing = " and ".join(k for k, v in self.timeouts_set.items() if not v)
        self.report(
            p, "require-timeout-settings", "error",
            f"no {missing} before the first statement that takes a lock: waiting behind a "
            "long query, it queues every read and write of the table behind it",
            "SET lock_timeout = '1s' and SET statement_timeout before the first DDL "
            "(spfp-console sets the runbook's settings itself)",
        )

    def create_table(self, p: _Parsed, node: ast.CreateStmt) -> None:
        self.created_tables.add(_table_key(node.relation))
        if not node.if_not_exists and not self.in_transaction:
            self.report(
                p, "prefer-robust-stmts", "warning",
                "outside one transaction a re-run after a partial failure stops here "
                "(the table already exists)",
                "CREATE TABLE IF NOT EXISTS",
            )

    def create_index(self, p: _Parsed, node: ast.IndexStmt) -> None:
        new_table = _table_key(node.relation) in self.created_tables
        if not node.concurrent:
            if not new_table:
                self.report(
                    p, "require-concurrent-index-creation", "error",
                    "CREATE INDEX holds a SHARE lock for the whole build: every INSERT, "
                    "UPDATE and DELETE on the table waits until it ends",
                    "CREATE INDEX CONCURRENTLY outside a transaction (spfp-console run "
                    "--online does this)",
                )
            return
        if self.in_transaction:
            self.report(
                p, "ban-concurrent-index-creation-in-transaction", "error",
                "CREATE INDEX CONCURRENTLY cannot run inside a transaction block: the "
                "statement fails and the transaction with it",
                "run it outside the transaction (after COMMIT), or use spfp-console run "
                "--online",
            )
        elif not node.if_not_exists:
            self.report(
                p, "prefer-robust-stmts", "warning",
                "a concurrent build runs outside a transaction: a re-run after a failure "
                "stops here (or keeps an INVALID index of that name)",
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS (and drop an INVALID leftover "
                "first; spfp-console does)",
            )

    def drop(self, p: _Parsed, node: ast.DropStmt) -> None:
        if node.removeType == enums.ObjectType.OBJECT_INDEX:
            if not node.concurrent:
                self.report(
                    p, "require-concurrent-index-deletion", "error",
                    "DROP INDEX takes ACCESS EXCLUSIVE on the table: reads and writes wait "
                    "behind it, and behind whatever it waits for",
                    "DROP INDEX CONCURRENTLY IF EXISTS, outside a transaction",
                )
            elif self.in_transaction:
                self.report(
                    p, "ban-concurrent-index-creation-in-transaction", "error",
                    "DROP INDEX CONCURRENTLY cannot run inside a transaction block",
                    "run it outside the transaction",
                )
        if not node.missing_ok and not self.in_transaction and node.removeType in (
            enums.ObjectType.OBJECT_TABLE, enums.ObjectType.OBJECT_INDEX,
        ):
            self.report(
                p, "prefer-robust-stmts", "warning",
                "outside one transaction a re-run after a partial failure stops here "
                "(already dropped)",
                "DROP ... IF EXISTS",
            )

    def alter_table(self, p: _Parsed, node: ast.AlterTableStmt) -> None:
        table = _table_key(node.relation)
        new_table = table in self.created_tables
        for cmd in node.cmds or ():
            sub = cmd.subtype
            if sub == enums.AlterTableType.AT_AddColumn:
                self.add_column(p, cmd, new_table)
            elif sub == enums.AlterTableType.AT_AddConstraint and not new_table:
                self.add_constraint(p, table, cmd.def_)
            elif sub == enums.AlterTableType.AT_AddConstraint:
                self.note_constraint(table, cmd.def_)
            elif sub == enums.AlterTableType.AT_DropConstraint:
                if cmd.missing_ok:
                    self.dropped_constraints.add(f"{table}.{cmd.name}")
            elif sub == enums.AlterTableType.AT_ValidateConstraint:
                if f"{table}.{cmd.name}" in self.not_valid_in_transaction:
                    self.report(
                        p, "constraint-missing-not-valid", "error",
                        "VALIDATE CONSTRAINT in the transaction that added it NOT VALID "
                        "keeps the ADD's ACCESS EXCLUSIVE lock through the whole scan",
                        "COMMIT after ADD CONSTRAINT ... NOT VALID, then VALIDATE "
                        "CONSTRAINT in a transaction of its own",
                    )
            elif sub == enums.AlterTableType.AT_SetNotNull and not new_table:
                self.report(
                    p, "adding-not-nullable-field", "error",
                    "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE (no reads or "
                    "writes meanwhile) and fails if a NULL exists",
                    "ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE "
                    "CONSTRAINT, then SET NOT NULL (PostgreSQL 12+ skips the scan)",
                )
            elif sub == enums.AlterTableType.AT_AlterColumnType and not new_table:
                self.report(
                    p, "changing-column-type", "error",
                    "changing a column's type usually rewrites the table and its indexes "
                    "under ACCESS EXCLUSIVE",
                    "add a new column, backfill it in batches, then switch readers to it",
                )

    def add_column(self, p: _Parsed, cmd: Any, new_table: bool) -> None:
        coldef = cmd.def_
        constraints = list(getattr(coldef, "constraints", None) or ())
        kinds = {c.contype for c in constraints}
        default = next(
            (c for c in constraints if c.contype == enums.ConstrType.CONSTR_DEFAULT), None
        )
        if not cmd.missing_ok and not self.in_transaction:
            self.report(
                p, "prefer-robust-stmts", "warning",
                "outside one transaction a re-run after a partial failure stops here "
                "(the column already exists)",
                "ADD COLUMN IF NOT EXISTS",
            )
        if new_table:
            return
        if enums.ConstrType.CONSTR_GENERATED in kinds:
            self.report(
                p, "adding-field-with-default", "error",
                "a STORED generated column is computed for every row: the table is "
                "rewritten under ACCESS EXCLUSIVE",
                "add a plain nullable column, backfill in batches, keep it current with a "
                "trigger",
            )
        elif default is not None:
            volatility = _volatility(default.raw_expr)
            if volatility == "volatile":
                self.report(
                    p, "adding-field-with-default", "error",
                    "a VOLATILE default is evaluated per row: the table is rewritten under "
                    "ACCESS EXCLUSIVE, no reads or writes meanwhile",
                    "ADD COLUMN without the default, ALTER COLUMN SET DEFAULT, then backfill "
                    "existing rows in batches",
                )
            elif volatility == "unknown":
                self.report(
                    p, "adding-field-with-default", "warning",
                    "the default calls a function whose volatility the lint cannot see: if "
                    "it is VOLATILE the table is rewritten under ACCESS EXCLUSIVE",
                    "check pg_proc.provolatile; if 'v', add the column without the default "
                    "and backfill",
                )
        elif enums.ConstrType.CONSTR_NOTNULL in kinds:
            self.report(
                p, "adding-required-field", "error",
                "NOT NULL without a default fails on any populated table, and old "
                "application code cannot INSERT without the column",
                "add it nullable, or NOT NULL with a non-volatile DEFAULT",
            )
        for c in constraints:
            if c.contype == enums.ConstrType.CONSTR_FOREIGN:
                self.report(
                    p, "adding-foreign-key-constraint", "error",
                    "a REFERENCES on a new column locks both tables against writes "
                    "(SHARE ROW EXCLUSIVE)",
                    "add the column, then ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID and "
                    "VALIDATE CONSTRAINT in a later transaction",
                )
            elif c.contype in (enums.ConstrType.CONSTR_UNIQUE, enums.ConstrType.CONSTR_PRIMARY):
                self.report(
                    p, "disallowed-unique-constraint", "error",
                    "a UNIQUE/PRIMARY KEY column builds its index under ACCESS EXCLUSIVE",
                    "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX",
                )

    def note_constraint(self, table: str, con: Any) -> None:
        if getattr(con, "skip_validation", False) and con.conname:
            self.not_valid_in_transaction.add(f"{table}.{con.conname}")

    def add_constraint(self, p: _Parsed, table: str, con: Any) -> None:
        kind = con.contype
        if con.skip_validation and con.conname and self.in_transaction:
            self.not_valid_in_transaction.add(f"{table}.{con.conname}")
        if kind == enums.ConstrType.CONSTR_FOREIGN and not con.skip_validation:
            self.report(
                p, "adding-foreign-key-constraint", "error",
                "the new foreign key scans the table while both tables are locked against "
                "writes (SHARE ROW EXCLUSIVE)",
                "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT in "
                "a later transaction",
            )
        elif kind == enums.ConstrType.CONSTR_CHECK and not con.skip_validation:
            self.report(
                p, "constraint-missing-not-valid", "error",
                "the new CHECK scans the whole table under ACCESS EXCLUSIVE: no reads or "
                "writes until it ends",
                "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT (SHARE UPDATE "
                "EXCLUSIVE: writes go on) in a later transaction",
            )
        elif kind in (enums.ConstrType.CONSTR_UNIQUE, enums.ConstrType.CONSTR_PRIMARY,
                      enums.ConstrType.CONSTR_EXCLUSION) and not con.indexname:
            self.report(
                p, "disallowed-unique-constraint", "error",
                "ADD CONSTRAINT UNIQUE/PRIMARY KEY builds its index under ACCESS EXCLUSIVE: "
                "no reads or writes for the whole build",
                "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX",
            )
        if (con.conname and f"{table}.{con.conname}" not in self.dropped_constraints
                and not self.in_transaction):
            self.report(
                p, "prefer-robust-stmts", "warning",
                "outside one transaction a re-run after a partial failure stops here (the "
                "constraint already exists)",
                "ALTER TABLE ... DROP CONSTRAINT IF EXISTS first",
            )

    # ---------------------------------------------------------------- unparsed statements

    def unparsed(self, p: _Parsed) -> None:
        tokens = _tokens(p.stmt.sql)
        shape = _unique_constraint_shape(tokens)
        if shape == "expression":
            self.report(
                p, "unique-constraint-on-expression", "error",
                "a UNIQUE table constraint takes column names only: PostgreSQL rejects an "
                "expression such as lower(name) here, so the statement (and the whole "
                "transaction) fails",
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS name ON table (col, "
                "lower(other)) instead of ADD CONSTRAINT",
            )
            return
        if shape == "partial":
            self.report(
                p, "partial-unique-constraint", "error",
                "a UNIQUE table constraint cannot have a WHERE clause: PostgreSQL rejects "
                "the statement, and the transaction with it",
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS name ON table (cols) "
                "WHERE predicate",
            )
            return
        self.report(
            p, "syntax-error", "error",
            f"the statement does not parse ({p.stmt.note or 'syntax error'}), so the run "
            "fails here",
            "fix the syntax; spfp-console rehearse lists every failing statement in one pass",
        )


# --------------------------------------------------------------------------- helpers


def _parse(stmt: Statement) -> Any:
    if stmt.kind == "syntax_error":
        return None
    try:
        raw = parser.parse_sql(stmt.sql)
    except parser.ParseError:
        return None
    return raw[0].stmt if raw else None


def _tokens(sql: str) -> list[tuple[str, str]]:
    try:
        scanned = parser.scan(sql)
    except parser.ParseError:
        return []
    return [
        (t.name, sql[t.start:t.end + 1])
        for t in scanned
        if t.name not in ("SQL_COMMENT", "C_COMMENT")
    ]


def _unique_constraint_shape(tokens: list[tuple[str, str]]) -> str | None:
    """'expression' or 'partial' when the tokens are ALTER TABLE ... ADD [CONSTRAINT x]
    UNIQUE (...) with a parenthesis inside the column list, or a WHERE after it."""
    names = [n for n, _ in tokens]
    if names[:2] != ["ALTER", "TABLE"] or "ADD_P" not in names:
        return None
    try:
        at = names.index("UNIQUE", names.index("ADD_P"))
    except ValueError:
        return None
    if at + 1 >= len(names) or names[at + 1] != "ASCII_40":
        return None
    depth = 0
    for i in range(at + 1, len(names)):
        if names[i] == "ASCII_40":
            depth += 1
            if depth > 1:
                return "expression"
        elif names[i] == "ASCII_41":
            depth -= 1
            if depth == 0:
                return "partial" if "WHERE" in names[i + 1:] else None
    return None


def _table_key(relation: Any) -> str:
    return str(getattr(relation, "relname", "") or "").lower()


def _sets_timeout(value: str | None) -> bool:
    return value is not None and value.strip().lower().replace(" ", "") not in _NO_TIMEOUT


def _set_value_is_timeout(node: ast.VariableSetStmt) -> bool:
    if node.kind != enums.VariableSetKind.VAR_SET_VALUE or not node.args:
        return False
    val = getattr(node.args[0], "val", None)
    raw = getattr(val, "sval", None)
    if raw is None:
        raw = getattr(val, "ival", None)
    return _sets_timeout(None if raw is None else str(raw))


def _is_set_config_select(node: Any) -> bool:
    return isinstance(node, ast.SelectStmt) and bool(list(_set_config_calls(node)))


def _set_config_calls(node: ast.SelectStmt) -> Iterable[tuple[str, str]]:
    for target in node.targetList or ():
        call = getattr(target, "val", None)
        if not isinstance(call, ast.FuncCall):
            continue
        args = call.args or ()
        if _function_name(call) != "set_config" or len(args) < 2:
            continue
        name = getattr(getattr(args[0], "val", None), "sval", None)
        value = getattr(getattr(args[1], "val", None), "sval", None)
        if name is not None and value is not None:
            yield str(name), str(value)


_LOCKING = (
    ast.AlterTableStmt, ast.IndexStmt, ast.DropStmt, ast.CreateTrigStmt, ast.RenameStmt,
    ast.ReindexStmt, ast.ClusterStmt, ast.VacuumStmt, ast.TruncateStmt, ast.CreatePolicyStmt,
    ast.AlterPolicyStmt, ast.RuleStmt, ast.LockStmt,
)


def _takes_locks(node: Any) -> bool:
    """Statements that lock an existing table in a mode that can queue writes (or wait)."""
    return isinstance(node, _LOCKING)


def _volatility(expr: Any) -> str:
    """'volatile', 'stable' (stored once) or 'unknown' for a DEFAULT expression."""
    found = "stable"
    for node in _walk(expr):
        if isinstance(node, ast.FuncCall):
            name = _function_name(node)
            if name in _VOLATILE_FUNCTIONS:
                return "volatile"
            if name not in _NON_VOLATILE_FUNCTIONS:
                found = "unknown"
    return found


def _function_name(call: ast.FuncCall) -> str:
    """The unqualified, lower-case name of a function call."""
    parts = call.funcname or ()
    return str(getattr(parts[-1], "sval", "")).lower() if parts else ""


def _walk(node: Any) -> Iterable[Any]:
    if isinstance(node, ast.Node):
        yield node
        for name in node:
            yield from _walk(getattr(node, name))
    elif isinstance(node, tuple):
        for item in node:
            yield from _walk(item)
