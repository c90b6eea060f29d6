"""Keep passwords out of everything the console writes or shows: the one redaction of
the log, the terminal, JSON lines, the console, error messages and exports.

Two complementary defences:

* **Patterns**: a password in a DSN URL (``postgresql://u:secret@h/db`` or
  ``?password=secret``), a ``password=...`` keyword of a libpq conninfo string (quoted or
  not), ``PGPASSWORD=...`` and SQL's ``PASSWORD '...'`` are replaced by ``[redacted]``
  wherever they occur.
* **Known values**: the journal writer is told the actual secrets of the session (the
  target's password, ``$PGPASSWORD``) and scrubs every occurrence of them from every
  string, whatever the surrounding text looks like.

``redact_conninfo`` is the one to reuse for a DSN shown in a UI or an error message.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote

REDACTED = "[redacted]"
"""What a secret is replaced with."""

SECRET_ENV_VARS = ("PGPASSWORD",)
"""Environment variables whose values are secrets."""

# A password between "scheme://user:" and the last "@" of the URL token (libpq requires
# "@" in a password to be percent-encoded, but people paste it raw anyway).
_URL_USERINFO = re.compile(
    r"(?P<pre>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)(?P<pw>\S*)@"
)
# ?password=... / &password=... in a URL query.
_URL_QUERY = re.compile(r"(?P<pre>[?&]password=)(?P<pw>[^&#\s]*)", re.IGNORECASE)
_QUOTED = r"'(?:[^'\\]|\\.)*(?:'|$)|\"(?:[^\"\\]|\\.)*(?:\"|$)"
# password=... in a key/value conninfo (libpq allows spaces around "=").
_KEYWORD = re.compile(
    rf"(?P<pre>(?<![?&\w])password\s*=\s*)(?P<pw>{_QUOTED}|[^\s]*)", re.IGNORECASE
)


@functools.cache
def _env_and_sql_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """``PGPASSWORD=...`` and CREATE/ALTER ROLE ... [ENCRYPTED] PASSWORD 'secret'.
    Compiled when first needed: few strings contain "password", and every command
    imports this module (start-up)."""
    env = re.compile(
        rf"(?P<pre>\b(?:{'|'.join(SECRET_ENV_VARS)})\s*=\s*)(?P<pw>{_QUOTED}|[^\s]*)",
        re.IGNORECASE,
    )
    sql_password = re.compile(r"(?P<pre>\bpassword\s+)(?P<pw>'(?:[^']|'')*(?:'|$))",
                              re.IGNORECASE)
    return env, sql_password


def _sub(pattern: re.Pattern[str], text: str, quoted_marker: bool = False) -> str:
    def repl(m: re.Match[str]) -> str:
        pw = m.group("pw")
        if pw == "":
            return m.group(0)
        if quoted_marker and pw[:1] in "'\"":
            return f"{m.group('pre')}{pw[0]}{REDACTED}{pw[0]}"
        return f"{m.group('pre')}{REDACTED}"

    return pattern.sub(repl, text)


def redact_conninfo(text: str) -> str:
    """``text`` with any DSN/conninfo password replaced by ``[redacted]``.

    >>> redact_conninfo("postgresql://app:s3cret@db.example/app")
    'postgresql://app:[redacted]@db.example/app'
    >>> redact_conninfo("host=db password='a b' user=app")
    "host=db password='[redacted]' user=app"
    """
    text = _URL_USERINFO.sub(
        lambda m: m.group(0) if m.group("pw") == "" else f"{m.group('pre')}{REDACTED}@", text
    )
    text = _sub(_URL_QUERY, text)
    return _sub(_KEYWORD, text, quoted_marker=True)


def redact_patterns(text: str) -> str:
    """Pattern-based redaction: conninfo, ``PGPASSWORD=``, SQL ``PASSWORD '...'``."""
    # Every pattern needs "password" (PGPASSWORD, ?password=, password=, PASSWORD '..')
    # or a URL's "://" with an "@": most strings (SQL, table cells) have neither, and the
    # journal redacts every string of every event.
    if not text or ("password" not in text.lower() and ("@" not in text or "://" not in text)):
        return text
    text = redact_conninfo(text)
    env, sql_password = _env_and_sql_patterns()
    text = _sub(env, text, quoted_marker=True)
    return _sub(sql_password, text, quoted_marker=True)


def secrets_in_conninfo(text: str) -> set[str]:
    """The password values a DSN or conninfo string carries (to scrub them elsewhere)."""
    found: set[str] = set()
    for m in _URL_USERINFO.finditer(text):
        if m.group("pw"):
            found.add(m.group("pw"))
            found.add(unquote(m.group("pw")))
    for m in _URL_QUERY.finditer(text):
        if m.group("pw"):
            found.add(m.group("pw"))
            found.add(unquote(m.group("pw")))
    for m in _KEYWORD.finditer(text):
        pw = m.group("pw")
        if pw[:1] in "'\"":
            inner = pw[1:-1] if len(pw) >= 2 and pw[-1] == pw[0] else pw[1:]
            found.add(inner)
            found.add(re.sub(r"\\(.)", r"\1", inner))
        elif pw:
            found.add(pw)
    return {s for s in found if s}


def secrets_in_env(env: Mapping[str, str]) -> set[str]:
    """Secret values found in an environment (``PGPASSWORD``)."""
    return {env[name] for name in SECRET_ENV_VARS if env.get(name)}


class Redactor:
    """Scrubs known secret values and secret-looking patterns from strings and records.

    Every non-empty secret is scrubbed, however short: a log that is hard to read
    because the password was ``postgres`` is better than a log that leaks it.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if secret:
                variants.add(secret)
                variants.add(quote(secret, safe=""))
        # Longest first so that a secret containing another is removed whole.
        self._secrets = sorted(variants, key=len, reverse=True)

    def add(self, secret: str) -> None:
        """Scrub ``secret`` from now on too."""
        if secret and secret not in self._secrets:
            variants = {*self._secrets, secret, quote(secret, safe="")}
            self._secrets = sorted(variants, key=len, reverse=True)

    def text(self, text: str) -> str:
        """``text`` with known secrets and secret patterns replaced by ``[redacted]``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return redact_patterns(text)

    def value(self, value: Any) -> Any:
        """Redact every string inside a TOML-safe value (dicts, lists, scalars)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value


def redact_env(env: Mapping[str, str], secrets: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``env`` safe to show: secret variables blanked, other values scrubbed."""
    redactor = Redactor({*secrets, *secrets_in_env(env)})
    return {
        k: (REDACTED if k.upper() in SECRET_ENV_VARS else redactor.text(v)) for k, v in env.items()
    }
