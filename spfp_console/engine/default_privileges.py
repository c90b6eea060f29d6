"""What the executing role's default ACLs give the API roles on the objects it creates.

On Supabase, ``ALTER DEFAULT PRIVILEGES`` grants every new table to anon, authenticated
and service_role, but only for the role that set them (``postgres``).  Run by another
role, or on a base without those defaults, a new table gets no grants at all.  The
migration grants what the API roles need explicitly; the preflight still says what the
defaults would have given, so an operator knows whether the target behaves like Supabase.
"""

from __future__ import annotations

from typing import Any

import psycopg

from spfp_console.lean_dataclass import lean_dataclass

API_ROLES = ("anon", "authenticated", "service_role")

_KINDS = {"r": "tables", "f": "functions", "S": "sequences"}

_SQL = """
select d.defaclobjtype::text, a.grantee::regrole::text, a.privilege_type
from pg_default_acl d
cross join lateral aclexplode(d.defaclacl) a
where d.defaclrole = (select oid from pg_roles where rolname = current_user)
  and (d.defaclnamespace = 0 or d.defaclnamespace = to_regnamespace(%s))
  and a.grantee <> 0
"""


@lean_dataclass(frozen=True)
class DefaultGrants:
    """Per object kind (tables, functions, sequences), per API role, what a new object
    created by ``role`` in ``schema`` gets from default ACLs."""

    role: str
    schema: str
    grants: dict[str, dict[str, tuple[str, ...]]]

    def of(self, kind: str, api_role: str) -> tuple[str, ...]:
        return self.grants.get(kind, {}).get(api_role, ())

    def summary(self) -> str:
        """One short line: what new tables get, roles with the same grants together."""
        groups: dict[str, list[str]] = {}
        for api_role in API_ROLES:
            privileges = set(self.of("tables", api_role))
            if not privileges:
                words = "nothing"
            elif privileges >= _ALL_TABLE_PRIVILEGES:
                words = "all privileges"
            else:
                words = ", ".join(sorted(privileges))
            groups.setdefault(words, []).append(api_role)
        return "; ".join(f"{', '.join(roles)}: {words}" for words, roles in groups.items())


_ALL_TABLE_PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES",
                         "TRIGGER"}


def default_grants(conn: psycopg.Connection[Any], schema: str) -> DefaultGrants:
    role_row = conn.execute("select current_user", prepare=False).fetchone()
    role = str(role_row[0]) if role_row else "?"
    grants: dict[str, dict[str, set[str]]] = {}
    for kind, grantee, privilege in conn.execute(_SQL, (schema,), prepare=False):
        if grantee not in API_ROLES or kind not in _KINDS:
            continue
        grants.setdefault(_KINDS[kind], {}).setdefault(grantee, set()).add(privilege)
    return DefaultGrants(role, schema, {
        kind: {grantee: tuple(sorted(privileges)) for grantee, privileges in per.items()}
        for kind, per in grants.items()})
