"""What the migration script does to which relations, read with PostgreSQL's own parser.

The preflight asks it which tables need ownership or REFERENCES and which lock each
statement takes; rehearsal and the lint ask it too.  Pure: no database.
"""

from __future__ import annotations

import functools
import re
from dataclasses import field
from pathlib import Path
from typing import Any

from pglast import ast
from pglast.parser import ParseError

from spfp_console.engine.script import parse_tree, read_script_text
from spfp_console.lean_dataclass import lean_dataclass


@lean_dataclass
class ScriptRelations:
    """Which relations the migration script names, by what it does to them."""

    owned: set[tuple[str, str]] = field(default_factory=set)
    """Altered, indexed, given a trigger or a policy: needs ownership."""
    referenced: set[tuple[str, str]] = field(default_factory=set)
    """Targets of a new foreign key: need REFERENCES (and get a SHARE ROW EXCLUSIVE lock)."""
    created: set[tuple[str, str]] = field(default_factory=set)
    """Tables and views the script creates."""
    read: set[tuple[str, str]] = field(default_factory=set)
    """Everything else it names (e.g. the tables views select from)."""
    locks: dict[tuple[str, str], str] = field(default_factory=dict)
    """The strongest table lock the script takes on each relation.  The runbook runs in
    one transaction, so each is held until COMMIT."""
    error: str | None = None

    def lock(self, relation: tuple[str, str], mode: str) -> None:
        current = self.locks.get(relation)
        if current is None or LOCK_LEVELS.index(mode) > LOCK_LEVELS.index(current):
            self.locks[relation] = mode


LOCK_LEVELS = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
LOCK_EFFECT = {
    "ACCESS EXCLUSIVE": "reads and writes wait",
    "EXCLUSIVE": "writes wait",
    "SHARE ROW EXCLUSIVE": "writes wait",
    "SHARE": "writes wait",
    "SHARE UPDATE EXCLUSIVE": "vacuum and DDL wait",
}


def script_relations(path: Path, default_schema: str = "public") -> ScriptRelations:
    """Parse the script with PostgreSQL's own parser and classify every relation it names.

    Bodies of DO blocks and functions are strings to the parser and are not looked into.
    A script that does not parse yields ``error`` (rehearsal reports the exact line).
    """
    # read_script_text: a file that is not UTF-8 is the loader's one clear ScriptError.
    found = _relations_of(read_script_text(path), default_schema, Path(path).name)
    # A copy: the cached analysis is shared, and a caller may add to its sets.
    return ScriptRelations(owned=set(found.owned), referenced=set(found.referenced),
                           created=set(found.created), read=set(found.read),
                           locks=dict(found.locks), error=found.error)


# A deployment analyses its migration several times (preflight, the run's summary, the
# rehearsal's effects): parsing and walking the tree is pure, so once per text.
@functools.lru_cache(maxsize=8)
def _relations_of(text: str, default_schema: str, file_name: str) -> ScriptRelations:
    result = ScriptRelations()
    try:
        statements = parse_tree(text)
    except ParseError as exc:
        result.error = f"{file_name}: {exc}"
        return result

    def name(rv: Any) -> tuple[str, str]:
        return (str(rv.schemaname or default_schema), str(rv.relname))

    def walk(node: Any) -> None:
        if isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
            return
        if not isinstance(node, ast.Node):
            return
        # Lock levels as PostgreSQL documents them for each command.
        if isinstance(node, ast.RangeVar):
            result.read.add(name(node))
            result.lock(name(node), "ACCESS SHARE")
        elif isinstance(node, ast.AlterTableStmt):
            result.owned.add(name(node.relation))
            result.lock(name(node.relation), "ACCESS EXCLUSIVE")
        elif isinstance(node, ast.IndexStmt):
            result.owned.add(name(node.relation))
            result.lock(
                name(node.relation),
                "SHARE UPDATE EXCLUSIVE" if node.concurrent else "SHARE",
            )
        elif isinstance(node, ast.CreateTrigStmt):
            result.owned.add(name(node.relation))
            result.lock(name(node.relation), "SHARE ROW EXCLUSIVE")
        elif isinstance(node, ast.CreatePolicyStmt):
            result.owned.add(name(node.table))
            result.lock(name(node.table), "ACCESS EXCLUSIVE")
        elif isinstance(node, ast.Constraint) and node.pktable is not None:
            result.referenced.add(name(node.pktable))
            result.lock(name(node.pktable), "SHARE ROW EXCLUSIVE")
        elif isinstance(node, ast.CreateStmt):
            result.created.add(name(node.relation))
        elif isinstance(node, ast.ViewStmt):
            result.created.add(name(node.view))
        for slot in getattr(type(node), "__slots__", ()):
            walk(getattr(node, slot, None))

    for raw in statements:
        walk(raw.stmt)
    result.read -= result.owned | result.referenced | result.created
    return result


def script_creates_function(path: Path, function: str) -> bool:
    """Whether the script's text creates ``function`` (also inside a DO block)."""
    pattern = (
        r"create\s+(?:or\s+replace\s+)?function\s+(?:\"?\w+\"?\s*\.\s*)?\"?"
        + re.escape(function)
        + r"\"?\s*\("
    )
    return re.search(pattern, read_script_text(path), re.IGNORECASE) is not None


