-- Supabase's API roles for plain PostgreSQL: anon, authenticated, service_role.
--
-- Created only where missing, so this changes nothing on Supabase.  Kept apart from the
-- auth stand-in because the scratch rehearsal needs the roles (policies name them) in a
-- cluster where the target's own auth schema is restored from its dump.

DO $standin$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', role_name);
        END IF;
    END LOOP;
    -- Supabase's service_role bypasses row level security.
    IF NOT (SELECT rolbypassrls FROM pg_roles WHERE rolname = 'service_role') THEN
        ALTER ROLE service_role BYPASSRLS;
    END IF;
END
$standin$;
