"""A throwaway PgBouncer in front of a :class:`LocalCluster`, for the pooler tests.

Supabase hands out pooled connection strings; the console must tell a transaction-mode
pooler from a session-mode one by what it does, and only a real pooler shows that.  Like
the cluster, it runs in a temp directory, as the cluster's unprivileged account when we
are root (PgBouncer refuses to run as root), listens on 127.0.0.1 at a free port, and
reaches the server over the cluster's private unix socket.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spfp_console.localpg.cluster import (
    SUPERUSER,
    SUPERUSER_PASSWORD,
    ClusterError,
    LocalCluster,
    _free_port,
    _neutral_parent,
    _unprivileged_user,
)


def find_pgbouncer() -> str | None:
    """The pgbouncer binary (Debian installs it in /usr/sbin), or None."""
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)),
        None)


@dataclass
class LocalPgBouncer:
    cluster: LocalCluster
    pool_mode: str = "transaction"
    pool_size: int = 4
    settings: dict[str, str] = field(default_factory=dict)
    """Extra [pgbouncer] settings (e.g. server_round_robin)."""

    root: Path = field(init=False)
    port: int = field(init=False, default=0)
    _proc: subprocess.Popen[bytes] | None = field(init=False, default=None)

    def start(self) -> LocalPgBouncer:
        binary = find_pgbouncer()
        if binary is None:
            raise ClusterError("pgbouncer not found; install it (apt-get install pgbouncer)")
        runas = _unprivileged_user()
        self.root = Path(tempfile.mkdtemp(prefix="spfp-pgbouncer-",
                                          dir=_neutral_parent(None, runas)))
        # md5 in the userlist: the client side checks a password like Supabase's pooler.
        (self.root / "userlist.txt").write_text(
            f'"{SUPERUSER}" "{SUPERUSER_PASSWORD}"\n')
        for _ in range(5):
            self.port = _free_port()
            (self.root / "pgbouncer.ini").write_text(self._config())
            if runas is not None:
                for path in (self.root, *self.root.iterdir()):
                    os.chown(path, runas.pw_uid, runas.pw_gid)
            kwargs: dict[str, Any] = {}
            if runas is not None:
                kwargs.update(user=runas.pw_uid, group=runas.pw_gid, extra_groups=[])
            self._proc = subprocess.Popen(
                [binary, str(self.root / "pgbouncer.ini")], cwd=self.root,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
            if self._wait_listening():
                return self
            self._terminate()
        log = (self.root / "pgbouncer.log").read_text(errors="replace")[-2000:] \
            if (self.root / "pgbouncer.log").exists() else ""
        self.stop()
        raise ClusterError(f"pgbouncer did not start: {log}")

    def _config(self) -> str:
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "plain",
            "auth_file": str(self.root / "userlist.txt"),
            "pool_mode": self.pool_mode,
            "default_pool_size": str(self.pool_size),
            "max_client_conn": "100",
            "logfile": str(self.root / "pgbouncer.log"),
            "ignore_startup_parameters": "extra_float_digits,options",
            **self.settings,
        }
        return "\n".join([
            "[databases]",
            f"* = host={self.cluster.socket_dir} port={self.cluster.port} user={SUPERUSER}",
            "[pgbouncer]",
            *(f"{key} = {value}" for key, value in settings.items()),
            "",
        ])

    def _wait_listening(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def dsn(self, dbname: str) -> str:
        return (f"postgresql://{SUPERUSER}:{SUPERUSER_PASSWORD}@127.0.0.1:{self.port}/"
                f"{dbname}")

    def _terminate(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self._proc = None

    def stop(self) -> None:
        self._terminate()
        if getattr(self, "root", None) is not None and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalPgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
