"""The base schema and its Supabase stand-in: faithful, and harmless where things exist."""

from __future__ import annotations

import json

import psycopg

from spfp_console.paths import base_schema_files


def test_applying_the_base_schema_again_changes_nothing(base_db):
    before = base_db.schema_dump()
    for path in base_schema_files():
        base_db.execute_file(path)
    assert base_db.schema_dump() == before


def test_an_existing_supabase_auth_is_left_alone(empty_db):
    """On Supabase, auth.uid() and the API roles exist already: keep theirs untouched."""
    with empty_db.connect() as conn:
        conn.execute("CREATE SCHEMA auth")
        conn.execute("CREATE TABLE auth.users (id uuid PRIMARY KEY, email text, extra text)")
        conn.execute(
            "CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE"
            " AS $$ SELECT '00000000-0000-0000-0000-000000000001'::uuid $$")
        conn.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname ="
                     " 'authenticated') THEN CREATE ROLE authenticated NOLOGIN; END IF; END $$")
    for path in base_schema_files():
        empty_db.execute_file(path)
    assert empty_db.scalar("SELECT auth.uid()::text") == "00000000-0000-0000-0000-000000000001"
    assert empty_db.scalar(
        "SELECT count(*) FROM information_schema.columns"
        " WHERE table_schema = 'auth' AND table_name = 'users' AND column_name = 'extra'") == 1


def test_auth_uid_reads_the_jwt_sub_claim_like_supabase(base_db):
    with base_db.connect() as conn:
        assert conn.execute("SELECT auth.uid()").fetchone() == (None,)
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT set_config('request.jwt.claims', %s, true)",
                         (json.dumps({"sub": "6f1c0f5e-0000-4000-8000-000000000001"}),))
            assert str(conn.execute("SELECT auth.uid()").fetchone()[0]) == \
                "6f1c0f5e-0000-4000-8000-000000000001"
        with conn.transaction(force_rollback=True):  # the legacy per-claim setting
            conn.execute("SELECT set_config('request.jwt.claim.sub',"
                         " '6f1c0f5e-0000-4000-8000-000000000002', true)")
            assert str(conn.execute("SELECT auth.uid()").fetchone()[0]) == \
                "6f1c0f5e-0000-4000-8000-000000000002"


def test_every_base_table_has_rls_and_an_owner_policy(base_db):
    rows = base_db.query(
        "SELECT c.relname, c.relrowsecurity, count(p.policyname),"
        "       bool_and(p.qual = '(auth.uid() = user_id)')"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_policies p ON p.schemaname = 'public' AND p.tablename = c.relname"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' GROUP BY 1, 2 ORDER BY 1")
    assert len(rows) == 15
    for name, rls, policies, owner_only in rows:
        assert rls, name
        assert policies == 1 and owner_only, name


def test_an_authenticated_user_sees_only_their_own_rows(base_db):
    with base_db.connect() as conn:
        a, b = (conn.execute("INSERT INTO auth.users DEFAULT VALUES RETURNING id").fetchone()[0]
                for _ in range(2))
        for user in (a, b):
            conn.execute("INSERT INTO goals (user_id, name, target_amount) VALUES (%s, 'g', 10)",
                         (user,))
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL ROLE authenticated")
            conn.execute("SELECT set_config('request.jwt.claims', %s, true)",
                         (json.dumps({"sub": str(b)}),))
            assert conn.execute("SELECT user_id FROM goals").fetchall() == [(b,)]
            # and cannot write a row for somebody else
            try:
                with conn.transaction():
                    conn.execute("INSERT INTO goals (user_id, name, target_amount)"
                                 " VALUES (%s, 'x', 1)", (a,))
            except psycopg.errors.InsufficientPrivilege:
                pass
            else:
                raise AssertionError("RLS let user B write a row owned by user A")
