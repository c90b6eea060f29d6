"""Who ran the session, from where: OS user, host, SSH origin, terminal size.

Everything here is best effort: a missing value is left out of the header rather than
guessed, and nothing ever raises (a deployment must not fail because ``$USER`` is unset).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def ssh_key_fingerprint(public_key_line: str) -> str | None:
    """OpenSSH-style ``SHA256:...`` fingerprint of ``ssh-ed25519 AAAA... [comment]``."""
    parts = public_key_line.split()
    for part in parts:
        if part.startswith("AAAA"):
            try:
                blob = base64.b64decode(part, validate=True)
            except ValueError:
                return None
            digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
            return f"SHA256:{digest}"
    return None


def _ssh_login_key_fingerprint(env: Mapping[str, str]) -> str | None:
    # sshd exposes the keys used to log in through $SSH_USER_AUTH when the server has
    # "ExposeAuthInfo yes"; without it the login key is not discoverable from here.
    path = env.get("SSH_USER_AUTH")
    if not path:
        return None
    try:
        for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("publickey "):
                return ssh_key_fingerprint(line.removeprefix("publickey "))
    except OSError:
        return None
    return None


def _os_user(env: Mapping[str, str]) -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # getpass raises OSError/KeyError when there is no passwd entry
        return env.get("USER") or env.get("LOGNAME")


def _terminal_size() -> tuple[int, int] | None:
    for stream_fd in (1, 2, 0):
        try:
            size = os.get_terminal_size(stream_fd)
        except OSError:
            continue
        return size.columns, size.lines
    return None


def collect_session_info(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A TOML-safe dict describing the operator's session (no secrets)."""
    env = os.environ if env is None else env
    info: dict[str, Any] = {}
    user = _os_user(env)
    if user:
        info["os_user"] = user
    try:
        info["hostname"] = socket.gethostname()
    except OSError:
        pass
    # SSH_CONNECTION = "client_ip client_port server_ip server_port";
    # SSH_CLIENT (older) = "client_ip client_port server_port".
    ssh = env.get("SSH_CONNECTION") or env.get("SSH_CLIENT")
    if ssh:
        fields = ssh.split()
        if fields:
            info["ssh_client_address"] = fields[0]
        if len(fields) > 1 and fields[1].isdigit():
            info["ssh_client_port"] = int(fields[1])
        fingerprint = _ssh_login_key_fingerprint(env)
        if fingerprint:
            info["ssh_key_fingerprint"] = fingerprint
    size = _terminal_size()
    if size:
        info["terminal_columns"], info["terminal_lines"] = size
    return info
