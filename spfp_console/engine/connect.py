"""Connect to the target database the way libpq tools do, and never leak the password.

Where the connection parameters come from, in order: an explicit DSN (a
``postgresql://`` URL or ``key=value`` conninfo), else ``$DATABASE_URL``, else nothing at
all, which lets libpq itself apply ``PG*`` environment variables, service files
(``PGSERVICE``/``pg_service.conf``), ``.pgpass`` and ``sslmode`` exactly as psql would.

A :class:`Target` keeps the conninfo (which may hold a password) privately so that side
connections (the progress monitor) can be opened with the same credentials; its
``repr``/``str`` and every error message only ever show ``user@host:port/dbname``.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

import psycopg
from psycopg import pq
from psycopg.rows import TupleRow

from spfp_console.engine.errors import ConnectError
from spfp_console.lean_dataclass import lean_dataclass

DEFAULT_APPLICATION_NAME = "spfp-console"
DATABASE_URL_ENV = "DATABASE_URL"

CLIENT_CONNECTION_CHECK_INTERVAL = "2s"
"""How often a backend running a statement checks that its client is still there
(``client_connection_check_interval``, PostgreSQL 14+).  Without it a console killed
with SIGKILL, or cut off with its host, leaves its backend running the statement to the
end, holding the deployment lock and every table lock it took (12 s observed; a long
index build would hold them for its whole duration).  The check is a cheap poll() of the
socket; 2 s keeps it negligible while bounding how long a dead console blocks others."""


class TargetConnection(psycopg.Connection[TupleRow]):
    """A psycopg connection that remembers the :class:`Target` it was opened from.

    psycopg connections have ``__slots__``; this subclass exists only to carry the target
    so that :func:`side_connection` can reuse the same credentials.
    """

    spfp_target: Target | None = None


@lean_dataclass(frozen=True)
class TargetInfo:
    """Who and where we are connected, as the server reports it (no password)."""

    host: str
    port: int
    dbname: str
    user: str
    server_version: str
    """Human-readable, e.g. ``15.8 (Debian 15.8-1.pgdg120+1)``."""
    server_version_num: int
    """e.g. 150008."""
    is_superuser: bool
    application_name: str

    @property
    def server(self) -> str:
        """``user@host:port``: where, without the database."""
        return f"{self.user}@{_host_display(self.host)}:{self.port}"

    @property
    def display(self) -> str:
        return f"{self.server}/{self.dbname}"


def resolve_conninfo(dsn: str | None) -> str:
    """The conninfo to hand to libpq: ``dsn``, else ``$DATABASE_URL``, else ``""``.

    An empty conninfo is not an error: libpq fills everything from ``PG*`` variables,
    service files and its compiled-in defaults.
    """
    if dsn is not None and dsn.strip():
        return dsn.strip()
    return os.environ.get(DATABASE_URL_ENV, "").strip()


class Target:
    """A database to connect to.  Holds the conninfo privately; shows no password."""

    def __init__(
        self,
        dsn: str | None = None,
        *,
        connect_timeout: float = 10,
        application_name: str = DEFAULT_APPLICATION_NAME,
    ) -> None:
        self.__conninfo = resolve_conninfo(dsn)
        self.application_name = application_name
        self._params = _effective_params(self.__conninfo)
        # An explicit connect_timeout (in the DSN, or PGCONNECT_TIMEOUT) wins over the
        # runbook's default, as it would for psql.
        self.connect_timeout = _explicit_timeout(self._params) or connect_timeout

    # ------------------------------------------------------------------ display, no secrets

    @property
    def host(self) -> str:
        return self._params.get("host") or self._params.get("hostaddr") or ""

    @property
    def port(self) -> str:
        return self._params.get("port") or "5432"

    @property
    def dbname(self) -> str:
        return self._params.get("dbname") or self.user

    @property
    def user(self) -> str:
        return self._params.get("user") or ""

    @property
    def display(self) -> str:
        """``user@host:port/dbname`` as libpq will resolve it (env and defaults applied)."""
        return (
            f"{self.user or '?'}@{_host_display(self.host)}:{self.port}/{self.dbname or '?'}"
        )

    def __repr__(self) -> str:
        return f"Target({self.display!r})"

    __str__ = __repr__

    def secrets(self) -> tuple[str, ...]:
        """Password values in play (DSN, ``$PGPASSWORD``), for a journal to scrub."""
        found = [self._params.get("password") or "", os.environ.get("PGPASSWORD", "")]
        return tuple(s for s in found if s)

    def for_child_process(self) -> tuple[str, dict[str, str]]:
        """(conninfo without the password, environment carrying it) for pg_dump or psql.

        A command line is visible to every user of the machine (``ps``); a process's
        environment is not, so the password travels as ``PGPASSWORD``.
        """
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = {k: str(v) for k, v in conninfo_to_dict(self.__conninfo).items()}
        password = params.pop("password", None)
        params.setdefault("connect_timeout", str(max(2, math.ceil(self.connect_timeout))))
        env = dict(os.environ)
        if password:
            env["PGPASSWORD"] = password
        return make_conninfo("", **params), env

    # ------------------------------------------------------------------ connecting

    def connect(
        self, *, autocommit: bool = True, application_name: str | None = None
    ) -> TargetConnection:
        """Open a connection; :class:`ConnectError` (one line, no password) on failure."""
        # libpq (and psycopg, which enforces it itself) takes whole seconds, at least 2.
        timeout = max(2, math.ceil(self.connect_timeout))
        try:
            conn = TargetConnection.connect(
                self.__conninfo,
                autocommit=autocommit,
                connect_timeout=timeout,
                application_name=application_name or self.application_name,
            )
        except psycopg.Error as exc:
            raise self._connect_error(exc, timeout) from None
        conn.spfp_target = self
        watch_client_connection(conn)
        return conn

    def _connect_error(self, exc: psycopg.Error, timeout: int) -> ConnectError:
        raw = self._scrub(str(exc))
        reason, text, advice = _classify(raw, timeout)
        message = f"cannot connect to {self.display}: {text}"
        if advice:
            message += f"; {advice}"
        return ConnectError(message, target=self.display, reason=reason)

    def _scrub(self, text: str) -> str:
        from spfp_console.redact import Redactor

        return Redactor(self.secrets()).text(text)


def connect(
    dsn: str | None = None,
    *,
    connect_timeout: float = 10,
    application_name: str = DEFAULT_APPLICATION_NAME,
    autocommit: bool = True,
) -> TargetConnection:
    """Connect following libpq conventions (see the module docstring).

    Raises :class:`ConnectError` with a one-line message naming ``user@host:port/dbname``
    (never the password) when the server is unreachable, refuses, does not answer within
    ``connect_timeout`` seconds, or rejects the credentials or the database name.
    """
    target = Target(dsn, connect_timeout=connect_timeout, application_name=application_name)
    return target.connect(autocommit=autocommit)


def watch_client_connection(conn: psycopg.Connection[Any]) -> bool:
    """Make the server end this session's statement soon after the client disappears.

    Sets :data:`CLIENT_CONNECTION_CHECK_INTERVAL` for the session.  True when it is set;
    False on servers before 14 or platforms where the server cannot check (it then
    refuses any value but 0): the connection works as before, only without the check.
    """
    if conn.info.server_version < 140000:
        return False
    # One round trip in autocommit (the usual case); a non-autocommit connection must
    # come back idle, as psycopg hands it out.
    try:
        conn.execute(
            "select set_config('client_connection_check_interval', %s, false)",
            (CLIENT_CONNECTION_CHECK_INTERVAL,),
            prepare=False,
        )
    except psycopg.errors.InvalidParameterValue:
        if not conn.autocommit:
            conn.rollback()
        return False
    if not conn.autocommit:
        conn.commit()
    return True


def side_connection(
    conn: psycopg.Connection[Any], *, application_name: str | None = None
) -> psycopg.Connection[Any]:
    """A second autocommit connection to the same database with the same credentials.

    ``conn.info.dsn`` leaves the password out, so connections opened by :func:`connect`
    reuse their :class:`Target`; for any other connection we fall back to its parameters
    without the password (fine for peer/trust auth, ``.pgpass`` or ``$PGPASSWORD``).
    """
    target = getattr(conn, "spfp_target", None)
    if target is None:
        target = Target(conn.info.dsn)
    name = application_name or f"{target.application_name} (side)"
    return target.connect(autocommit=True, application_name=name)


def target_of(conn: psycopg.Connection[Any]) -> Target | None:
    """The :class:`Target` a connection was opened from, if :func:`connect` opened it."""
    return getattr(conn, "spfp_target", None)


def describe_target(conn: psycopg.Connection[Any]) -> TargetInfo:
    """Where ``conn`` is connected, from the server's own startup report (no query)."""
    info = conn.info

    def status(name: str) -> str:
        return info.parameter_status(name) or ""

    return TargetInfo(
        host=info.host,
        port=int(info.port),
        dbname=info.dbname,
        user=info.user,
        server_version=status("server_version"),
        server_version_num=info.server_version,
        is_superuser=status("is_superuser") == "on",
        application_name=status("application_name"),
    )


def system_identifier(conn: psycopg.Connection[Any]) -> str | None:
    """The cluster's system identifier (unique per initdb, kept by a physical replica),
    or None when this role may not read it (``pg_control_system`` needs pg_monitor or
    superuser on some servers).  Tells a restored copy or another server behind the same
    host name from the server a log was written against."""
    try:
        with conn.transaction():
            row = conn.execute("select system_identifier::text from pg_control_system()",
                               prepare=False).fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row and row[0] is not None else None


# --------------------------------------------------------------------------- helpers


def _host_display(host: str) -> str:
    if not host:
        return "local socket"
    if "," in host:  # multi-host conninfo: show them all
        return "[" + host + "]"
    return host


def _effective_params(conninfo: str) -> dict[str, str]:
    """What libpq will use: the conninfo's values over env variables and defaults."""
    try:
        parsed = pq.Conninfo.parse(conninfo.encode())
    except psycopg.Error as exc:
        # The parser's message may quote part of the DSN (a password with a space in it,
        # say): show only its generic first words.
        detail = _redact_parse_error(str(exc))
        raise ConnectError(
            f"cannot parse the connection string: {detail}; use a postgresql:// URL or "
            "key=value pairs (quote values containing spaces)",
            reason="bad_dsn",
        ) from None
    params: dict[str, str] = {}
    for opt in pq.Conninfo.get_defaults():
        if opt.val is not None:
            params[opt.keyword.decode()] = opt.val.decode(errors="replace")
    for opt in parsed:
        if opt.val is not None:
            params[opt.keyword.decode()] = opt.val.decode(errors="replace")
    return params


def _explicit_timeout(params: dict[str, str]) -> float | None:
    raw = params.get("connect_timeout", "").strip()
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value > 0 else None


def _redact_parse_error(message: str) -> str:
    message = message.strip().splitlines()[0] if message.strip() else "invalid syntax"
    return re.sub(r'"[^"]*"', '"…"', message)


_ADVICE = {
    "refused": "is the server running and listening there? check host and port",
    "timeout": "check the host address, port, firewall and VPN",
    "auth": "check the password (DSN, PGPASSWORD or ~/.pgpass)",
    "no_password": "supply a password (DSN, PGPASSWORD or ~/.pgpass)",
    "unknown_database": "check the database name",
    "unknown_role": "check the user name",
    "unknown_host": "check the host name",
    "no_socket": "is the server running locally? set a host (--dsn or PGHOST)",
}


def _classify(raw: str, timeout: int) -> tuple[str, str, str]:
    """(reason, short text, advice) from a libpq/psycopg connection error message."""
    low = raw.lower()
    if "timeout expired" in low or "connection timeout" in low:
        return "timeout", f"no answer within {timeout} s", _ADVICE["timeout"]
    if "password authentication failed" in low or "authentication failed" in low:
        return "auth", "password authentication failed", _ADVICE["auth"]
    if "no password supplied" in low:
        return (
            "auth",
            "the server asks for a password and none was given",
            _ADVICE["no_password"],
        )
    m = re.search(r'database "([^"]*)" does not exist', raw)
    if m:
        return (
            "unknown_database",
            f"database {m.group(1)!r} does not exist",
            _ADVICE["unknown_database"],
        )
    m = re.search(r'role "([^"]*)" does not exist', raw)
    if m:
        return "auth", f"role {m.group(1)!r} does not exist", _ADVICE["unknown_role"]
    if "connection refused" in low:
        return "refused", "connection refused", _ADVICE["refused"]
    if "could not translate host name" in low or "name or service not known" in low:
        return "unknown_host", "unknown host name", _ADVICE["unknown_host"]
    if "no such file or directory" in low:
        return "refused", "no server socket found", _ADVICE["no_socket"]
    return "other", _last_reason(raw), ""


def _last_reason(raw: str) -> str:
    """The most specific line of a libpq message, without 'connection ... failed:'."""
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    text = lines[0] if lines else "unknown error"
    text = text.rsplit(" failed: ", 1)[-1]
    text = re.sub(r"^(FATAL|ERROR):\s+", "", text)
    return text
