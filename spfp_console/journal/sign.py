"""Seal a log with an SSH signature (OpenSSH's SSHSIG format) and check such seals.

The signature is a detached ``LOG.sig`` beside the log, byte-compatible with
``ssh-keygen -Y sign``, so a reviewer can check it with stock OpenSSH::

    ssh-keygen -Y verify -f allowed_signers -I alice@example.com \\
        -n spfp-console-log@spfp -s LOG.sig < LOG

Checkpoints (``checkpoint_message``) sign the chain hash at an event, so a session that
dies early still leaves a signed prefix.

An unencrypted ed25519 key file signs in-process (``cryptography``), an ed25519 key in
ssh-agent over the agent's socket; any other key (RSA/ECDSA, or a passphrase prompt for
``spfp-console sign``) is handed to ``ssh-keygen -Y sign``.  ``resolve_signer`` picks the
key a session signs with and checks it before anything changes.  Verification of ed25519
signatures is in-process.  Format reference: OpenSSH ``PROTOCOL.sshsig``; agent protocol:
draft-miller-ssh-agent.  cryptography is imported only when a key is used, so a command
with no key at hand does not pay for it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from spfp_console.errors import ConsoleError
from spfp_console.lean_dataclass import lean_dataclass
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


@lean_dataclass(frozen=True)
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

SIGN_KEY_ENV = "SPFP_CONSOLE_SIGN_KEY"
"""A key the console signs with when ``--sign-key`` is not given: a private key file, or a
``.pub`` whose private half is in ssh-agent; ``none`` turns default signing off."""

UNSIGNED_HINT = (
    f"pass --sign-key FILE, set ${SIGN_KEY_ENV}, or ssh-add an ed25519 key to sign logs"
)
"""What to tell an operator whose session wrote an unsigned log."""

_CHECKPOINT_MESSAGE = "spfp-console checkpoint\nseq {seq}\nhash {digest}\n"


def checkpoint_message(signed_seq: int, chain_hash: str) -> bytes:
    """The bytes a checkpoint signs: the chain hash at ``signed_seq`` (0 is the header).

    Each chain hash covers every byte of the log up to its event, so signing 100 bytes
    seals a prefix of any size.  Check one by hand with stock OpenSSH::

        printf 'spfp-console checkpoint\\nseq %d\\nhash %s\\n' N HASH |
            ssh-keygen -Y verify -f allowed_signers -I ID -n spfp-console-log@spfp -s SIG
    """
    return _CHECKPOINT_MESSAGE.format(seq=signed_seq, digest=chain_hash).encode("ascii")


def _sshsig_blob(public_blob: bytes, namespace: str, signature: bytes) -> bytes:
    return (
        _MAGIC
        + struct.pack(">I", _SIG_VERSION)
        + _string(public_blob)
        + _string(namespace.encode())
        + _string(b"")
        + _string(b"sha512")
        + _string(signature)
    )


class Signer:
    """Makes SSHSIG signatures (``ssh-keygen -Y sign`` compatible) with one key."""

    description: str = "a key"
    """Where the key comes from, for messages: a file, ssh-agent, ssh-keygen."""
    public_blob: bytes = b""

    @property
    def fingerprint(self) -> str:
        return public_key_fingerprint(self.public_blob)

    def _sign_data(self, signed_data: bytes) -> bytes:
        """The SSH signature blob (``string type, string sig``) over ``signed_data``."""
        raise NotImplementedError

    def sign(self, message: bytes, namespace: str = DEFAULT_NAMESPACE) -> bytes:
        """The SSHSIG blob over ``message`` (small messages: checkpoints, probes)."""
        signed = _signed_data(namespace, "sha512", hashlib.sha512(message).digest())
        return _sshsig_blob(self.public_blob, namespace, self._sign_data(signed))

    def sign_file(self, log: Path | str, namespace: str = DEFAULT_NAMESPACE) -> Path:
        """Write ``LOG.sig`` over the log's bytes (streamed); returns its path."""
        log = Path(log)
        signed = _signed_data(namespace, "sha512", file_digest(log, "sha512"))
        blob = _sshsig_blob(self.public_blob, namespace, self._sign_data(signed))
        return _write_signature(log, armor(blob))


class Ed25519FileSigner(Signer):
    """An unencrypted ed25519 key file, used in-process (no subprocess per signature)."""

    def __init__(self, key: Ed25519PrivateKey, path: Path) -> None:
        from cryptography.hazmat.primitives import serialization

        self._key = key
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        self.public_blob = base64.b64decode(public.split()[1])
        self.description = f"key file {path} ({self.fingerprint})"

    def _sign_data(self, signed_data: bytes) -> bytes:
        return _string(b"ssh-ed25519") + _string(self._key.sign(signed_data))


class AgentSigner(Signer):
    """An ed25519 key held by ssh-agent, asked over its socket (no ssh-keygen process)."""

    def __init__(self, socket_path: str, public_blob: bytes, comment: str) -> None:
        self._agent = SshAgent(socket_path)
        self.public_blob = public_blob
        self.description = f"ssh-agent key {comment or '(no comment)'} ({self.fingerprint})"

    def _sign_data(self, signed_data: bytes) -> bytes:
        return self._agent.sign(self.public_blob, signed_data)


class SshKeygenSigner(Signer):
    """Any other key (RSA, ECDSA, a passphrase prompt): one ``ssh-keygen -Y sign`` per signature."""

    keep_alive: object = None

    def __init__(self, key: Path, env: Mapping[str, str], public_blob: bytes = b"") -> None:
        self._key = key
        self._env = dict(env)
        self.public_blob = public_blob
        self.description = f"ssh-keygen with {key}"

    def _run(self, message: BinaryIO | bytes, namespace: str) -> bytes:
        # Message on stdin, signature on stdout: ssh-keygen never touches files of ours.
        argv = [_ssh_keygen(), "-Y", "sign", "-q", "-f", str(self._key), "-n", namespace]
        if isinstance(message, bytes):
            proc = subprocess.run(argv, input=message, capture_output=True, env=self._env, check=False)
        else:
            proc = subprocess.run(argv, stdin=message, capture_output=True, env=self._env, check=False)
        if proc.returncode != 0 or _BEGIN not in proc.stdout.decode(errors="replace"):
            reason = proc.stderr.decode(errors="replace").strip().splitlines()
            raise SigningError(
                f"ssh-keygen could not sign with {self._key}: {reason[-1] if reason else 'no output'}"
            )
        return dearmor(proc.stdout.decode())

    def sign(self, message: bytes, namespace: str = DEFAULT_NAMESPACE) -> bytes:
        return self._run(message, namespace)

    def sign_file(self, log: Path | str, namespace: str = DEFAULT_NAMESPACE) -> Path:
        log = Path(log)
        with open(log, "rb") as message:
            return _write_signature(log, armor(self._run(message, namespace)))


# --------------------------------------------------------------------------- ssh-agent

_AGENTC_REQUEST_IDENTITIES = 11
_AGENT_IDENTITIES_ANSWER = 12
_AGENTC_SIGN_REQUEST = 13
_AGENT_SIGN_RESPONSE = 14


class SshAgent:
    """The two requests of the ssh-agent protocol a signer needs (draft-miller-ssh-agent)."""

    def __init__(self, socket_path: str, timeout_s: float = 30.0) -> None:
        self.socket_path = socket_path
        self.timeout_s = timeout_s

    def _request(self, payload: bytes) -> bytes:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(self.timeout_s)
                conn.connect(self.socket_path)
                conn.sendall(struct.pack(">I", len(payload)) + payload)
                length = struct.unpack(">I", _recv_exact(conn, 4))[0]
                return _recv_exact(conn, length)
        except OSError as exc:
            raise SigningError(
                f"cannot reach ssh-agent at {self.socket_path}: {exc.strerror or exc}; "
                "start it (eval $(ssh-agent)) or pass --sign-key FILE"
            ) from exc

    def identities(self) -> list[tuple[bytes, str]]:
        """(public key blob, comment) of every key the agent holds."""
        answer = self._request(bytes([_AGENTC_REQUEST_IDENTITIES]))
        if not answer or answer[0] != _AGENT_IDENTITIES_ANSWER:
            raise SigningError(f"ssh-agent at {self.socket_path} did not list its keys")
        reader = _WireReader(answer[1:])
        return [(reader.string(), reader.string().decode(errors="replace"))
                for _ in range(reader.uint32())]

    def sign(self, public_blob: bytes, data: bytes) -> bytes:
        answer = self._request(
            bytes([_AGENTC_SIGN_REQUEST]) + _string(public_blob) + _string(data) + struct.pack(">I", 0)
        )
        if not answer or answer[0] != _AGENT_SIGN_RESPONSE:
            raise SigningError(
                f"ssh-agent refused to sign with key {public_key_fingerprint(public_blob)} "
                "(removed from the agent, or confirmation declined)"
            )
        return _WireReader(answer[1:]).string()


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            raise OSError("ssh-agent closed the connection")
        data += part
    return data


def _is_ed25519(public_blob: bytes) -> bool:
    try:
        return _WireReader(public_blob).string() == b"ssh-ed25519"
    except SignatureFormatError:
        return False


def _agent(env: Mapping[str, str]) -> SshAgent | None:
    path = env.get("SSH_AUTH_SOCK")
    return SshAgent(path) if path else None


# --------------------------------------------------------------------------- choosing a key


def _ssh_keygen() -> str:
    path = shutil.which("ssh-keygen")
    if path is None:
        raise SigningError("ssh-keygen not found: install OpenSSH or sign with an ed25519 key file")
    return path


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


def _openssh_public_blob(data: bytes) -> bytes | None:
    """The public key stored in clear in an OpenSSH private key file (even an encrypted one)."""
    text = data.decode("ascii", errors="replace")
    begin, end = "-----BEGIN OPENSSH PRIVATE KEY-----", "-----END OPENSSH PRIVATE KEY-----"
    if begin not in text or end not in text:
        return None
    try:
        body = base64.b64decode("".join(text.split(begin, 1)[1].split(end, 1)[0].split()))
        if not body.startswith(b"openssh-key-v1\0"):
            return None
        reader = _WireReader(body[len(b"openssh-key-v1\0"):])
        reader.string(), reader.string(), reader.string()  # cipher, kdf, kdf options
        if reader.uint32() < 1:
            return None
        return reader.string()
    except (ValueError, SignatureFormatError):
        return None


def _agent_signer_for(public_blob: bytes, env: Mapping[str, str]) -> AgentSigner | None:
    agent = _agent(env)
    if agent is None or not _is_ed25519(public_blob):
        return None
    for blob, comment in agent.identities():
        if blob == public_blob:
            return AgentSigner(agent.socket_path, blob, comment)
    return None


def signer_for_key(key_file: Path, env: Mapping[str, str], *, interactive: bool = False) -> Signer:
    """A signer for a private key file, or for a ``.pub`` whose private half is in ssh-agent.

    ``interactive`` allows a passphrase prompt (``spfp-console sign``); a deployment
    session cannot stop mid-run to ask, so without it an encrypted key must be in the agent.
    """
    try:
        data = key_file.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read key {key_file}: {exc.strerror or exc}") from exc
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if data.lstrip().startswith((b"ssh-", b"ecdsa-", b"sk-")):
        try:
            public_blob = base64.b64decode(data.split()[1], validate=True)
        except (IndexError, ValueError) as exc:
            raise SigningError(f"{key_file} is not an OpenSSH public key") from exc
        signer = _agent_signer_for(public_blob, env)
        if signer is not None:
            return signer
        if _is_ed25519(public_blob) and _agent(env) is not None:
            raise SigningError(f"ssh-agent does not hold the key of {key_file}: ssh-add it first")
        return SshKeygenSigner(key_file, env, public_blob)
    try:
        key = serialization.load_ssh_private_key(data, password=None)
    except TypeError:
        key = None  # passphrase-protected
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SigningError(f"{key_file} is not an OpenSSH private key: {exc}") from exc
    if isinstance(key, Ed25519PrivateKey):
        return Ed25519FileSigner(key, key_file)
    public_blob = _openssh_public_blob(data) or b""
    if key is None:
        signer = _agent_signer_for(public_blob, env) if public_blob else None
        if signer is not None:
            return signer
        if not interactive:
            raise SigningError(
                f"{key_file} is passphrase-protected and not in ssh-agent: run `ssh-add "
                f"{key_file}` first (a deployment cannot stop to ask for a passphrase)"
            )
    return SshKeygenSigner(key_file, env, public_blob)


def agent_signer(env: Mapping[str, str], *, ed25519_only: bool = True) -> Signer:
    """The agent's first ed25519 key (else, unless ``ed25519_only``, its first key)."""
    agent = _agent(env)
    if agent is None:
        raise SigningError("no key given and no ssh-agent (SSH_AUTH_SOCK is unset); use --key FILE")
    keys = agent.identities()
    if not keys:
        raise SigningError("ssh-agent holds no keys: ssh-add your key or use --key FILE")
    for blob, comment in keys:
        if _is_ed25519(blob):
            return AgentSigner(agent.socket_path, blob, comment)
    if ed25519_only:
        raise SigningError("ssh-agent holds no ed25519 key: ssh-add one or use --key FILE")
    # ssh-keygen talks to the agent itself when given the public half.
    blob, comment = keys[0]
    key_type = _WireReader(blob).string().decode(errors="replace")
    holder = tempfile.TemporaryDirectory(prefix="spfp-agent-key-")
    pub = Path(holder.name) / "agent-key.pub"
    pub.write_text(f"{key_type} {base64.b64encode(blob).decode()} {comment}\n")
    signer = SshKeygenSigner(pub, env, blob)
    signer.keep_alive = holder  # the .pub lives as long as the signer
    return signer


def resolve_signer(sign_key: Path | None, *, env: Mapping[str, str] | None = None) -> Signer | None:
    """The key a session signs its log with, checked before the session changes anything.

    ``sign_key`` (``--sign-key``) first, else ``$SPFP_CONSOLE_SIGN_KEY``, else the first
    ed25519 key in ssh-agent, else None (the log stays unsigned; see ``UNSIGNED_HINT``).
    ``none`` in either place turns signing off.
    A key that was asked for but cannot sign raises ``SigningError`` with one clear line;
    the chosen key signs a probe message here, so a broken agent or key fails now rather
    than after COMMIT.
    """
    env = os.environ if env is None else env
    signer: Signer | None
    if sign_key is not None and str(sign_key).lower() == "none":
        return None
    if sign_key is not None:
        signer = signer_for_key(Path(sign_key).expanduser(), env)
        source = "--sign-key"
    else:
        configured = env.get(SIGN_KEY_ENV, "").strip()
        if configured.lower() in ("none", "off", "no", "0"):
            return None
        if configured:
            source = f"${SIGN_KEY_ENV}"
            try:
                signer = signer_for_key(Path(configured).expanduser(), env)
            except SigningError as exc:
                raise SigningError(f"{source}: {exc}") from exc
        else:
            source = "ssh-agent"
            try:
                signer = agent_signer(env)
            except SigningError:
                return None  # no key at hand: the operator is told the log is unsigned
    if not _is_ed25519(signer.public_blob):
        # verify checks ed25519 in-process; a log signed otherwise would never verify ok.
        raise SigningError(
            f"{source}: {signer.description} is not an ed25519 key, and spfp-console verify "
            "checks ed25519 signatures; sign with one (ssh-keygen -t ed25519)"
        )
    try:
        signer.sign(b"spfp-console signing probe\n")
    except SigningError as exc:
        raise SigningError(f"{source}: {exc}") from exc
    return signer


def sign_log(
    log: Path | str,
    *,
    key_file: Path | str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Write ``LOG.sig``: an SSHSIG signature of the log's bytes.  Returns its path.

    ``key_file`` is a private key file (a passphrase is asked for by ssh-keygen), or a
    ``.pub`` file whose private half is in ssh-agent; without it the agent's first ed25519
    key (else its first key) signs.
    """
    log = Path(log)
    env = os.environ if env is None else env
    if not log.is_file():
        raise SigningError(f"{log}: no such log file")
    if key_file is None:
        signer = agent_signer(env, ed25519_only=False)
    else:
        signer = signer_for_key(Path(key_file), env, interactive=True)
    return signer.sign_file(log, namespace)


# --------------------------------------------------------------------------- allowed signers


@lean_dataclass(frozen=True)
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


@lean_dataclass(frozen=True)
class SignatureCheck:
    """What a signature (``LOG.sig`` or a checkpoint's) says."""

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


def load_allowed_signers(path: Path | str) -> list[AllowedSigner]:
    """Parse an allowed_signers file; ``OSError`` / ``SignatureFormatError`` when unusable."""
    return parse_allowed_signers(Path(path).read_text(encoding="utf-8"))


def check_signature(
    sig: SshSignature,
    digest_of: Callable[[str], bytes],
    *,
    what: str,
    allowed: list[AllowedSigner] | None,
    allowed_name: str = "allowed_signers",
    identity: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    now: _dt.datetime | None = None,
) -> SignatureCheck:
    """Check a parsed SSHSIG against the digest of what it should sign, then its signer.

    ``digest_of(hash_algorithm)`` returns the digest of the signed message; ``what`` names
    it in messages ("the log's bytes", "checkpoint at seq 12").
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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
        public.verify(sig.signature, _signed_data(namespace, sig.hash_algorithm, digest_of(sig.hash_algorithm)))
    except (InvalidSignature, ValueError, SignatureFormatError):
        return SignatureCheck(
            "mismatch",
            f"the signature does not match {what} (key {fingerprint})",
            fingerprint=fingerprint,
        )
    if allowed is None:
        return SignatureCheck(
            "valid",
            f"signed by key {fingerprint}, signer NOT checked (no --allowed-signers)",
            fingerprint=fingerprint,
        )
    when = now or _dt.datetime.now(_dt.timezone.utc)
    principals = [
        s.principals
        for s in allowed
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
            f"key {fingerprint} is not allowed for {who} in {allowed_name}",
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
    allowed = load_allowed_signers(allowed_signers) if allowed_signers is not None else None
    try:
        sig = SshSignature.parse(sig_path.read_text(encoding="ascii", errors="replace"))
    except SignatureFormatError as exc:
        return SignatureCheck("mismatch", f"{sig_path.name} is not a valid signature: {exc}")
    check = check_signature(
        sig, lambda algorithm: file_digest(log, algorithm), what="the log's bytes",
        allowed=allowed, allowed_name=Path(allowed_signers).name if allowed_signers else "",
        identity=identity, namespace=namespace, now=now,
    )
    if check.status == "mismatch" and "does not match" in check.detail:
        return SignatureCheck("mismatch", f"{sig_path.name} does not match the log's bytes "
                              f"(key {check.fingerprint})", fingerprint=check.fingerprint)
    return check


def verify_checkpoint(
    signature_b64: str,
    signed_seq: int,
    chain_hash: str,
    *,
    allowed: list[AllowedSigner] | None,
    allowed_name: str = "allowed_signers",
    identity: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    now: _dt.datetime | None = None,
) -> SignatureCheck:
    """Check a checkpoint's signature over ``checkpoint_message(signed_seq, chain_hash)``."""
    try:
        sig = SshSignature.parse(armor(base64.b64decode(signature_b64, validate=True)))
    except (ValueError, SignatureFormatError) as exc:
        return SignatureCheck("mismatch", f"checkpoint after seq {signed_seq} has no valid signature: {exc}")
    message = checkpoint_message(signed_seq, chain_hash)
    return check_signature(
        sig, lambda algorithm: _HASHES[algorithm](message).digest(),
        what=f"the chain at seq {signed_seq}", allowed=allowed, allowed_name=allowed_name,
        identity=identity, namespace=namespace, now=now,
    )
