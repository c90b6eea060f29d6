"""Is this log the one the console wrote, and who vouches for it?

``verify_chain`` streams the file once through ``read.LogReader`` (plus, only after a gap
in ``seq``, one look ahead to tell *missing* from *reordered* from *duplicated*), so time
is linear in the log size and memory is flat.  It stops at the first bad event and names it:

* ``edited``: an event's bytes do not match its hash, or it does not link to the event
  before it;
* ``missing``: a seq never appears; ``reordered``: it appears later;
* ``duplicated``: a seq appears twice;
* ``inserted``: an event after the session end record;
* ``truncated``: the file stops inside an event, or before the session end record;
* ``malformed``: the header is not a deployment log header at all.

The hash chain has no secret: whoever can write the file can rewrite it and recompute
every hash.  Only a signature by a key the reviewer trusts says who wrote it, so
``verify_log`` reports one of five statuses, and only ``ok`` means "intact, complete and
signed by an allowed signer":

* ``ok``: chain intact, session ended, ``LOG.sig`` valid, signer found in allowed_signers;
* ``failed``: the chain is broken, a signature does not match, the signer is not allowed,
  or signers were asked for and the log is not signed at all;
* ``unsigned``: the chain is intact, there is no signature, and none was asked for;
* ``unchecked``: the signature is valid but no allowed_signers file said whose key it is;
* ``partial``: signed checkpoints cover the log up to some event and what follows is not
  signed (a session that was killed, or a seal that is missing).

``first_bad_seq`` is the seq the first bad position *should* hold (0 is the header).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spfp_console.journal.read import ChainResult, CheckpointRecord, LogReader
from spfp_console.journal.sign import (
    DEFAULT_NAMESPACE,
    SignatureCheck,
    load_allowed_signers,
    verify_checkpoint,
    verify_signature,
)

__all__ = ["ChainResult", "VerifyResult", "verify_chain", "verify_log"]

OK, FAILED, UNSIGNED, UNCHECKED, PARTIAL = "ok", "failed", "unsigned", "unchecked", "partial"


def verify_chain(path: Path | str) -> ChainResult:
    """Check the header hash and every event's hash, seq and link, streaming."""
    return LogReader(path, parse=False).run()


@dataclass
class CheckpointSummary:
    """What the signed checkpoints of a log establish."""

    count: int = 0
    signed_through: int | None = None
    """The last seq covered by a valid checkpoint signature (0 is the header)."""
    check: SignatureCheck | None = None
    """The check of that last valid checkpoint (who signed it)."""
    bad: SignatureCheck | None = None
    """The first checkpoint whose signature does not hold, if any."""
    bad_seq: int | None = None


@dataclass
class VerifyResult:
    """Chain plus signatures: what ``spfp-console verify`` reports."""

    chain: ChainResult
    signature: SignatureCheck
    require_signature: bool = False
    checkpoints: CheckpointSummary = field(default_factory=CheckpointSummary)

    @property
    def status(self) -> str:
        """ok, failed, unsigned, unchecked or partial (see the module docstring)."""
        chain, sig, points = self.chain, self.signature, self.checkpoints
        if not chain.ok and not (chain.intact_but_unfinished and points.signed_through is not None):
            return FAILED
        if points.bad is not None:
            return FAILED
        if sig.status not in ("valid", "unsigned"):
            return FAILED
        if chain.ok and sig.ok:
            return OK if sig.signer_checked else UNCHECKED
        if points.signed_through is not None:
            return PARTIAL
        return FAILED if self.require_signature else UNSIGNED

    @property
    def ok(self) -> bool:
        """Intact, complete and signed by an allowed signer: nothing less is plain ok."""
        return self.status == OK

    def _summary(self) -> str:
        chain = self.chain
        if chain.ok:
            return f"{chain.events} events, chain intact, session {chain.outcome}"
        return f"chain intact through seq {chain.events}, then {chain.problem}: {chain.detail}"

    def line(self) -> str:
        """The one line ``verify`` prints."""
        chain, sig, points = self.chain, self.signature, self.checkpoints
        status = self.status
        if status == FAILED:
            if points.bad is not None:
                return (f"FAILED: checkpoint seq {points.bad_seq} {points.bad.status}: "
                        f"{points.bad.detail} ({self._summary()})")
            if not chain.ok:
                intact = (
                    f"chain intact through seq {chain.events}" if chain.events else "no event verified"
                )
                where = "header" if chain.first_bad_seq == 0 else f"seq {chain.first_bad_seq}"
                return f"FAILED: {where} {chain.problem}: {chain.detail} ({intact})"
            if sig.status == "unsigned":
                return (f"FAILED: unsigned: a signature is required and {sig.detail}; the hash "
                        f"chain alone proves nothing: anyone who can write the file can "
                        f"recompute it ({self._summary()})")
            return f"FAILED: {sig.status}: {sig.detail} ({self._summary()})"
        if status == OK:
            return f"ok: {self._summary()}; {sig.detail}"
        if status == UNCHECKED:
            return (f"SIGNER NOT CHECKED: {self._summary()}; {sig.detail}: any key could have "
                    "made it; pass --allowed-signers FILE --identity ID")
        if status == PARTIAL:
            assert points.check is not None and points.signed_through is not None
            after = chain.events - points.signed_through
            where = "the header" if points.signed_through == 0 else f"event {points.signed_through}"
            tail = ("the log ends without a session end record (the session crashed, was "
                    "killed, or is still running)" if not chain.ok
                    else "no valid LOG.sig seals the end")
            checked = "" if points.check.signer_checked else "; signer NOT checked (no --allowed-signers)"
            return (f"PARTIALLY SIGNED: signed up to {where}, {after} event(s) after it "
                    f"unsigned; {points.check.detail}{checked}; {tail} "
                    f"({chain.events} events verified)")
        return (f"UNSIGNED: {self._summary()}; {sig.detail}: the hash chain alone proves "
                "nothing, anyone who can write the file can recompute it")


def _check_checkpoints(
    points: list[CheckpointRecord],
    *,
    allowed_signers: Path | str | None,
    identity: str | None,
    namespace: str,
) -> CheckpointSummary:
    summary = CheckpointSummary(count=len(points))
    if not points:
        return summary
    allowed = load_allowed_signers(allowed_signers) if allowed_signers is not None else None
    name = Path(allowed_signers).name if allowed_signers is not None else ""
    for point in points:
        check = verify_checkpoint(
            point.signature, point.signed_seq, point.signed_hash, allowed=allowed,
            allowed_name=name, identity=identity, namespace=namespace,
        )
        if not check.ok:
            summary.bad, summary.bad_seq = check, point.seq
            return summary
        summary.signed_through, summary.check = point.signed_seq, check
    return summary


def verify_log(
    path: Path | str,
    *,
    allowed_signers: Path | str | None = None,
    identity: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    require_signature: bool = False,
    chain: ChainResult | None = None,
) -> VerifyResult:
    """Chain first; signatures are only worth checking on an intact (or cleanly cut) chain.

    Naming ``allowed_signers`` makes a signature required (``require_signature``).
    ``chain``: the chain result of a reader that has just read the whole file (replay's
    index), so the file is not read twice.
    Raises ``OSError`` / ``SignatureFormatError`` for an unreadable allowed_signers file.
    """
    require_signature = require_signature or allowed_signers is not None
    if chain is None:
        chain = verify_chain(path)
    if not chain.ok and not chain.intact_but_unfinished:
        return VerifyResult(chain, SignatureCheck("unsigned", "not checked"), require_signature)
    points = _check_checkpoints(
        chain.checkpoints, allowed_signers=allowed_signers, identity=identity, namespace=namespace
    )
    if chain.ok:
        signature = verify_signature(
            path, allowed_signers=allowed_signers, identity=identity, namespace=namespace
        )
    else:
        signature = SignatureCheck("unsigned", "the log has no end to seal")
    return VerifyResult(chain, signature, require_signature, points)
