"""Write a deployment log: a ``[session]`` header, then one ``[[event]]`` per event.

Layout of a log (valid TOML after every append)::

    [session]
    format = "spfp-console-journal"
    ...
    hash = "<sha256 of the session table>"

    [session.target]
    ...

    [[event]]
    seq = 1
    at = "2026-02-16T10:00:00.000000Z"    # UTC wall clock
    t = 0.0123                            # monotonic seconds since the session started
    prev = "<hash of the previous event; the header's hash for seq 1>"
    kind = "statement_started"
    ...                                   # the event's own fields (Event.to_record())
    hash = "<sha256 of this event's canonical form, without hash>"

Each event is written with a single ``write`` and ``fsync``'d before ``record`` returns, so
a crash loses at most the event in flight; ``hash`` is always an event's last line, so a
torn write is recognisable as truncation.  Every string is redacted before it is hashed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from spfp_console import __version__
from spfp_console.errors import ConsoleError
from spfp_console.events import (
    Event,
    IndexBuildProgress,
    RunFinished,
    SessionEnded,
    StatementFailed,
    StatementFinished,
)
from spfp_console.journal.canonical import (
    FORMAT,
    FORMAT_VERSION,
    HASH_KEY,
    header_hash,
    record_hash,
    render_event,
    render_header,
    tomli_w_version,
)
from spfp_console.redact import Redactor, secrets_in_env
from spfp_console.journal.session_info import collect_session_info

DEFAULT_LOG_DIR = Path("deploy-logs")
"""Where logs go unless the caller names a directory (relative to the working directory)."""

LOG_SUFFIX = ".deploy-log.toml"

SESSION_ENDED = "session_ended"
"""Kind of the journal's own last record: the session is over, with its outcome."""

JOURNAL_FIELDS = ("seq", "at", "t", "prev", HASH_KEY)
"""Keys the journal adds to every event record; an event field must not reuse them."""


class JournalError(ConsoleError):
    """The log could not be created or appended to."""


@dataclass(frozen=True, kw_only=True)
class Target:
    """The database a session deploys to.  There is deliberately no password field."""

    host: str | None = None
    port: int | None = None
    database: str | None = None
    user: str | None = None
    server_version: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, kw_only=True)
class SessionHeader:
    """What the ``[session]`` table says about a session, before it starts."""

    runbook_id: str
    """The runbook's id (also part of the log's file name)."""
    target: Target = field(default_factory=Target)
    """Where the session deploys."""
    runbook_sha256: str | None = None
    """sha256 of the runbook file."""
    files: Mapping[str, str] = field(default_factory=dict)
    """Every SQL file the runbook references: path -> sha256."""
    operator: Mapping[str, Any] | None = None
    """OS user, host, SSH origin, terminal; collected from this process when None."""

    @classmethod
    def for_runbook(
        cls,
        runbook_id: str,
        runbook_path: Path,
        sql_files: Iterable[Path],
        target: Target,
        *,
        base_dir: Path | None = None,
    ) -> SessionHeader:
        """A header with the sha256 of the runbook and of each referenced SQL file."""

        def name(p: Path) -> str:
            if base_dir is not None:
                try:
                    return str(Path(p).resolve().relative_to(Path(base_dir).resolve()))
                except ValueError:
                    pass
            return str(p)

        return cls(
            runbook_id=runbook_id,
            target=target,
            runbook_sha256=sha256_file(runbook_path),
            files={name(p): sha256_file(Path(p)) for p in sql_files},
        )


def _utc_stamp(now: _dt.datetime) -> str:
    return now.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_name_part(text: str | None, fallback: str) -> str:
    cleaned = _UNSAFE.sub("-", text or "").strip(".-")[:60]
    return cleaned or fallback


def log_file_name(runbook_id: str, database: str | None, now: _dt.datetime) -> str:
    """``<runbook>_<database>_<UTC time>.deploy-log.toml``, safe for any file system."""
    stamp = now.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return (
        f"{_safe_name_part(runbook_id, 'runbook')}_{_safe_name_part(database, 'db')}"
        f"_{stamp}{LOG_SUFFIX}"
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _create_exclusive(directory: Path, name: str) -> tuple[Path, int]:
    stem = name.removesuffix(LOG_SUFFIX)
    for attempt in range(1, 1000):
        candidate = directory / (name if attempt == 1 else f"{stem}-{attempt}{LOG_SUFFIX}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except FileExistsError:
            continue
        # The umask can only remove bits; make sure no one else can read the log.
        os.fchmod(fd, 0o600)
        return candidate, fd
    raise JournalError(f"cannot create a log in {directory}: too many logs named {name}")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class JournalWriter:
    """Appends events to a new log file; ``record`` is the engine's event callback.

    Thread-safe: the engine's worker thread and the UI may record concurrently.
    ``IndexBuildProgress`` samples are rate-limited to one per ``progress_interval_s``
    per statement; the latest held-back sample is written before that statement's
    finished/failed event, so the log always shows where a build got to.
    """

    def __init__(
        self,
        path: Path,
        fd: int,
        *,
        head_hash: str,
        redactor: Redactor,
        progress_interval_s: float,
        monotonic: Callable[[], float],
        wall_clock: Callable[[], _dt.datetime],
        start_monotonic: float,
    ) -> None:
        self.path = path
        """The log file."""
        self._fd: int | None = fd
        self._last_hash = head_hash
        self._seq = 0
        self._redactor = redactor
        self._interval = progress_interval_s
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._start = start_monotonic
        self._lock = threading.Lock()
        self._progress_written_at: dict[int, float] = {}
        self._progress_held: dict[int, IndexBuildProgress] = {}
        self.progress_samples_dropped = 0
        """Samples not written because a newer one replaced them within the interval."""
        self.ended = False
        """True once the session end record is written."""

    @classmethod
    def create(
        cls,
        header: SessionHeader,
        *,
        log_dir: Path | str | None = None,
        secrets: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        progress_interval_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.timezone.utc),
    ) -> JournalWriter:
        """Create ``<log_dir>/<runbook>_<db>_<time>.deploy-log.toml`` (mode 0600).

        ``secrets`` are scrubbed from every string written (pass the target password);
        ``$PGPASSWORD`` from ``env`` (default: this process) is scrubbed too.
        """
        env = os.environ if env is None else env
        redactor = Redactor({*secrets, *secrets_in_env(env)})
        directory = Path(log_dir) if log_dir is not None else DEFAULT_LOG_DIR
        now = wall_clock()
        start = monotonic()
        operator = dict(header.operator) if header.operator is not None else collect_session_info(env)
        session: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "console_version": __version__,
            "tomli_w_version": tomli_w_version(),
            "started_at": _utc_stamp(now),
            "runbook_id": header.runbook_id,
        }
        if header.runbook_sha256:
            session["runbook_sha256"] = header.runbook_sha256
        session.update(operator)
        session = redactor.value(session)
        session["target"] = redactor.value(header.target.to_record())
        session["files"] = redactor.value(dict(header.files))
        head_hash = header_hash(session)
        # Scalars before tables, so tomli-w writes hash inside [session] proper.
        session = {
            **{k: v for k, v in session.items() if not isinstance(v, dict)},
            HASH_KEY: head_hash,
            **{k: v for k, v in session.items() if isinstance(v, dict)},
        }
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            path, fd = _create_exclusive(
                directory, log_file_name(header.runbook_id, header.target.database, now)
            )
            try:
                _write_all(fd, render_header(session))
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                raise
        except OSError as exc:
            raise JournalError(
                f"cannot create the deployment log in {directory}: {exc.strerror or exc}; "
                "choose a writable --log-dir"
            ) from exc
        _fsync_dir(directory)
        return cls(
            path,
            fd,
            head_hash=head_hash,
            redactor=redactor,
            progress_interval_s=progress_interval_s,
            monotonic=monotonic,
            wall_clock=wall_clock,
            start_monotonic=start,
        )

    # ------------------------------------------------------------------ appending

    @property
    def last_seq(self) -> int:
        """seq of the last event written (0 before any)."""
        return self._seq

    def add_secret(self, secret: str) -> None:
        """Scrub ``secret`` from every later record (e.g. a password typed mid-session)."""
        with self._lock:
            self._redactor.add(secret)

    def record(self, event: Event) -> None:
        """Append ``event`` (the engine's ``Callable[[Event], None]``).

        The session's SessionEnded becomes the log's closing record (see :meth:`end`)."""
        if isinstance(event, SessionEnded):
            extra = {k: v for k, v in event.to_record().items()
                     if k not in ("kind", "outcome", "message")}
            self.end(event.outcome, event.message, extra)
            return
        with self._lock:
            if isinstance(event, IndexBuildProgress):
                self._progress(event)
                return
            if isinstance(event, (StatementFinished, StatementFailed)):
                self._release_held(event.index)
            elif isinstance(event, RunFinished):
                for index in list(self._progress_held):
                    self._release_held(index)
            self._append(event.to_record())

    def end(self, outcome: str, message: str | None = None,
            extra: Mapping[str, Any] | None = None) -> None:
        """Write the session end record and close the file.  Sign afterwards (seal).

        ``extra``: further fields of the record (the session's typed SessionEnded)."""
        with self._lock:
            if self.ended:
                return
            for index in list(self._progress_held):
                self._release_held(index)
            record: dict[str, Any] = {
                "kind": SESSION_ENDED,
                "outcome": outcome,
                "events": self._seq,
                "progress_samples_dropped": self.progress_samples_dropped,
            }
            if message:
                record["message"] = message
            for key, value in (extra or {}).items():
                record.setdefault(key, value)
            self._append(record)
            self.ended = True
            self._close()

    def close(self) -> None:
        """Close without a session end record (the log will read as truncated)."""
        with self._lock:
            self._close()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None and not self.ended:
            self.end("aborted" if exc is not None else "ended", message=None)

    def _progress(self, event: IndexBuildProgress) -> None:
        now = self._monotonic()
        last = self._progress_written_at.get(event.index)
        if last is None or now - last >= self._interval:
            if self._progress_held.pop(event.index, None) is not None:
                self.progress_samples_dropped += 1
            self._progress_written_at[event.index] = now
            self._append(event.to_record())
            return
        if event.index in self._progress_held:
            self.progress_samples_dropped += 1
        self._progress_held[event.index] = event

    def _release_held(self, index: int) -> None:
        held = self._progress_held.pop(index, None)
        if held is not None:
            self._progress_written_at[index] = self._monotonic()
            self._append(held.to_record())

    def _append(self, record: dict[str, Any]) -> None:
        if self._fd is None:
            raise JournalError(f"the deployment log {self.path} is already closed")
        clash = [k for k in record if k in JOURNAL_FIELDS]
        if clash:
            raise ValueError(
                f"event kind {record.get('kind')!r} has fields {clash} that the journal "
                "reserves; rename them in spfp_console/events.py"
            )
        # kind is code, not data: never let a short secret mangle it.
        body = {
            k: (v if k == "kind" else self._redactor.value(v)) for k, v in record.items()
        }
        entry: dict[str, Any] = {
            "seq": self._seq + 1,
            "at": _utc_stamp(self._wall_clock()),
            "t": round(self._monotonic() - self._start, 6),
            "prev": self._last_hash,
            **body,
        }
        digest = record_hash(entry)
        entry[HASH_KEY] = digest
        try:
            _write_all(self._fd, render_event(entry))
            os.fsync(self._fd)
        except OSError as exc:
            raise JournalError(
                f"cannot append to the deployment log {self.path}: {exc.strerror or exc}"
            ) from exc
        self._seq += 1
        self._last_hash = digest

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
