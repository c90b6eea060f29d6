"""Signed approvals: four eyes on a deployment, offline, with the SSH keys people have.

A reviewer replays a rehearsal's log, then signs an approval (``spfp-console approve LOG
--key K``): a small TOML document bound to what was rehearsed and where, with a detached
SSHSIG signature in a namespace of its own (an approval can never pass for a log's seal,
nor a log's seal for an approval).  The document names

* the runbook id, and the sha256 of the migration as the rehearsal ran it plus every SQL
  file the runbook referenced (the rollback among them),
* the target (host, port, database) the rehearsal ran on,
* the rehearsal's outcome and the sha256 of the whole log it is in,
* who approves (a principal of an allowed_signers file), when, and until when.

Before a run, :func:`check_approvals` counts the approvals that hold *now*: signed by an
allowed signer of that principal in the approval namespace, for this runbook, these exact
script hashes, this target, a passed rehearsal, not expired, and not signed by the executor.
A changed script invalidates every approval.  Distinct signers are counted by principal and
by key, so one person with two keys (or two names on one key) counts once.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from spfp_console.errors import ConsoleError

APPROVAL_NAMESPACE = "spfp-console-approval@spfp"
"""SSHSIG namespace of approvals (``ssh-keygen -Y verify -n``), distinct from the logs'."""

APPROVAL_SUFFIX = ".approval.toml"
_FORMAT = 1


class ApprovalError(ConsoleError):
    """An approval could not be made (bad log, failed rehearsal, no key...)."""


@dataclass(frozen=True)
class Approval:
    """What a reviewer approves.  Every field is in the signed document."""

    approver: str
    runbook_id: str
    migration_sha256: str
    """The migration as the rehearsal ran it."""
    scripts: dict[str, str]
    """Every SQL file the runbook referenced when the rehearsal ran: path -> sha256."""
    target_host: str
    target_port: int
    target_database: str
    rehearsal_outcome: str
    """``passed`` or ``failed`` (an approval of a failed rehearsal never counts)."""
    rehearsal_log: str
    rehearsal_log_sha256: str
    approved_at: str
    expires_at: str
    phase: str = ""
    """Empty for an approval to run; a phase id for a sign-off that the phase may end
    (then ``rehearsal_*`` name the log the reviewer read, and ``migration_sha256`` is
    empty: ``scripts`` binds every script)."""

    @property
    def target(self) -> str:
        return f"{self.target_host}:{self.target_port}/{self.target_database}"

    def to_toml(self) -> str:
        record = {"format": _FORMAT, **{k: getattr(self, k) for k in _FIELDS}}
        if self.phase:
            record["phase"] = self.phase
        return "# spfp-console approval: signed by the approver (SSHSIG, namespace " \
               f"{APPROVAL_NAMESPACE})\n" + tomli_w.dumps({"approval": record})

    @classmethod
    def from_toml(cls, text: str) -> Approval:
        data = tomllib.loads(text).get("approval")
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError("not an spfp-console approval (no [approval] of format 1)")
        missing = [k for k in _FIELDS if k not in data]
        if missing:
            raise ValueError(f"approval lacks {', '.join(missing)}")
        values = {k: data[k] for k in _FIELDS}
        values["scripts"] = {str(k): str(v) for k, v in dict(values["scripts"]).items()}
        return cls(**values, phase=str(data.get("phase", "")))

    def expires(self) -> _dt.datetime:
        return _parse_time(self.expires_at)


_FIELDS = ("approver", "runbook_id", "migration_sha256", "scripts", "target_host",
           "target_port", "target_database", "rehearsal_outcome", "rehearsal_log",
           "rehearsal_log_sha256", "approved_at", "expires_at")


def _parse_time(text: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _stamp(when: _dt.datetime) -> str:
    return when.astimezone(_dt.timezone.utc).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


_DURATION = re.compile(r"^(\d+)\s*(m|h|d)$")


def parse_duration(text: str) -> _dt.timedelta:
    """``30m``, ``12h``, ``7d``."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ApprovalError(f"--expires {text!r}: use minutes, hours or days, like 12h or 2d")
    n, unit = int(match.group(1)), match.group(2)
    return {"m": _dt.timedelta(minutes=n), "h": _dt.timedelta(hours=n),
            "d": _dt.timedelta(days=n)}[unit]


# --------------------------------------------------------------------------- approving


def approval_from_log(log: Path, approver: str, *, valid_for: _dt.timedelta,
                      now: _dt.datetime | None = None, phase: str = "") -> Approval:
    """The approval of the last rehearsal in ``log`` (or, with ``phase``, the sign-off
    that this phase may end, after reading ``log``); ApprovalError when there is nothing
    a reviewer may approve (broken chain, no rehearsal, a failed one)."""
    from spfp_console.journal.read import read_journal
    from spfp_console.journal.record import sha256_file
    from spfp_console.journal.verify import verify_chain

    if not log.is_file():
        raise ApprovalError(f"{log}: no such log file")
    chain = verify_chain(log)
    journal = read_journal(log)
    # A phase is signed off while its session runs: its log has no end record yet, which
    # is fine as long as every event it has is intact (no torn or edited record).
    running = bool(phase) and chain.intact_but_unfinished and journal.ended is None
    if not chain.ok and not running:
        raise ApprovalError(f"{log}: refusing to approve: its hash chain does not hold"
                            f" ({chain.problem}: {chain.detail})")
    started: dict[str, Any] | None = None
    finished: dict[str, Any] | None = None
    for entry in journal.entries:
        fields = entry.fields
        if entry.kind == "run_started" and fields.get("mode") == "rehearse":
            started, finished = fields, None
        elif entry.kind == "run_finished" and fields.get("mode") == "rehearse":
            finished = fields
    if not phase:
        if started is None or finished is None:
            raise ApprovalError(f"{log}: no finished rehearsal in this log; approve the log"
                                " of `spfp-console rehearse` on the target")
        if finished.get("outcome") != "rehearsed" or finished.get("statements_failed"):
            raise ApprovalError(f"{log}: its rehearsal did not pass"
                                f" ({finished.get('outcome')},"
                                f" {finished.get('statements_failed', 0)} failed); nothing"
                                " to approve")
    header = journal.header
    session = header.get("session", header)
    target = dict(session.get("target") or {})
    files = {str(k): str(v) for k, v in dict(session.get("files") or {}).items()}
    when = now or _dt.datetime.now(_dt.timezone.utc)
    return Approval(
        approver=approver,
        runbook_id=str(session.get("runbook_id") or ""),
        migration_sha256=str((started or {}).get("script_sha256") or "") if not phase else "",
        scripts=files,
        target_host=str(target.get("host") or ""),
        target_port=int(target.get("port") or 0),
        target_database=str(target.get("database") or ""),
        rehearsal_outcome="" if phase else "passed",
        rehearsal_log=log.name,
        rehearsal_log_sha256=sha256_file(log),
        approved_at=_stamp(when),
        expires_at=_stamp(when + valid_for),
        phase=phase,
    )


def write_approval(approval: Approval, out_dir: Path, *, key_file: Path | None) -> Path:
    """Write ``<log>.<approver>.approval.toml`` and its ``.sig``; returns the document."""
    from spfp_console.journal.sign import SigningError, sign_log

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = approval.rehearsal_log.removesuffix(".toml").removesuffix(".deploy-log")
    who = re.sub(r"[^A-Za-z0-9._-]+", "-", approval.approver).strip(".-") or "approver"
    kind = f".{approval.phase}-signoff" if approval.phase else ""
    path = out_dir / f"{stem}.{who}{kind}{APPROVAL_SUFFIX}"
    path.write_text(approval.to_toml(), encoding="utf-8")
    try:
        sign_log(path, key_file=key_file, namespace=APPROVAL_NAMESPACE)
    except SigningError:
        path.unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class ApprovalVerdict:
    """One approval file as the deploy judged it."""

    path: Path
    approval: Approval | None
    valid: bool
    reason: str
    """Why it does not count (or who approved, when it does)."""
    fingerprint: str | None = None
    document: str = ""
    signature: str = ""


@dataclass
class ApprovalReport:
    required: int
    verdicts: list[ApprovalVerdict] = field(default_factory=list)
    phase: str = ""

    @property
    def signers(self) -> list[str]:
        """Distinct approvers whose approval holds (one per person and per key)."""
        seen_keys: set[str] = set()
        names: list[str] = []
        for verdict in self.verdicts:
            if not verdict.valid or verdict.approval is None:
                continue
            name = verdict.approval.approver
            if name in names or (verdict.fingerprint and verdict.fingerprint in seen_keys):
                continue
            names.append(name)
            if verdict.fingerprint:
                seen_keys.add(verdict.fingerprint)
        return names

    @property
    def ok(self) -> bool:
        return len(self.signers) >= self.required

    def reasons(self) -> list[str]:
        """Why the approvals gate is closed (empty when it is open)."""
        if self.ok:
            return []
        what = "approval(s)" if self.phase == "" else f"sign-off(s) of phase {self.phase}"
        lines = [f"{len(self.signers)} valid {what} of {self.required} required"
                 + (f" ({', '.join(self.signers)})" if self.signers else "")]
        lines += [f"{v.path.name}: {v.reason}" for v in self.verdicts if not v.valid]
        return lines


@dataclass(frozen=True)
class DeploymentFacts:
    """What an approval must match: this runbook, these scripts, this target, now."""

    runbook_id: str
    migration_sha256: str
    script_sha256s: tuple[str, ...]
    """The sha256 of every script the runbook runs now (migration and rollback)."""
    host: str
    port: int
    database: str
    executors: tuple[str, ...]
    """The operator's names (session operator, the answering operator): their own
    approval never counts."""
    executor_fingerprints: tuple[str, ...] = ()
    """The executor's signing key(s), when known: an approval by that key never counts."""
    phase: str = ""
    """Which documents count: approvals to run (empty) or sign-offs of this phase."""


def approval_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{APPROVAL_SUFFIX}")) if directory.is_dir() else []


def check_approvals(files: Iterable[Path], facts: DeploymentFacts, *, required: int,
                    allowed_signers: Path, now: _dt.datetime | None = None
                    ) -> ApprovalReport:
    report = ApprovalReport(required=required, phase=facts.phase)
    when = now or _dt.datetime.now(_dt.timezone.utc)
    for path in files:
        verdict = _judge(path, facts, allowed_signers, when)
        if verdict.approval is not None and verdict.approval.phase != facts.phase:
            continue  # a sign-off of another phase (or an approval to run): not asked
        report.verdicts.append(verdict)
    return report


def _judge(path: Path, facts: DeploymentFacts, allowed_signers: Path,
           when: _dt.datetime) -> ApprovalVerdict:
    from spfp_console.journal.sign import signature_path, verify_signature

    try:
        document = path.read_text(encoding="utf-8")
        approval = Approval.from_toml(document)
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
        return ApprovalVerdict(path, None, False, f"unreadable approval: {exc}")
    sig_file = signature_path(path)
    signature = sig_file.read_text(encoding="ascii", errors="replace") \
        if sig_file.is_file() else ""

    def verdict(valid: bool, reason: str, fingerprint: str | None = None) -> ApprovalVerdict:
        return ApprovalVerdict(path, approval, valid, reason, fingerprint, document,
                               signature)

    check = verify_signature(path, allowed_signers=allowed_signers,
                             identity=approval.approver, namespace=APPROVAL_NAMESPACE,
                             now=when)
    if not check.ok:
        return verdict(False, f"signature: {check.detail}", check.fingerprint)
    fingerprint = check.fingerprint
    if (approval.approver in facts.executors
            or approval.approver.split("@")[0] in facts.executors
            or fingerprint in facts.executor_fingerprints):
        return verdict(False, f"signed by the executor ({approval.approver}): four eyes"
                              " means someone else", fingerprint)
    if approval.runbook_id != facts.runbook_id:
        return verdict(False, f"approves runbook {approval.runbook_id!r}, not"
                              f" {facts.runbook_id!r}", fingerprint)
    if not approval.phase and approval.migration_sha256 != facts.migration_sha256:
        return verdict(False, "approves another migration script (sha256"
                              f" {approval.migration_sha256[:12]}..., now"
                              f" {facts.migration_sha256[:12]}...)", fingerprint)
    approved_hashes = set(approval.scripts.values())
    changed = [h for h in facts.script_sha256s if h not in approved_hashes]
    if changed:
        return verdict(False, "a script changed since the approved rehearsal (sha256 "
                       + ", ".join(h[:12] + "..." for h in changed) + " not approved)",
                       fingerprint)
    if (approval.target_host, approval.target_port, approval.target_database) != (
            facts.host, facts.port, facts.database):
        return verdict(False, f"approves target {approval.target}, not"
                              f" {facts.host}:{facts.port}/{facts.database}", fingerprint)
    if not approval.phase and approval.rehearsal_outcome != "passed":
        return verdict(False, f"the approved rehearsal {approval.rehearsal_outcome}",
                       fingerprint)
    try:
        expires = approval.expires()
    except ValueError:
        return verdict(False, f"bad expiry {approval.expires_at!r}", fingerprint)
    if expires <= when:
        return verdict(False, f"expired at {approval.expires_at}", fingerprint)
    return verdict(True, f"approved by {approval.approver} until {approval.expires_at}",
                   fingerprint)


def file_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_fingerprint(key_file: Path) -> str | None:
    """``SHA256:...`` of an SSH key file (private ed25519/RSA/ECDSA or ``.pub``), or None
    when it cannot be read without a passphrase."""
    import base64

    from cryptography.hazmat.primitives import serialization

    from spfp_console.journal.sign import public_key_fingerprint

    try:
        data = key_file.read_bytes()
        if data.lstrip().startswith(b"ssh-") or data.lstrip().startswith(b"ecdsa-"):
            return public_key_fingerprint(base64.b64decode(data.split()[1]))
        key = serialization.load_ssh_private_key(data, password=None)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH)
        return public_key_fingerprint(base64.b64decode(public.split()[1]))
    except (OSError, ValueError, TypeError, IndexError):
        return None
