"""Seal a log with an SSH signature (OpenSSH's SSHSIG format) and check such seals.

The signature is a detached ``LOG.sig`` beside the log, byte-compatible with
``ssh-keygen -Y sign``, so a reviewer can check it with stock OpenSSH::

    ssh-keygen -Y verify -f allowed_signers -I alice@example.com \\
        -n spfp-console-log@spfp -s LOG.sig < LOG

Signing uses an unencrypted ed25519 key file in-process (``cryptography``); any other key
(passphrase-protected, RSA/ECDSA, or a key held only by ssh-agent) is handed to
``ssh-keygen -Y sign``, which prompts for the passphrase or talks to the agent itself.
Verification of ed25519 signatures is in-process.  Format reference: OpenSSH
``PROTOCOL.sshsig``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from spfp_console.errors import ConsoleError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from spfp_console.journal.constants import DEFAULT_NAMESPACE  # noqa: E402
"""SSHSIG namespace of deployment-log signatures (``-n`` for ssh-keygen)."""

SIGNATURE_SUFFIX = ".sig"
_MAGIC = b"SSHSIG"
_SIG_VERSION = 1
_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_END = "-----END SSH SIGNATURE-----"
_HASHES = {"sha512": hashlib.sha512, "sha256": hashlib.sha256}


class SigningError(ConsoleError):
    """The log could not be signed (no key, agent unreachable, ssh-keygen failed)."""


class SignatureFormatError(ValueError):
    """A ``.sig`` file is not an armored SSHSIG signature."""


def signature_path(log: Path | str) -> Path:
    """Where the detached signature of ``log`` lives: ``LOG.sig``."""
    return Path(f"{log}{SIGNATURE_SUFFIX}")


# --------------------------------------------------------------------------- wire format


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _WireReader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def raw(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise SignatureFormatError("signature blob is truncated")
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def uint32(self) -> int:
        return int(struct.unpack(">I", self.raw(4))[0])

    def string(self) -> bytes:
        return self.raw(self.uint32())

    def done(self) -> bool:
        return self._pos == len(self._data)


def _signed_data(namespace: str, hash_algorithm: str, digest: bytes) -> bytes:
    """The blob SSHSIG actually signs (PROTOCOL.sshsig, section 3)."""
    return (
        _MAGIC
        + _string(namespace.encode())
        + _string(b"")
        + _string(hash_algorithm.encode())
        + _string(digest)
    )


def file_digest(path: Path, hash_algorithm: str = "sha512") -> bytes:
    """Streaming hash of a file, for signing and verifying without loading it whole."""
    digest = _HASHES[hash_algorithm]()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def armor(blob: bytes) -> str:
    """PEM-like armor as ssh-keygen writes it (base64 wrapped at 70 columns)."""
    encoded = base64.b64encode(blob).decode()
    lines = [encoded[i : i + 70] for i in range(0, len(encoded), 70)]
    return "\n".join([_BEGIN, *lines, _END]) + "\n"


def dearmor(text: str) -> bytes:
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != _BEGIN or lines[-1] != _END:
        raise SignatureFormatError("not an armored SSH signature")
    try:
        return base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError as exc:
        raise SignatureFormatError(f"signature is not valid base64: {exc}") from exc


def public_key_fingerprint(public_key_blob: bytes) -> str:
    """``SHA256:...`` as ``ssh-keygen -l`` prints it."""
    digest = base64.b64encode(hashlib.sha256(public_key_blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


@dataclass(frozen=True)
class SshSignature:
    """The parsed fields of an SSHSIG blob."""

    public_key: bytes
    """The signer's public key in SSH wire format."""
    namespace: str
    hash_algorithm: str
    signature_type: str
    signature: bytes

    @property
    def key_type(self) -> str:
        return _WireReader(self.public_key).string().decode(errors="replace")

    @property
    def fingerprint(self) -> str:
        return public_key_fingerprint(self.public_key)

    @classmethod
    def parse(cls, armored: str) -> SshSignature:
        reader = _WireReader(dearmor(armored))
        if reader.raw(6) != _MAGIC:
            raise SignatureFormatError("not an SSHSIG signature (bad magic)")
        version = reader.uint32()
        if version != _SIG_VERSION:
            raise SignatureFormatError(f"unsupported SSHSIG version {version}")
        public_key = reader.string()
        namespace = reader.string().decode(errors="replace")
        reader.string()  # reserved
        hash_algorithm = reader.string().decode(errors="replace")
        sig = _WireReader(reader.string())
        if not reader.done():
            raise SignatureFormatError("trailing bytes after the signature")
        signature_type = sig.string().decode(errors="replace")
        signature = sig.string()
        return cls(public_key, namespace, hash_algorithm, signature_type, signature)


# --------------------------------------------------------------------------- signing


def _ed25519_signature(key: Ed25519PrivateKey, log: Path, namespace: str) -> str:
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    public_blob = base64.b64decode(public.split()[1])
    signed = _signed_data(namespace, "sha512", file_digest(log, "sha512"))
    signature = _string(b"ssh-ed25519") + _string(key.sign(signed))
    blob = (
        _MAGIC
        + struct.pack(">I", _SIG_VERSION)
        + _string(public_blob)
        + _string(namespace.encode())
        + _string(b"")
        + _string(b"sha512")
        + _string(signature)
    )
    return armor(blob)


def _ssh_keygen() -> str:
    path = shutil.which("ssh-keygen")
    if path is None:
        raise SigningError("ssh-keygen not found: install OpenSSH or sign with an ed25519 key file")
    return path


def _ssh_keygen_sign(key: Path, log: Path, namespace: str, env: Mapping[str, str]) -> str:
    # Message on stdin, signature on stdout: ssh-keygen never touches files of ours.
    with open(log, "rb") as message:
        proc = subprocess.run(
            [_ssh_keygen(), "-Y", "sign", "-q", "-f", str(key), "-n", namespace],
            stdin=message,
            capture_output=True,
            env=dict(env),
            check=False,
        )
    if proc.returncode != 0 or _BEGIN not in proc.stdout.decode(errors="replace"):
        reason = proc.stderr.decode(errors="replace").strip().splitlines()
        raise SigningError(
            f"ssh-keygen could not sign with {key}: {reason[-1] if reason else 'no output'}"
        )
    return proc.stdout.decode()


def _agent_public_key(env: Mapping[str, str]) -> str:
    if not env.get("SSH_AUTH_SOCK"):
        raise SigningError("no key given and no ssh-agent (SSH_AUTH_SOCK is unset); use --key FILE")
    ssh_add = shutil.which("ssh-add")
    if ssh_add is None:
        raise SigningError("ssh-add not found: cannot ask ssh-agent for a key; use --key FILE")
    proc = subprocess.run([ssh_add, "-L"], capture_output=True, env=dict(env), check=False)
    keys = [line for line in proc.stdout.decode(errors="replace").splitlines() if line.strip()]
    if proc.returncode != 0 or not keys:
        raise SigningError("ssh-agent holds no keys: ssh-add your key or use --key FILE")
    ed25519 = [k for k in keys if k.startswith("ssh-ed25519 ")]
    return (ed25519 or keys)[0]


def _write_signature(log: Path, armored: str) -> Path:
    target = signature_path(log)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(armored)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)  # re-signing replaces the old seal atomically
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def sign_log(
    log: Path | str,
    *,
    key_file: Path | str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Write ``LOG.sig``: an SSHSIG signature of the log's bytes.  Returns its path.

    ``key_file`` is a private key file, or a ``.pub`` file whose private half is in
    ssh-agent; without it the agent's first ed25519 key (else its first key) signs.
    """
    log = Path(log)
    env = os.environ if env is None else env
    if not log.is_file():
        raise SigningError(f"{log}: no such log file")
    if key_file is None:
        with tempfile.TemporaryDirectory() as tmp:
            pub = Path(tmp) / "agent-key.pub"
            pub.write_text(_agent_public_key(env) + "\n")
            return _write_signature(log, _ssh_keygen_sign(pub, log, namespace, env))
    key_path = Path(key_file)
    try:
        data = key_path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read key {key_path}: {exc.strerror or exc}") from exc
    if data.lstrip().startswith(b"ssh-"):
        return _write_signature(log, _ssh_keygen_sign(key_path, log, namespace, env))
    try:
        key = serialization.load_ssh_private_key(data, password=None)
    except TypeError:
        key = None  # passphrase-protected: ssh-keygen will ask (or use the agent)
    except ValueError as exc:
        raise SigningError(f"{key_path} is not an OpenSSH private key: {exc}") from exc
    if isinstance(key, Ed25519PrivateKey):
        return _write_signature(log, _ed25519_signature(key, log, namespace))
    return _write_signature(log, _ssh_keygen_sign(key_path, log, namespace, env))


# --------------------------------------------------------------------------- allowed signers


@dataclass(frozen=True)
class AllowedSigner:
    """One line of an OpenSSH allowed_signers file."""

    principals: str
    options: dict[str, str | None]
    key_type: str
    public_key: bytes

    def matches_principal(self, identity: str) -> bool:
        return _match_pattern_list(identity, self.principals)

    def allows_namespace(self, namespace: str) -> bool:
        allowed = self.options.get("namespaces")
        return allowed is None or _match_pattern_list(namespace, allowed)

    def valid_at(self, when: _dt.datetime) -> bool:
        after = self.options.get("valid-after")
        before = self.options.get("valid-before")
        if after and when < _parse_ssh_time(after):
            return False
        return not (before and when > _parse_ssh_time(before))


def _glob_regex(pattern: str) -> re.Pattern[str]:
    # OpenSSH patterns know only "*" and "?"; fnmatch's [...] would be wrong here.
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def _match_pattern_list(value: str, patterns: str) -> bool:
    """OpenSSH ``match_pattern_list``: comma-separated globs, ``!`` negates and vetoes."""
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if _glob_regex(pattern[1:] if negated else pattern).match(value):
            if negated:
                return False
            matched = True
    return matched


def _parse_ssh_time(text: str) -> _dt.datetime:
    text = text.strip()
    utc = text.endswith(("Z", "z"))
    digits = text.rstrip("Zz")
    fmt = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}.get(len(digits))
    if fmt is None:
        raise SignatureFormatError(f"bad time {text!r} in allowed_signers")
    parsed = _dt.datetime.strptime(digits, fmt)
    if utc:
        return parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.astimezone()  # OpenSSH reads unsuffixed times as local time


_TOKEN = re.compile(r'(?:[^\s"]|"[^"]*")+')
_KEY_TYPE = re.compile(r"^(ssh-|ecdsa-|sk-|rsa-)")


def _parse_options(text: str) -> dict[str, str | None]:
    options: dict[str, str | None] = {}
    for item in re.findall(r'(?:[^,"]|"[^"]*")+', text):
        name, eq, value = item.partition("=")
        options[name.strip().lower()] = value.strip('"') if eq else None
    return options


def parse_allowed_signers(text: str) -> list[AllowedSigner]:
    """Parse an allowed_signers file (``principals [options] keytype base64 [comment]``)."""
    signers: list[AllowedSigner] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = _TOKEN.findall(line)
        if len(tokens) < 3:
            raise SignatureFormatError(f"allowed_signers line {number}: too few fields")
        principals, rest = tokens[0].strip('"'), tokens[1:]
        options: dict[str, str | None] = {}
        if not _KEY_TYPE.match(rest[0]):
            options = _parse_options(rest[0])
            rest = rest[1:]
        if len(rest) < 2:
            raise SignatureFormatError(f"allowed_signers line {number}: no public key")
        try:
            blob = base64.b64decode(rest[1], validate=True)
        except ValueError as exc:
            raise SignatureFormatError(f"allowed_signers line {number}: bad key: {exc}") from exc
        signers.append(AllowedSigner(principals, options, rest[0], blob))
    return signers


# --------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class SignatureCheck:
    """What the signature beside a log says."""

    status: str
    """``unsigned``, ``valid``, ``mismatch``, ``unknown signer`` or ``unsupported``."""
    detail: str
    signer: str | None = None
    """The matching principal(s) from allowed_signers, when checked."""
    fingerprint: str | None = None
    """The signing key's ``SHA256:`` fingerprint."""
    signer_checked: bool = False
    """False when no allowed_signers file was given: only the math was checked."""

    @property
    def ok(self) -> bool:
        return self.status == "valid"


def verify_signature(
    log: Path | str,
    *,
    signature: Path | str | None = None,
    allowed_signers: Path | str | None = None,
    identity: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    now: _dt.datetime | None = None,
) -> SignatureCheck:
    """Check ``LOG.sig`` against ``log``'s bytes and, given one, an allowed_signers file.

    Raises ``OSError`` / ``SignatureFormatError`` for an unreadable allowed_signers file.
    """
    log = Path(log)
    sig_path = Path(signature) if signature is not None else signature_path(log)
    if not sig_path.exists():
        return SignatureCheck("unsigned", f"no signature ({sig_path.name} does not exist)")
    try:
        sig = SshSignature.parse(sig_path.read_text(encoding="ascii", errors="replace"))
    except SignatureFormatError as exc:
        return SignatureCheck("mismatch", f"{sig_path.name} is not a valid signature: {exc}")
    fingerprint = sig.fingerprint
    if sig.namespace != namespace:
        return SignatureCheck(
            "mismatch",
            f"signature namespace is {sig.namespace!r}, expected {namespace!r}",
            fingerprint=fingerprint,
        )
    if sig.hash_algorithm not in _HASHES:
        return SignatureCheck(
            "unsupported", f"unsupported hash {sig.hash_algorithm!r}", fingerprint=fingerprint
        )
    key_reader = _WireReader(sig.public_key)
    key_type = key_reader.string().decode(errors="replace")
    if key_type != "ssh-ed25519" or sig.signature_type != "ssh-ed25519":
        return SignatureCheck(
            "unsupported",
            f"{key_type} signatures are checked by ssh-keygen -Y verify, not in-process",
            fingerprint=fingerprint,
        )
    try:
        public = Ed25519PublicKey.from_public_bytes(key_reader.string())
        public.verify(
            sig.signature,
            _signed_data(namespace, sig.hash_algorithm, file_digest(log, sig.hash_algorithm)),
        )
    except (InvalidSignature, ValueError, SignatureFormatError):
        return SignatureCheck(
            "mismatch",
            f"{sig_path.name} does not match the log's bytes (key {fingerprint})",
            fingerprint=fingerprint,
        )
    if allowed_signers is None:
        return SignatureCheck(
            "valid",
            f"signed by key {fingerprint} (signer not checked: no allowed_signers file)",
            fingerprint=fingerprint,
        )
    signers = parse_allowed_signers(Path(allowed_signers).read_text(encoding="utf-8"))
    when = now or _dt.datetime.now(_dt.timezone.utc)
    principals = [
        s.principals
        for s in signers
        if s.public_key == sig.public_key
        and "cert-authority" not in s.options
        and s.allows_namespace(namespace)
        and s.valid_at(when)
        and (identity is None or s.matches_principal(identity))
    ]
    if not principals:
        who = f"identity {identity!r}" if identity else "any identity"
        return SignatureCheck(
            "unknown signer",
            f"key {fingerprint} is not allowed for {who} in {Path(allowed_signers).name}",
            fingerprint=fingerprint,
            signer_checked=True,
        )
    signer = identity or ",".join(principals)
    return SignatureCheck(
        "valid",
        f"signed by {signer} ({fingerprint})",
        signer=signer,
        fingerprint=fingerprint,
        signer_checked=True,
    )
