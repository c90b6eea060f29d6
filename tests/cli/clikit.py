"""Helpers for end-to-end tests of the headless CLI (fixtures are registered in conftest.py).

Every test runs the real ``spfp-console`` as a subprocess (``python -m spfp_console``)
against the suite's real PostgreSQL, with ``cwd`` in the test's tmp dir (so
``deploy-logs/`` lands there), stdin from /dev/null (no terminal, as in CI or a pipe) and
an environment stripped of the caller's PG* variables, so only what a test passes reaches
libpq.  ``TMPDIR`` points into the tmp dir too: a crash report, if one were ever written,
is then found by the tests that search every file for a leaked password.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from spfp_console.cli.entrypoint import DSN_PASSWORD_WARNING
from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL, ROLLBACK_SQL
from spfp_console.sampledata import load_sample_data

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BROKEN_SQL = FIXTURES / "broken_migration.sql"
ANSI = "\x1b["

SAMPLE_SCALE = 0.05

VERIFY_UNSIGNED = 5
"""``verify``'s exit code for an intact log that nobody signed (the tests' logs: their
environment has no key, see ``clean_env``)."""


@dataclass
class CliResult:
    """What one CLI invocation did."""

    argv: list[str]
    rc: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err

    def __str__(self) -> str:  # shown by pytest when an assertion about it fails
        return (
            f"$ spfp-console {' '.join(self.argv)}\nexit {self.rc} after "
            f"{self.seconds:.1f} s\n--- stdout\n{self.out[-4000:]}\n--- stderr\n"
            f"{self.err[-4000:]}"
        )

    def error_line(self) -> str:
        """The single ``spfp-console: ...`` line an expected error prints on stderr
        (besides the warning about a password in ``--dsn``, which precedes any error)."""
        lines = [ln for ln in self.err.splitlines()
                 if ln.strip() and ln != DSN_PASSWORD_WARNING]
        assert len(lines) == 1, f"expected one line on stderr:\n{self}"
        assert lines[0].startswith("spfp-console: "), str(self)
        return lines[0]


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without anything that would steer libpq elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PG")
        and k not in ("DATABASE_URL", "FORCE_COLOR", "SSH_AUTH_SOCK", "SPFP_CONSOLE_SIGN_KEY")
    }
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(exist_ok=True)
    env.update(
        TMPDIR=str(tmpdir),
        # a developer's ~/.pgpass or service file must not make a test pass (or leak)
        PGPASSFILE=str(tmp_path / "no-such-pgpass"),
        PGSERVICEFILE=str(tmp_path / "no-such-service-file"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.err, str(result)
    assert "Traceback" not in result.out, str(result)
    assert "internal error" not in result.err, str(result)


class Cli:
    """Run ``spfp-console`` in a tmp dir; every run is checked for tracebacks."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def argv(self, args: tuple[str, ...]) -> list[str]:
        return [sys.executable, "-m", "spfp_console", *args]

    def __call__(
        self, *args: str | Path, env: dict[str, str] | None = None, timeout: float = 120
    ) -> CliResult:
        strs = tuple(str(a) for a in args)
        started = time.monotonic()
        proc = subprocess.run(
            self.argv(strs),
            check=False,  # the exit code is what the tests assert on
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env if env is not None else clean_env(self.cwd),
        )
        result = CliResult(
            list(strs),
            proc.returncode,
            proc.stdout,
            proc.stderr,
            time.monotonic() - started,
        )
        no_traceback(result)
        return result

    def popen(
        self,
        *args: str | Path,
        stdout_path: Path,
        stderr_path: Path,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        strs = tuple(str(a) for a in args)
        return subprocess.Popen(
            self.argv(strs),
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout_path.open("wb"),
            stderr=stderr_path.open("wb"),
            env=env if env is not None else clean_env(self.cwd),
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


# ----------------------------------------------------------------------------- runbooks


def runbook_copy(
    tmp_path: Path,
    *,
    name: str = "runbook.toml",
    migration: Path = MIGRATION_SQL,
    rollback: Path = ROLLBACK_SQL,
    settings: dict[str, str] | None = None,
) -> Path:
    """A copy of the real runbook in ``tmp_path`` with absolute script paths.

    Script paths are relative to the runbook file; an absolute path survives the loader's
    ``runbook_dir / path`` unchanged.  ``settings`` replaces ``key = value`` lines of the
    ``[settings]`` table (values are TOML literals, e.g. ``'"1s"'`` or ``'3'``).
    """
    text = DEFAULT_RUNBOOK.read_text(encoding="utf-8")
    text, n1 = re.subn(r'(?m)^migration = ".*"$', f'migration = "{migration}"', text)
    text, n2 = re.subn(r'(?m)^rollback = ".*"$', f'rollback = "{rollback}"', text)
    assert n1 == 1 and n2 == 1, "the runbook's [scripts] table changed shape"
    for key, value in (settings or {}).items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert n == 1, f"settings.{key} not found in the runbook"
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def slow_migration(tmp_path: Path, seconds: int = 60) -> Path:
    """The real migration with a ``pg_sleep`` just before its COMMIT.

    When the sleep runs, every object of the migration already exists inside the open
    transaction: a test that interrupts it can then check that none of them survived.
    """
    src = MIGRATION_SQL.read_text(encoding="utf-8")
    at = src.rindex("COMMIT;")
    path = tmp_path / "slow_migration.sql"
    path.write_text(
        f"{src[:at]}SELECT pg_sleep({seconds});\n\n{src[at:]}", encoding="utf-8"
    )
    return path


# ----------------------------------------------------------------------------- databases


@pytest.fixture
def clean_db(base_db: Any) -> Any:
    """Base schema with clean sample data (no duplicate categories)."""
    load_sample_data(base_db.dsn, scale=SAMPLE_SCALE)
    return base_db


@pytest.fixture
def dup_db(base_db: Any) -> Any:
    """Base schema with sample data that breaks ``unique_user_category_name``."""
    load_sample_data(base_db.dsn, scale=SAMPLE_SCALE, with_duplicate_categories=True)
    return base_db


def duplicate_categories(db: Any) -> list[tuple[str, int]]:
    """(lower(name), count) of each group the unique index would reject."""
    return [
        (name, int(n))
        for name, n in db.query(
            "select lower(name), count(*) from public.categories"
            " group by user_id, lower(name) having count(*) > 1 order by 1"
        )
    ]


def table_counts(db: Any) -> dict[str, int]:
    """Rows per table in public: data unchanged is part of 'nothing changed'."""
    tables = [
        r[0]
        for r in db.query(
            "select tablename from pg_tables where schemaname = 'public' order by 1"
        )
    ]
    return {t: int(db.scalar(f'select count(*) from public."{t}"')) for t in tables}


def deploy_logs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "deploy-logs").glob("*.deploy-log.toml"))


def session_outcome(log: Path) -> str:
    """The outcome a deployment log's session-end record states."""
    from spfp_console.journal.read import read_journal

    ended = read_journal(log).ended
    assert ended is not None, f"{log}: the session end was not recorded"
    return str(ended.record["outcome"])


def files_under(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path


def assert_secret_nowhere(secret: str, root: Path, *results: CliResult) -> None:
    """``secret`` is in no output and in no file under ``root`` (text or binary)."""
    for result in results:
        assert secret not in result.out, f"password in stdout of {result.argv}"
        assert secret not in result.err, f"password in stderr of {result.argv}"
    needle = secret.encode()
    for path in files_under(root):
        assert needle not in path.read_bytes(), f"password written to {path}"


# ----------------------------------------------------------------------------- servers


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A 127.0.0.1 port that listens but never accepts or answers: a black hole.

    The kernel may finish the TCP handshake into the backlog; nothing ever reads the
    startup packet, so only a connect timeout gets a client out.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port nobody listens on (bound then released: connections refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_backend(
    db: Any,
    marker: str = "pg_sleep",
    timeout: float = 30,
    proc: subprocess.Popen[bytes] | None = None,
    *,
    waiting_on_lock: bool = False,
) -> int:
    """Pid of the spfp-console backend running a statement containing ``marker``
    (and, with ``waiting_on_lock``, waiting for a lock)."""
    lock = " and wait_event_type = 'Lock'" if waiting_on_lock else ""
    deadline = time.monotonic() + timeout
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "select pid from pg_stat_activity where application_name = 'spfp-console'"
                " and state = 'active' and query like %s and pid <> pg_backend_pid()"
                + lock,
                (f"%{marker}%",),
            ).fetchone()
            if row:
                return int(row[0])
            if proc is not None and proc.poll() is not None:
                raise AssertionError(
                    f"the CLI exited ({proc.returncode}) before {marker}"
                )
            time.sleep(0.05)
    raise AssertionError(f"no spfp-console backend ran {marker!r} within {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Make sure a test never leaves its CLI process behind."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
