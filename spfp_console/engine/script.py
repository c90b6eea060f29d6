"""Split a SQL script into statements with a real PostgreSQL parser, keeping source lines.

``$$`` bodies, comments and semicolons inside quotes are the parser's business (pglast,
i.e. libpg_query, the server's own grammar), never a regex's.

Two ways to load:

* **strict** (the default, for ``run``): the whole file must parse.  A syntax error raises
  :class:`ScriptError` naming the file and the line *before anything runs*.
* **tolerant** (for rehearsal): the text is cut at top-level semicolons using the
  scanner's tokens, and each piece is parsed on its own; a piece that does not parse
  becomes a ``syntax_error`` statement with its line and the parser's message, so
  rehearsal reports it as one failing statement among the others.

Why not ``pglast.split(..., with_parser=False)``: that scanner-only split silently drops
what it cannot parse, and a syntax error must never vanish.

Offsets: libpg_query reports byte offsets into the UTF-8 text; pglast (6+) converts them
to ``str`` indexes before we see them (``pglast.parser.Displacements``), so the indexes
below are character indexes.  A test with non-ASCII text before a statement guards this.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from dataclasses import field
from pathlib import Path
from typing import Any, Literal

from pglast import ast, enums, parser

from spfp_console.engine.errors import ScriptError
from spfp_console.lean_dataclass import lean_dataclass

StatementKind = Literal["statement", "transaction_control", "no_transaction", "syntax_error"]
"""What the executor must do with a statement:

* ``statement``: run it (inside the engine's transaction);
* ``transaction_control``: the script's own BEGIN/START TRANSACTION/COMMIT/END/ROLLBACK;
  the engine owns the transaction, so these are skipped (and reported as skipped);
* ``no_transaction``: cannot run inside a transaction block (CREATE INDEX CONCURRENTLY,
  VACUUM, CREATE DATABASE, ALTER SYSTEM, REINDEX CONCURRENTLY, ...);
* ``syntax_error``: does not parse (only in a tolerant load).
"""

_COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})
_SEMICOLON = "ASCII_59"
_OPEN_PAREN = "ASCII_40"
_CLOSE_PAREN = "ASCII_41"


@lean_dataclass(frozen=True)
class Statement:
    """One statement of a script."""

    index: int
    """1-based position in the script, as shown to people ("statement 12")."""
    sql: str
    """The statement's text from its first token to its last, without the ``;``."""
    file: str
    line: int
    """1-based line of the statement's first token."""
    end_line: int
    """1-based line of its last token."""
    kind: StatementKind
    control: str | None = None
    """For ``transaction_control``: ``begin``, ``commit`` or ``rollback``."""
    note: str | None = None
    """Why a ``no_transaction`` statement is one, or the parser's message for a
    ``syntax_error``."""
    error_position: int | None = None
    """For ``syntax_error``: 1-based character position in ``sql`` where parsing failed."""
    error_line: int | None = None
    """For ``syntax_error``: the file line of ``error_position``."""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def line_of(self, position: int) -> int:
        """The file line of a 1-based character ``position`` within :attr:`sql`
        (e.g. the server's error position)."""
        position = max(1, min(position, len(self.sql) + 1))
        return self.line + self.sql.count("\n", 0, position - 1)


@lean_dataclass(frozen=True)
class Script:
    """A SQL file, its hash, and its statements in order."""

    path: Path
    text: str
    sha256: str
    statements: tuple[Statement, ...] = field(default_factory=tuple)

    @property
    def file(self) -> str:
        return str(self.path)

    @property
    def syntax_errors(self) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.kind == "syntax_error")

    @property
    def no_transaction(self) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.kind == "no_transaction")

    @property
    def executable(self) -> tuple[Statement, ...]:
        """Statements the engine would send (not skipped transaction control)."""
        return tuple(s for s in self.statements if s.kind != "transaction_control")


def read_script_text(path: str | Path) -> str:
    """The text of a SQL file, for every reader of a script (split, analysis, preflight).

    One loader so that every command fails the same way on a bad file: a
    :class:`ScriptError` naming the file (and, for bytes that are not UTF-8, the line and
    the byte offset) instead of a ``UnicodeDecodeError`` from deep inside an analysis.
    A UTF-8 byte order mark is dropped (editors on Windows write one).
    """
    return _read_script(Path(path))[1]


def _read_script(path: Path) -> tuple[bytes, str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScriptError(str(path), None, "SQL file not found; check the path") from None
    except IsADirectoryError:
        raise ScriptError(str(path), None, "is a directory, not a SQL file") from None
    except OSError as exc:
        raise ScriptError(
            str(path), None, f"cannot read the SQL file: {exc.strerror}"
        ) from None
    try:
        return data, data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ScriptError(
            str(path),
            line,
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at byte offset {exc.start}); "
            "save the file as UTF-8 (nothing was run)",
        ) from None


def load_script(path: str | Path, *, tolerant: bool = False) -> Script:
    """Read and split a SQL file.  See the module docstring for strict vs tolerant.

    Raises :class:`ScriptError` when the file is missing or unreadable, is not UTF-8,
    holds no statement at all (empty, or only comments), or (strict only) does not parse.
    """
    path = Path(path)
    data, text = _read_script(path)
    script = parse_script(
        text, file=str(path), tolerant=tolerant, sha256=hashlib.sha256(data).hexdigest()
    )
    require_statements(script)
    return script


def require_statements(script: Script) -> None:
    """Refuse a script without a single statement to send.

    An empty or comment-only file is almost always the wrong file (a truncated copy, the
    wrong path in the runbook): "rehearsal passed" or a preflight verdict about it would
    be a claim about nothing.  Transaction control alone (``BEGIN; COMMIT;``) counts as
    empty too: the engine skips it.
    """
    if not script.executable:
        what = "only BEGIN/COMMIT" if script.statements else "no SQL statement"
        raise ScriptError(
            script.file,
            None,
            f"contains {what} (the file is empty or holds only comments); nothing was "
            "run: check that the runbook points at the right script",
        )


@functools.lru_cache(maxsize=8)
def parse_tree(text: str) -> tuple[Any, ...]:
    """PostgreSQL's parse tree of ``text`` (pglast ``RawStmt`` nodes), built once per
    text: splitting a script and analysing what it locks read the same tree, and building
    it is most of what either costs.  Shared: callers must not modify it."""
    return tuple(parser.parse_sql(text))


# A deployment reads its migration several times (the load that refuses a bad file before
# anything, the run, the summary); parsing is pure and a Script is immutable, so the same
# text is parsed once.  Keyed by the text itself: an edited file is parsed again.
@functools.lru_cache(maxsize=8)
def parse_script(
    text: str,
    *,
    file: str = "<string>",
    tolerant: bool = False,
    sha256: str | None = None,
) -> Script:
    """Split SQL ``text`` (as :func:`load_script` does for a file)."""
    lines = _LineIndex(text)
    try:
        raw = parse_tree(text)
    except parser.ParseError as exc:
        statements = _tolerant_split(text, file, lines)
        if not tolerant:
            errors = [s for s in statements if s.kind == "syntax_error"]
            if errors:
                first = errors[0]
                more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
                raise ScriptError(
                    file,
                    first.error_line or first.line,
                    f"{_as_syntax_error(first.note or '')}{more}; nothing was run",
                ) from None
            # The pieces parse on their own but not together: trust the parser.
            message, index = _parse_error_parts(exc)
            raise ScriptError(
                file, lines.line(index or 0), f"{_as_syntax_error(message)}; nothing was run"
            ) from None
    else:
        statements = _from_parse_tree(text, file, lines, raw)
    digest = sha256 or hashlib.sha256(text.encode()).hexdigest()
    return Script(path=Path(file), text=text, sha256=digest, statements=tuple(statements))


# --------------------------------------------------------------------------- internals


class _LineIndex:
    def __init__(self, text: str) -> None:
        self._starts = [0]
        pos = text.find("\n")
        while pos != -1:
            self._starts.append(pos + 1)
            pos = text.find("\n", pos + 1)

    def line(self, index: int) -> int:
        """1-based line of a 0-based character index."""
        return bisect.bisect_right(self._starts, index)


def _code_tokens(text: str) -> list[Any]:
    return [t for t in parser.scan(text) if t.name not in _COMMENT_TOKENS]


def _from_parse_tree(
    text: str, file: str, lines: _LineIndex, raw: tuple[Any, ...]
) -> list[Statement]:
    tokens = _code_tokens(text)
    starts = [t.start for t in tokens]
    out: list[Statement] = []
    for rawstmt in raw:
        begin = rawstmt.stmt_location or 0
        end = begin + rawstmt.stmt_len if rawstmt.stmt_len else len(text)
        # Trim to the first and last real tokens: stmt_location may point at leading
        # whitespace/comments, and the final statement's length (0) means "to the end".
        lo = bisect.bisect_left(starts, begin)
        hi = bisect.bisect_left(starts, end)
        inner = [t for t in tokens[lo:hi] if t.name != _SEMICOLON]
        if not inner:
            continue
        start, stop = inner[0].start, inner[-1].end + 1
        out.append(_make(len(out) + 1, text, start, stop, file, lines, rawstmt.stmt))
    return out


def _make(
    index: int, text: str, start: int, stop: int, file: str, lines: _LineIndex, node: Any
) -> Statement:
    kind, control, note = _classify(node)
    return Statement(
        index=index,
        sql=text[start:stop],
        file=file,
        line=lines.line(start),
        end_line=lines.line(stop - 1),
        kind=kind,
        control=control,
        note=note,
    )


def _tolerant_split(text: str, file: str, lines: _LineIndex) -> list[Statement]:
    """Cut at top-level semicolons, parse each piece; broken pieces become syntax_error."""
    out: list[Statement] = []
    for start, stop in _chunks(text):
        piece = text[start:stop]
        try:
            raw = parser.parse_sql(piece)
        except parser.ParseError as exc:
            message, offset = _parse_error_parts(exc)
            if piece.lstrip().startswith("\\"):
                message = "psql meta-command (backslash command) is not SQL; remove it"
                offset = 0
            offset = 0 if offset is None else min(max(offset, 0), len(piece))
            out.append(
                Statement(
                    index=len(out) + 1,
                    sql=piece,
                    file=file,
                    line=lines.line(start),
                    end_line=lines.line(stop - 1),
                    kind="syntax_error",
                    note=message,
                    error_position=offset + 1,
                    error_line=lines.line(start + offset),
                )
            )
            continue
        sub = _from_parse_tree(piece, file, _LineIndex(piece), raw)
        base_line = lines.line(start) - 1
        for s in sub:
            out.append(
                Statement(
                    index=len(out) + 1,
                    sql=s.sql,
                    file=file,
                    line=s.line + base_line,
                    end_line=s.end_line + base_line,
                    kind=s.kind,
                    control=s.control,
                    note=s.note,
                )
            )
    return out


def _chunks(text: str) -> list[tuple[int, int]]:
    """(start, stop) character ranges of statements, cut at top-level ``;`` tokens.

    Parentheses are tracked (a rule's ``DO (a; b)``), and so are ``BEGIN ATOMIC ... END``
    bodies of SQL-standard functions, the way psql does.  When the scanner itself fails
    (an unterminated quote or comment), everything from the broken statement on is one
    piece: there is no telling where it was meant to end.
    """
    tail_from: int | None = None
    try:
        tokens = _code_tokens(text)
    except parser.ParseError as exc:
        _, bad = _parse_error_parts(exc)
        bad = bad or 0
        tokens = _code_tokens(text[:bad]) if bad else []
        tail_from = bad
    chunks: list[tuple[int, int]] = []
    current: list[Any] = []
    depth = 0
    atomic_depth = 0

    def routine_header() -> bool:
        names = [t.name for t in current[:4]]
        if names[:1] != ["CREATE"]:
            return False
        rest = names[1:]
        if rest[:2] == ["OR", "REPLACE"]:
            rest = rest[2:]
        return rest[:1] in (["FUNCTION"], ["PROCEDURE"])

    for tok in tokens:
        if tok.name == _SEMICOLON and depth == 0 and atomic_depth == 0:
            if current:
                chunks.append((current[0].start, current[-1].end + 1))
            current = []
            continue
        current.append(tok)
        if tok.name == _OPEN_PAREN:
            depth += 1
        elif tok.name == _CLOSE_PAREN:
            depth = max(0, depth - 1)
        elif tok.name in ("BEGIN_P", "CASE") and (atomic_depth or routine_header()):
            if tok.name == "BEGIN_P" or atomic_depth:
                atomic_depth += 1
        elif tok.name == "END_P" and atomic_depth:
            atomic_depth -= 1
    if tail_from is not None:
        start = current[0].start if current else tail_from
        chunks.append((start, len(text.rstrip()) or len(text)))
    elif current:
        chunks.append((current[0].start, current[-1].end + 1))
    return chunks


def _as_syntax_error(message: str) -> str:
    return message if message.startswith("syntax error") else f"syntax error: {message}"


def _parse_error_parts(exc: parser.ParseError) -> tuple[str, int | None]:
    args = exc.args
    message = str(args[0]) if args else str(exc)
    index = args[1] if len(args) > 1 and isinstance(args[1], int) else None
    return message, index


_TX_CONTROL = {
    enums.TransactionStmtKind.TRANS_STMT_BEGIN: "begin",
    enums.TransactionStmtKind.TRANS_STMT_START: "begin",
    enums.TransactionStmtKind.TRANS_STMT_COMMIT: "commit",  # COMMIT and END
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK: "rollback",
}
_TX_NO_BLOCK = {
    enums.TransactionStmtKind.TRANS_STMT_PREPARE: "PREPARE TRANSACTION ends the transaction",
    enums.TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED: "COMMIT PREPARED",
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED",
}


def _has_option(options: Any, name: str) -> bool:
    return any(getattr(o, "defname", None) == name for o in options or ())


def _classify(node: Any) -> tuple[StatementKind, str | None, str | None]:
    """(kind, transaction control action, note) of a parsed statement node."""
    if isinstance(node, ast.TransactionStmt):
        if node.kind in _TX_CONTROL:
            return "transaction_control", _TX_CONTROL[node.kind], None
        if node.kind in _TX_NO_BLOCK:
            return "no_transaction", None, _TX_NO_BLOCK[node.kind]
        return "statement", None, None  # SAVEPOINT, RELEASE, ROLLBACK TO: fine inside ours
    reason: str | None = None
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        reason = "CREATE INDEX CONCURRENTLY"
    elif isinstance(node, ast.DropStmt) and node.concurrent:
        reason = "DROP INDEX CONCURRENTLY"
    elif isinstance(node, ast.ReindexStmt) and (
        _has_option(node.params, "concurrently")
        or node.kind
        in (
            enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM,
            enums.ReindexObjectType.REINDEX_OBJECT_DATABASE,
        )
    ):
        reason = "REINDEX CONCURRENTLY / SYSTEM / DATABASE"
    elif isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
        reason = "VACUUM"
    elif isinstance(node, ast.ClusterStmt) and node.relation is None:
        reason = "CLUSTER without a table"
    elif isinstance(node, ast.CreatedbStmt):
        reason = "CREATE DATABASE"
    elif isinstance(node, ast.DropdbStmt):
        reason = "DROP DATABASE"
    elif isinstance(node, ast.AlterDatabaseStmt) and _has_option(node.options, "tablespace"):
        reason = "ALTER DATABASE SET TABLESPACE"
    elif isinstance(node, ast.AlterSystemStmt):
        reason = "ALTER SYSTEM"
    elif isinstance(node, (ast.CreateTableSpaceStmt, ast.DropTableSpaceStmt)):
        reason = "CREATE/DROP TABLESPACE"
    elif isinstance(node, ast.CreateSubscriptionStmt):
        reason = "CREATE SUBSCRIPTION"
    elif isinstance(node, ast.DropSubscriptionStmt):
        reason = "DROP SUBSCRIPTION"
    elif isinstance(node, ast.AlterTableStmt) and any(
        getattr(getattr(cmd, "def_", None), "concurrent", False) for cmd in node.cmds or ()
    ):
        reason = "DETACH PARTITION CONCURRENTLY"
    if reason:
        return "no_transaction", None, f"{reason} cannot run inside a transaction block"
    return "statement", None, None
