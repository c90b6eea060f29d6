"""Write a deployment log: a ``[session]`` header, then one ``[[event]]`` per event.

Layout of a log (valid TOML after every append; hashing rules in ``canonical``)::

    [session]
    format = "spfp-console-journal"
    format_version = 2
    ...
    hash = "<sha256 of the header's bytes without this line>"

    [session.target]
    ...

    [[event]]
    seq = 1
    at = "2026-02-16T10:00:00.000000Z"    # UTC wall clock
    t = 0.0123                            # monotonic seconds since the session started
    prev = "<hash of the previous event; the header's hash for seq 1>"
    kind = "statement_started"
    ...                                   # the event's own fields (Event.to_record())
    hash = "<sha256 of this event's bytes above this line>"

Durability: every event is written with a single ``write`` as soon as it is recorded (a
killed process loses nothing already recorded; a reader tailing the file sees it at
once), but only the events that must survive a power cut are ``fdatasync``'d
(``DURABLE_KINDS``): what is about to reach the database (``statement_started``), what
the online mode did to it (``lock_retry``, ``invalid_index``), what decides
(``run_started``, ``run_finished``, gates, confirmations, overrides, rollback decisions,
notes, checklist ticks), checkpoints and the session end.  Progress samples, notices and
results ride along with the next durable event.  ``record(event, durable=True)`` and
``flush_durable()`` let a caller ask for more.

Signing: with a ``Signer`` the writer signs a checkpoint (the chain hash of the last
event, see ``sign.checkpoint_message``) right after the header, after each run starts and
finishes, after each result table, workflow and decision (``CHECKPOINT_AFTER``), and seals
the whole file (``LOG.sig``) at ``end()``.  A session killed at any point leaves a log whose signed
prefix verifies and whose unsigned tail ``verify`` reports as such.

Every string is redacted before it is hashed.
"""

from __future__ import annotations

import datetime as _dt
import base64
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from spfp_console import __version__
from spfp_console.digest import sha256_file
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
    CHECKPOINT,
    FORMAT,
    FORMAT_VERSION,
    HASH_KEY,
    SESSION_ENDED,
    render_header,
    seal_event,
)
from spfp_console.lean_dataclass import lean_dataclass
from spfp_console.redact import Redactor, secrets_in_env
from spfp_console.journal.session_info import collect_session_info

if TYPE_CHECKING:
    from spfp_console.journal.sign import Signer

DEFAULT_LOG_DIR = Path("deploy-logs")
"""Where logs go unless the caller names a directory (relative to the working directory)."""

LOG_SUFFIX = ".deploy-log.toml"

__all__ = [
    "CHECKPOINT", "DEFAULT_LOG_DIR", "DURABLE_KINDS", "JournalError", "JournalWriter",
    "SESSION_ENDED", "SessionHeader", "Target", "log_file_name",
]

DURABLE_KINDS = frozenset({
    "statement_started", "run_started", "run_finished", "override_recorded",
    "rollback_decision", "operator_note", "checklist_item_toggled", "confirmation_answered",
    "gate_checked", "lock_retry", "invalid_index", "commit_sent", CHECKPOINT, SESSION_ENDED,
})
"""Kinds made durable (fdatasync) before ``record`` returns; see the module docstring."""

CHECKPOINT_AFTER = frozenset({
    "run_started", "run_finished", "result_table", "workflow_finished", "override_recorded",
    "rollback_decision", "confirmation_answered", "gate_checked",
})
"""Kinds after which a signing writer signs a checkpoint: the end of a phase (a result
table, a workflow) or a run, a decision."""

JOURNAL_FIELDS = ("seq", "at", "t", "prev", HASH_KEY)
"""Keys the journal adds to every event record; an event field must not reuse them."""


class JournalError(ConsoleError):
    """The log could not be created or appended to."""


@lean_dataclass(frozen=True, kw_only=True)
class Target:
    """The database a session deploys to.  There is deliberately no password field."""

    host: str | None = None
    port: int | None = None
    database: str | None = None
    user: str | None = None
    server_version: str | None = None
    system_identifier: str | None = None
    """The cluster's ``pg_control_system().system_identifier`` when the role may read it:
    a restored copy or another server under the same host name and port has another."""

    def to_record(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@lean_dataclass(frozen=True, kw_only=True)
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


def open_log_dir(directory: Path) -> int:
    """An fd of the log directory (created 0700 when missing), refusing unsafe ones.

    A symlink lets whoever controls it choose where logs go, and a directory others may
    write lets them delete or replace logs; both are refused.  Later files are created
    relative to this fd, so the directory cannot be swapped after the check.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if directory.is_symlink():
            raise JournalError(
                f"the log directory {directory} is a symbolic link: refusing it (whoever "
                "controls the link chooses where deployment logs go); pass its real path "
                "with --log-dir"
            )
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise JournalError(
            f"cannot create the deployment log in {directory}: {exc.strerror or exc}; "
            "choose a writable --log-dir"
        ) from exc
    mode = os.fstat(fd).st_mode
    if mode & stat.S_IWOTH:
        os.close(fd)
        sticky = " (even with the sticky bit, others can create files there)" if mode & stat.S_ISVTX else ""
        raise JournalError(
            f"the log directory {directory} is world-writable (mode {stat.S_IMODE(mode):o}){sticky}: "
            "anyone could delete or replace deployment logs; `chmod o-w` it or choose "
            "another --log-dir"
        )
    return fd


def _create_exclusive(directory: Path, dir_fd: int, name: str) -> tuple[Path, int]:
    stem = name.removesuffix(LOG_SUFFIX)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW
    for attempt in range(1, 1000):
        candidate = name if attempt == 1 else f"{stem}-{attempt}{LOG_SUFFIX}"
        try:
            fd = os.open(candidate, flags, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            continue
        # The umask can only remove bits; make sure no one else can read the log.
        os.fchmod(fd, 0o600)
        return directory / candidate, fd
    raise JournalError(f"cannot create a log in {directory}: too many logs named {name}")


def _fsync_dir(dir_fd: int) -> None:
    try:
        os.fsync(dir_fd)
    except OSError:
        pass


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
        signer: Signer | None = None,
    ) -> None:
        self.path = path
        """The log file."""
        self._fd: int | None = fd
        self.head_hash = head_hash
        """The header's hash: the session's id (the database witness records it)."""
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
        self._unsynced = False
        self._signer = signer
        self._checkpoint_seq = -1
        self.progress_samples_dropped = 0
        """Samples not written because a newer one replaced them within the interval."""
        self.ended = False
        """True once the session end record is written."""
        self.syncs = 0
        """fdatasync calls so far (the cost the durability rules keep down)."""
        self.signed_through: int | None = None
        """The last seq a checkpoint signature covers (0: the header), None before any."""
        self.signature_path: Path | None = None
        """``LOG.sig``, once ``end()`` has sealed the log."""
        self.signing_error: str | None = None
        """Why signing stopped (the key or agent stopped working mid-session), else None.
        Checkpoints stop at the first failure; the session end record repeats it."""

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
        signer: Signer | None = None,
    ) -> JournalWriter:
        """Create ``<log_dir>/<runbook>_<db>_<time>.deploy-log.toml`` (mode 0600).

        ``secrets`` are scrubbed from every string written (pass the target password);
        ``$PGPASSWORD`` from ``env`` (default: this process) is scrubbed too.  With a
        ``signer`` (``sign.resolve_signer``) the header is signed at once (a checkpoint),
        later checkpoints follow phases and runs, and ``end()`` seals the file.
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
            "started_at": _utc_stamp(now),
            "runbook_id": header.runbook_id,
        }
        if header.runbook_sha256:
            session["runbook_sha256"] = header.runbook_sha256
        if signer is not None:
            session["signing_key"] = signer.fingerprint
        session.update(operator)
        session = redactor.value(session)
        session["target"] = redactor.value(header.target.to_record())
        session["files"] = redactor.value(dict(header.files))
        head_bytes, head_hash = render_header(session)
        dir_fd = open_log_dir(directory)
        try:
            path, fd = _create_exclusive(
                directory, dir_fd, log_file_name(header.runbook_id, header.target.database, now)
            )
            try:
                _write_all(fd, head_bytes)
                os.fdatasync(fd)
            except BaseException:
                os.close(fd)
                raise
            _fsync_dir(dir_fd)
        except OSError as exc:
            raise JournalError(
                f"cannot create the deployment log in {directory}: {exc.strerror or exc}; "
                "choose a writable --log-dir"
            ) from exc
        finally:
            os.close(dir_fd)
        writer = cls(
            path,
            fd,
            head_hash=head_hash,
            redactor=redactor,
            progress_interval_s=progress_interval_s,
            monotonic=monotonic,
            wall_clock=wall_clock,
            start_monotonic=start,
            signer=signer,
        )
        if signer is not None:
            try:
                writer.checkpoint()
            except BaseException:
                writer.close()
                raise
        return writer

    # ------------------------------------------------------------------ appending

    @property
    def last_hash(self) -> str:
        """The chain hash of the last record written (the header's before any)."""
        return self._last_hash

    @property
    def signing(self) -> bool:
        """True when the writer signs checkpoints and seals the log at the end."""
        return self._signer is not None

    def chain_position(self) -> tuple[int, str]:
        """(seq, hash) of the last record written: where the chain stands right now."""
        with self._lock:
            return self._seq, self._last_hash

    def record(self, event: Event, *, durable: bool | None = None) -> None:
        """Append ``event`` (the engine's ``Callable[[Event], None]``).

        ``durable``: True makes it (and everything before it) survive a power cut before
        this returns; None (the default) decides by kind (``DURABLE_KINDS``); False only
        writes it.  The session's SessionEnded becomes the log's closing record (``end``).
        """
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
            kind = event.kind
            self._append(event.to_record(), durable=kind in DURABLE_KINDS if durable is None else durable)
            if kind in CHECKPOINT_AFTER:
                self._automatic_checkpoint()

    def flush_durable(self) -> None:
        """Make everything recorded so far survive a power cut (one fdatasync if needed)."""
        with self._lock:
            self._sync()

    def checkpoint(self) -> int | None:
        """Sign the chain hash of the last record; returns the seq it covers.

        None without a signer, or when nothing was recorded since the last checkpoint.
        The checkpoint record is durable before this returns.
        """
        with self._lock:
            return self._checkpoint()

    def end(self, outcome: str, message: str | None = None,
            extra: Mapping[str, Any] | None = None) -> None:
        """Write the session end record, close the file, and seal it when signing.

        ``extra``: further fields of the record (the session's typed SessionEnded).
        A seal that fails (the agent went away) does not raise: the log is complete and
        closed, its checkpoints still sign what they covered, ``signature_path`` stays
        None and ``signing_error`` says why.
        """
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
            if self.signing_error:
                record["signing_failed"] = self.signing_error
            self._append(record, durable=True)
            self.ended = True
            self._close()
            if self._signer is not None and self.signing_error is None:
                from spfp_console.journal.sign import SigningError

                try:
                    self.signature_path = self._signer.sign_file(self.path)
                except (SigningError, OSError) as exc:
                    self.signing_error = f"the seal failed: {exc}"

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
            self._append(event.to_record(), durable=False)
            return
        if event.index in self._progress_held:
            self.progress_samples_dropped += 1
        self._progress_held[event.index] = event

    def _release_held(self, index: int) -> None:
        held = self._progress_held.pop(index, None)
        if held is not None:
            self._progress_written_at[index] = self._monotonic()
            self._append(held.to_record(), durable=False)

    def _automatic_checkpoint(self) -> None:
        # Signing is a guest here: a key that stops working mid-run (a forwarded agent
        # whose SSH link dropped) must not fail the deployment; the log then reads as
        # signed up to its last checkpoint, and signing_error says why.
        if self.signing_error is not None:
            return
        from spfp_console.journal.sign import SigningError

        try:
            self._checkpoint()
        except SigningError as exc:
            self.signing_error = str(exc)

    def _checkpoint(self) -> int | None:
        if self._signer is None or self._fd is None or self._checkpoint_seq == self._seq:
            return None
        from spfp_console.journal.sign import checkpoint_message

        signed_seq = self._seq
        blob = self._signer.sign(checkpoint_message(signed_seq, self._last_hash))
        self._append(
            {
                "kind": CHECKPOINT,
                "signed_seq": signed_seq,
                "key": self._signer.fingerprint,
                "signature": base64.b64encode(blob).decode("ascii"),
            },
            durable=True,
        )
        self._checkpoint_seq = self._seq  # the checkpoint record itself needs no checkpoint
        self.signed_through = signed_seq
        return signed_seq

    def _append(self, record: dict[str, Any], *, durable: bool) -> None:
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
        data, digest = seal_event(entry)
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            raise JournalError(
                f"cannot append to the deployment log {self.path}: {exc.strerror or exc}"
            ) from exc
        self._seq += 1
        self._last_hash = digest
        self._unsynced = True
        if durable:
            self._sync()

    def _sync(self) -> None:
        if self._fd is None or not self._unsynced:
            return
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            raise JournalError(
                f"cannot make the deployment log {self.path} durable: {exc.strerror or exc}"
            ) from exc
        self.syncs += 1
        self._unsynced = False

    def _close(self) -> None:
        if self._fd is not None:
            try:
                self._sync()
            finally:
                os.close(self._fd)
                self._fd = None
