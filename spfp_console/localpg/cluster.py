"""A throwaway PostgreSQL cluster in a temporary directory.

Used by the test suite, the demo and the scratch rehearsal.  PostgreSQL refuses to run as
root, and CI runs as root, so when we are root the server runs as an unprivileged OS user
(``postgres`` when the machine has one, else ``nobody``).  The data lives under a neutral
temp path (never a home directory) that is removed on stop.

The cluster listens on a private unix socket directory and on 127.0.0.1 at a free port.
Local socket connections are trusted (the tests need a superuser quickly); TCP connections
require a SCRAM password, so wrong-password handling can be tested for real.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any
from dataclasses import dataclass, field
from pathlib import Path

from spfp_console.errors import ConsoleError

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
BINDIR_ENV = "SPFP_PG_BINDIR"
SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "spfp-local-superuser"


class ClusterError(ConsoleError, RuntimeError):
    """The throwaway cluster could not be created, started or stopped."""


def _has_server_binaries(bindir: str | os.PathLike[str]) -> bool:
    return all(os.access(os.path.join(bindir, b), os.X_OK) for b in SERVER_BINARIES)


def find_server_bindir() -> Path:
    """Where initdb/pg_ctl/postgres live.

    Order: ``$SPFP_PG_BINDIR``; ``pg_config --bindir``; the newest
    ``/usr/lib/postgresql/*/bin``; the directory of ``initdb`` on PATH.
    """
    override = os.environ.get(BINDIR_ENV)
    if override:
        if _has_server_binaries(override):
            return Path(override)
        raise ClusterError(
            f"{BINDIR_ENV}={override} does not contain {', '.join(SERVER_BINARIES)}"
        )
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            )
            if out.returncode == 0:
                candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass

    def version_key(path: str) -> tuple[int, ...]:
        version = Path(path).parent.name
        return tuple(int(p) for p in version.split(".") if p.isdigit())

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    for candidate in candidates:
        if candidate and _has_server_binaries(candidate):
            return Path(candidate)
    raise ClusterError(
        "no PostgreSQL server binaries found (initdb, pg_ctl, postgres); install the "
        f"server (apt-get install postgresql) or set {BINDIR_ENV}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The account to run the server as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ClusterError("running as root and no unprivileged user (postgres, nobody) exists")


def _traversable_by(path: Path, account: pwd.struct_passwd) -> bool:
    """Can ``account`` reach into ``path`` (search permission on it and every parent)?"""
    for part in (path, *path.parents):
        try:
            st = os.stat(part)
        except OSError:
            return False
        if st.st_uid == account.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == account.pw_gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return False
    return True


def _neutral_parent(preferred: Path | None, account: pwd.struct_passwd | None) -> Path | None:
    """Where to put the cluster's temp directory.

    The server account must be able to reach it.  We never open up permissions on the
    parents (a home directory, pytest's private tmp) to make that so: we pick the first
    of the preferred directory, the system temp dir, /tmp and /var/tmp that it can reach.
    """
    if account is None:
        return preferred
    candidates = [preferred] if preferred is not None else []
    candidates += [Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp")]
    for candidate in candidates:
        if candidate.is_dir() and _traversable_by(candidate.resolve(), account):
            return candidate
    raise ClusterError(
        f"no temp directory the server account {account.pw_name} can reach (tried "
        + ", ".join(str(c) for c in candidates) + ")"
    )


@dataclass
class LocalCluster:
    """A PostgreSQL server of our own, for tests, the demo and scratch rehearsals."""

    base_dir: Path | None = None
    """Parent for the temp directory; default: the system temp dir (never $HOME)."""
    settings: dict[str, str] = field(default_factory=dict)
    """Extra postgresql.conf settings."""
    durable: bool = False
    """False turns off fsync & co: a throwaway cluster need not survive a power cut."""

    root: Path = field(init=False)
    data_dir: Path = field(init=False)
    socket_dir: Path = field(init=False)
    port: int = field(init=False, default=0)
    bindir: Path = field(init=False)
    _runas: pwd.struct_passwd | None = field(init=False, default=None)
    _started: bool = field(init=False, default=False)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalCluster:
        self.bindir = find_server_bindir()
        self._runas = _unprivileged_user()
        parent = _neutral_parent(self.base_dir, self._runas)
        self.root = Path(tempfile.mkdtemp(prefix="spfp-pg-", dir=parent))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.socket_dir.mkdir()
        if self._runas is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self._runas.pw_uid, self._runas.pw_gid)
            # mkdtemp makes 0700; the server user owns it, root can still enter.
        pwfile = self.root / "pwfile"
        pwfile.write_text(SUPERUSER_PASSWORD + "\n")
        if self._runas is not None:
            os.chown(pwfile, self._runas.pw_uid, self._runas.pw_gid)
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D", str(self.data_dir),
                "-U", SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            what="initdb",
        )
        pwfile.unlink()
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "100",
            "shared_buffers": "128MB",
            "log_min_messages": "warning",
            "logging_collector": "off",
            "dynamic_shared_memory_type": "posix",
        }
        if not self.durable:
            conf.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        conf.update(self.settings)
        with open(self.data_dir / "postgresql.auto.conf", "a") as f:
            for key, value in conf.items():
                f.write(f"{key} = {value}\n")
        # A free port can be taken between our probe and the server's bind; retry.
        last_error: ClusterError | None = None
        for _ in range(5):
            self.port = _free_port()
            try:
                self._run(
                    [
                        str(self.bindir / "pg_ctl"),
                        "-D", str(self.data_dir),
                        "-l", str(self.root / "server.log"),
                        "-o", f"-p {self.port}",
                        "-w", "-t", "60",
                        "start",
                    ],
                    what="pg_ctl start",
                )
                break
            except ClusterError as exc:
                last_error = exc
        else:
            self._remove()
            raise last_error or ClusterError("could not start PostgreSQL")
        self._started = True
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop the server (fast) and remove every file.  Safe to call twice."""
        if self._started:
            self._started = False
            try:
                self._run(
                    [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                     "-w", "-t", "30", "stop"],
                    what="pg_ctl stop",
                )
            except ClusterError:
                self._kill_postmaster()
        self._remove()

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        except (OSError, ValueError, IndexError):
            pass

    def _remove(self) -> None:
        root = getattr(self, "root", None)
        if root is not None and root.exists():
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ access

    @property
    def server_log(self) -> Path:
        return self.root / "server.log"

    def dsn(self, dbname: str = "postgres", *, user: str = SUPERUSER) -> str:
        """A conninfo over the unix socket (trusted, no password)."""
        return f"host={self.socket_dir} port={self.port} dbname={dbname} user={user}"

    def tcp_dsn(
        self, dbname: str = "postgres", *, user: str = SUPERUSER,
        password: str | None = SUPERUSER_PASSWORD,
    ) -> str:
        """A postgresql:// URL over TCP on 127.0.0.1 (password checked by SCRAM)."""
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def env(self) -> dict[str, str]:
        """Environment for client tools (psql, pg_dump) pointed at this cluster."""
        env = dict(os.environ)
        env.update(PGHOST=str(self.socket_dir), PGPORT=str(self.port), PGUSER=SUPERUSER)
        env.pop("PGPASSWORD", None)
        return env

    def client_tool(self, name: str) -> str:
        """Path of a client tool of the same major version as the server."""
        path = self.bindir / name
        if os.access(path, os.X_OK):
            return str(path)
        found = shutil.which(name)
        if not found:
            raise ClusterError(f"client tool {name} not found next to the server or on PATH")
        return found

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """CREATE DATABASE (optionally from a template) and return its socket DSN."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            conn.execute(stmt)
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # ------------------------------------------------------------------ helpers

    def _run(self, argv: list[str], *, what: str) -> None:
        kwargs: dict[str, Any] = {}
        if self._runas is not None:
            kwargs.update(user=self._runas.pw_uid, group=self._runas.pw_gid, extra_groups=[])
        env = dict(os.environ)
        env.pop("PGDATA", None)
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=120, env=env,
                cwd=self.root, **kwargs,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ClusterError(f"{what} failed: {exc}") from exc
        if proc.returncode != 0:
            log = ""
            if self.server_log.exists():
                log = self.server_log.read_text(errors="replace")[-2000:]
            raise ClusterError(
                f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
                + (f"\nserver log:\n{log}" if log else "")
            )
