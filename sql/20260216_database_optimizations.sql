-- Migration 20260216_database_optimizations
--
-- Indexes for the hot queries, two uniqueness rules, soft-delete columns, six per-user
-- views, an RLS-protected audit table, a log-retention function and an updated_at trigger.
--
-- One transaction: it applies completely or not at all (psql -f, the Supabase SQL editor
-- and spfp-console all honour that; spfp-console runs the body in a transaction of its own
-- and skips these two lines).  Idempotent: every statement is IF NOT EXISTS / OR REPLACE,
-- so a second run succeeds and changes nothing.
--
-- Fixed against the paper version: the two "constraints" are unique indexes (PostgreSQL
-- cannot express an expression or a partial uniqueness rule as a table constraint);
-- corporate_activities and marketing_posts get the deleted_at column their indexes and
-- views filter on; update_updated_at_column() is created before the trigger that needs it;
-- the views run with the caller's privileges (security_invoker) so RLS still applies.

BEGIN;

-- ---------------------------------------------------------------------------------------
-- 1. Soft-delete and timestamp columns (nullable or with a constant-time default: no
--    table rewrite).
-- ---------------------------------------------------------------------------------------
ALTER TABLE public.sent_atas ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE public.sent_atas ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
ALTER TABLE public.user_files ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
ALTER TABLE public.operational_tasks ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
ALTER TABLE public.sales_leads ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
ALTER TABLE public.corporate_activities ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
ALTER TABLE public.marketing_posts ADD COLUMN IF NOT EXISTS deleted_at timestamptz;

-- ---------------------------------------------------------------------------------------
-- 2. Uniqueness rules.  Existing duplicates make these fail; run the preflight first.
-- ---------------------------------------------------------------------------------------
CREATE UNIQUE INDEX IF NOT EXISTS unique_user_category_name
    ON public.categories (user_id, lower(name));
CREATE UNIQUE INDEX IF NOT EXISTS unique_default_template
    ON public.custom_templates (user_id, type)
    WHERE is_default;

-- ---------------------------------------------------------------------------------------
-- 3. Indexes
-- ---------------------------------------------------------------------------------------
CREATE INDEX IF NOT EXISTS idx_sent_atas_deleted_at
    ON public.sent_atas (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_sent_atas_user_type_sent
    ON public.sent_atas (user_id, type, sent_at DESC) WHERE deleted_at IS NULL;

CREATE INDEX IF NOT EXISTS idx_user_files_deleted_at
    ON public.user_files (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE INDEX IF NOT EXISTS idx_operational_tasks_deleted_at
    ON public.operational_tasks (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_operational_tasks_kanban
    ON public.operational_tasks (user_id, status, position DESC) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_operational_tasks_due_dates
    ON public.operational_tasks (user_id, due_date)
    WHERE status <> 'done' AND deleted_at IS NULL;

CREATE INDEX IF NOT EXISTS idx_sales_leads_deleted_at
    ON public.sales_leads (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_sales_leads_analysis
    ON public.sales_leads (user_id, stage, probability DESC) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_sales_leads_value_analysis
    ON public.sales_leads (user_id, value DESC)
    WHERE stage NOT IN ('closed_won', 'closed_lost') AND deleted_at IS NULL;

CREATE INDEX IF NOT EXISTS idx_corporate_activities_realtime
    ON public.corporate_activities (user_id, created_at DESC, status) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_corporate_activities_approval
    ON public.corporate_activities (user_id, status)
    WHERE requires_approval AND approved_at IS NULL AND deleted_at IS NULL;

CREATE INDEX IF NOT EXISTS idx_marketing_posts_calendar
    ON public.marketing_posts (user_id, scheduled_date DESC)
    WHERE status <> 'rejected' AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_marketing_posts_by_platform
    ON public.marketing_posts (user_id, platform, status) WHERE deleted_at IS NULL;

CREATE INDEX IF NOT EXISTS idx_transactions_user_date_paid
    ON public.transactions (user_id, date DESC, paid) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_accounts_user_type
    ON public.accounts (user_id, type) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_categories_user_order
    ON public.categories (user_id, order_index) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_goals_user_deadline
    ON public.goals (user_id, deadline) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_partnership_clients_closed
    ON public.partnership_clients (user_id, closed_at)
    WHERE status = 'paid' AND closed_at IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- 4. Audit table for automation permission changes
-- ---------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.automation_permissions_audit (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL
        REFERENCES auth.users(id) ON DELETE CASCADE,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by varchar(255) NOT NULL,
    change_type varchar(50) NOT NULL
        CHECK (change_type IN ('enabled', 'disabled', 'whitelist_added', 'whitelist_removed',
                               'blacklist_added', 'blacklist_removed')),
    previous_value text,
    new_value text,
    CONSTRAINT automation_permissions_audit_permission_fkey
        FOREIGN KEY (user_id) REFERENCES public.automation_permissions(user_id)
        ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_automation_permissions_audit_user_id
    ON public.automation_permissions_audit (user_id);
CREATE INDEX IF NOT EXISTS idx_automation_permissions_audit_changed_at
    ON public.automation_permissions_audit (changed_at DESC);

ALTER TABLE public.automation_permissions_audit ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "Users can view their own permission audit"
    ON public.automation_permissions_audit;
CREATE POLICY "Users can view their own permission audit"
    ON public.automation_permissions_audit
    FOR SELECT USING (auth.uid() = user_id);

-- Explicit grants: Supabase's default privileges belong to the role that set them, so a
-- run by another role (or on a base without them) would leave the API roles with nothing
-- (42501).  Signed-in users read under the policy above; only the server role writes.
GRANT SELECT ON public.automation_permissions_audit TO authenticated;
GRANT ALL ON public.automation_permissions_audit TO service_role;

-- ---------------------------------------------------------------------------------------
-- 5. Views: per user, live rows only, with the caller's privileges so RLS applies
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE VIEW public.dashboard_metrics WITH (security_invoker = true) AS
SELECT
    t.user_id,
    current_date AS metric_date,
    count(*) FILTER (WHERE t.type = 'INCOME') AS today_income_count,
    count(*) FILTER (WHERE t.type = 'EXPENSE') AS today_expense_count,
    coalesce(sum(t.amount) FILTER (WHERE t.type = 'INCOME'), 0) AS total_income,
    coalesce(sum(t.amount) FILTER (WHERE t.type = 'EXPENSE'), 0) AS total_expense,
    coalesce(sum(t.amount) FILTER (WHERE t.type = 'INCOME'), 0)
        - coalesce(sum(t.amount) FILTER (WHERE t.type = 'EXPENSE'), 0) AS net_today
FROM public.transactions t
WHERE t.deleted_at IS NULL AND t.date = current_date
GROUP BY t.user_id;

CREATE OR REPLACE VIEW public.crm_health_check WITH (security_invoker = true) AS
SELECT
    s.user_id,
    count(DISTINCT coalesce(s.client_id::text, s.client_name)) AS unique_clients,
    count(DISTINCT s.type) AS ata_types_used,
    count(*) AS total_atas_sent,
    max(s.sent_at) AS last_ata_sent,
    count(*) FILTER (WHERE s.sent_at >= now() - interval '30 days') AS atas_last_30_days
FROM public.sent_atas s
WHERE s.deleted_at IS NULL
GROUP BY s.user_id;

CREATE OR REPLACE VIEW public.corporate_health_check WITH (security_invoker = true) AS
SELECT
    c.user_id,
    count(DISTINCT c.department) AS departments_active,
    count(DISTINCT c.status) AS status_types_used,
    count(*) AS total_activities,
    count(*) FILTER (WHERE c.status = 'completed') AS completed_activities,
    count(*) FILTER (WHERE c.requires_approval AND c.approved_at IS NULL) AS pending_approvals,
    max(c.created_at) AS last_activity
FROM public.corporate_activities c
WHERE c.deleted_at IS NULL
GROUP BY c.user_id;

CREATE OR REPLACE VIEW public.sales_health_check WITH (security_invoker = true) AS
SELECT
    l.user_id,
    count(*) AS total_leads,
    count(*) FILTER (WHERE l.stage = 'prospecting') AS prospecting_count,
    count(*) FILTER (WHERE l.stage NOT IN ('closed_won', 'closed_lost')) AS active_count,
    count(*) FILTER (WHERE l.stage = 'closed_won') AS won_count,
    count(*) FILTER (WHERE l.stage = 'closed_lost') AS lost_count,
    coalesce(sum(l.value) FILTER (WHERE l.stage NOT IN ('closed_won', 'closed_lost')), 0)
        AS pipeline_value,
    round(avg(l.probability) FILTER (WHERE l.stage NOT IN ('closed_won', 'closed_lost')), 1)
        AS avg_probability,
    max(l.updated_at) AS last_update
FROM public.sales_leads l
WHERE l.deleted_at IS NULL
GROUP BY l.user_id;

CREATE OR REPLACE VIEW public.operational_health_check WITH (security_invoker = true) AS
SELECT
    o.user_id,
    count(*) AS total_tasks,
    count(*) FILTER (WHERE o.status = 'todo') AS todo_count,
    count(*) FILTER (WHERE o.status = 'in_progress') AS in_progress_count,
    count(*) FILTER (WHERE o.status = 'done') AS done_count,
    count(*) FILTER (WHERE o.priority = 'high' AND o.status <> 'done') AS high_priority_open,
    count(*) FILTER (WHERE o.due_date < current_date AND o.status <> 'done') AS overdue_count,
    max(o.updated_at) AS last_update
FROM public.operational_tasks o
WHERE o.deleted_at IS NULL
GROUP BY o.user_id;

CREATE OR REPLACE VIEW public.marketing_health_check WITH (security_invoker = true) AS
SELECT
    m.user_id,
    count(*) AS total_posts,
    count(*) FILTER (WHERE m.status = 'draft') AS draft_count,
    count(*) FILTER (WHERE m.status = 'pending') AS pending_approval_count,
    count(*) FILTER (WHERE m.status = 'posted') AS posted_count,
    count(*) FILTER (WHERE m.status = 'rejected') AS rejected_count,
    count(DISTINCT m.platform) AS platforms_used,
    count(*) FILTER (WHERE m.scheduled_date >= current_date
                     AND m.status NOT IN ('posted', 'rejected')) AS upcoming_posts
FROM public.marketing_posts m
WHERE m.deleted_at IS NULL
GROUP BY m.user_id;

-- security_invoker views: the caller needs SELECT on the view and on its tables, and the
-- tables' RLS still decides which rows.
GRANT SELECT ON public.dashboard_metrics, public.crm_health_check,
    public.corporate_health_check, public.sales_health_check,
    public.operational_health_check, public.marketing_health_check
    TO authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- 6. Retention: delete automation logs older than 90 days, return how many went
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.cleanup_old_automation_logs()
RETURNS integer
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $fn$
DECLARE
    deleted_count integer;
BEGIN
    DELETE FROM public.automation_logs
    WHERE created_at < now() - interval '90 days';
    GET DIAGNOSTICS deleted_count = ROW_COUNT;
    RETURN deleted_count;
END
$fn$;

-- ---------------------------------------------------------------------------------------
-- 7. updated_at trigger on sent_atas.  The base schema may lack the trigger function; it
--    is created only where missing (a project's own version is left alone), and marked so
--    the rollback knows it may drop it.
-- ---------------------------------------------------------------------------------------
DO $mig$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proname = 'update_updated_at_column'
          AND p.pronargs = 0
    ) THEN
        CREATE FUNCTION public.update_updated_at_column()
        RETURNS trigger
        LANGUAGE plpgsql
        AS $fn$
        BEGIN
            NEW.updated_at = now();
            RETURN NEW;
        END
        $fn$;
        COMMENT ON FUNCTION public.update_updated_at_column()
            IS 'created by migration 20260216_database_optimizations';
    END IF;
END
$mig$;

CREATE OR REPLACE TRIGGER update_sent_atas_updated_at
    BEFORE UPDATE ON public.sent_atas
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

DO $mig$
BEGIN
    RAISE NOTICE 'Database optimizations completed successfully!';
END
$mig$;

COMMIT;
