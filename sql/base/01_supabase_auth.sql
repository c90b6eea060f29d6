-- Supabase stand-in for plain PostgreSQL (the roles come from 00_supabase_roles.sql).
--
-- Supabase provides schema auth, auth.users and auth.uid().  Plain PostgreSQL has none
-- of them.  Everything here is created only where it is missing, so running this file
-- against a real Supabase database changes nothing there.

CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE IF NOT EXISTS auth.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email varchar(255),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- auth.uid(): the caller's user id from the JWT claim "sub", read the way Supabase reads
-- it: the legacy per-claim setting first, then the request.jwt.claims JSON document.
DO $standin$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'auth' AND p.proname = 'uid'
    ) THEN
        EXECUTE $fn$
            CREATE FUNCTION auth.uid() RETURNS uuid
            LANGUAGE sql STABLE
            AS $body$
                SELECT coalesce(
                    nullif(current_setting('request.jwt.claim.sub', true), ''),
                    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
                )::uuid
            $body$
        $fn$;
    END IF;
END
$standin$;

GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;

-- Supabase grants table privileges to its API roles by default; row level security is
-- what actually limits them.  Mirror that so RLS is tested the way it runs there.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
