"""Schema dumps with pg_dump, normalised so two dumps of the same schema compare equal."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

# pg_dump >= 15.14/16.10/17.6 wraps its output in \restrict KEY / \unrestrict KEY with a
# random key per run; it says nothing about the schema.
_RESTRICT_LINE = re.compile(r"^\\(un)?restrict \S+\n", re.MULTILINE)


class SchemaDumpError(RuntimeError):
    """pg_dump failed or is not installed."""


def normalize_schema_dump(text: str) -> str:
    return _RESTRICT_LINE.sub("", text)


def dump_schema(
    conninfo: str,
    *,
    pg_dump: str | None = None,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    timeout: float = 300,
) -> str:
    """``pg_dump --schema-only`` of the database at ``conninfo``, normalised."""
    tool = pg_dump or shutil.which("pg_dump")
    if not tool:
        raise SchemaDumpError("pg_dump not found: install the PostgreSQL client tools")
    argv = [tool, "--schema-only", "--no-password", *extra_args, "--dbname", conninfo]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout,
            env=env if env is not None else dict(os.environ),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SchemaDumpError(f"pg_dump failed: {exc}") from exc
    if proc.returncode != 0:
        raise SchemaDumpError(f"pg_dump failed: {proc.stderr.strip()}")
    return normalize_schema_dump(proc.stdout)
