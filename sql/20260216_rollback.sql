-- Rollback of migration 20260216_database_optimizations
--
-- Removes exactly what the migration added and nothing else, in one transaction.
-- DATA LOSS: dropping automation_permissions_audit and the deleted_at / updated_at columns
-- destroys whatever accrued in them since the migration.  spfp-console reports how many
-- rows and values are at risk and offers to export them before it runs this file.

BEGIN;

DROP TRIGGER IF EXISTS update_sent_atas_updated_at ON public.sent_atas;

-- The trigger function goes only if the migration created it and nothing else uses it.
DO $rb$
BEGIN
    IF obj_description('public.update_updated_at_column()'::regprocedure, 'pg_proc')
           = 'created by migration 20260216_database_optimizations'
       AND NOT EXISTS (
           SELECT 1 FROM pg_trigger
           WHERE tgfoid = 'public.update_updated_at_column()'::regprocedure
       ) THEN
        DROP FUNCTION public.update_updated_at_column();
    END IF;
EXCEPTION
    WHEN undefined_function THEN NULL;  -- never created, nothing to drop
END
$rb$;

DROP FUNCTION IF EXISTS public.cleanup_old_automation_logs();

DROP VIEW IF EXISTS public.dashboard_metrics;
DROP VIEW IF EXISTS public.crm_health_check;
DROP VIEW IF EXISTS public.corporate_health_check;
DROP VIEW IF EXISTS public.sales_health_check;
DROP VIEW IF EXISTS public.operational_health_check;
DROP VIEW IF EXISTS public.marketing_health_check;

-- Its two indexes and its policy go with it.
DROP TABLE IF EXISTS public.automation_permissions_audit;

DROP INDEX IF EXISTS public.unique_user_category_name;
DROP INDEX IF EXISTS public.unique_default_template;
DROP INDEX IF EXISTS public.idx_sent_atas_deleted_at;
DROP INDEX IF EXISTS public.idx_sent_atas_user_type_sent;
DROP INDEX IF EXISTS public.idx_user_files_deleted_at;
DROP INDEX IF EXISTS public.idx_operational_tasks_deleted_at;
DROP INDEX IF EXISTS public.idx_operational_tasks_kanban;
DROP INDEX IF EXISTS public.idx_operational_tasks_due_dates;
DROP INDEX IF EXISTS public.idx_sales_leads_deleted_at;
DROP INDEX IF EXISTS public.idx_sales_leads_analysis;
DROP INDEX IF EXISTS public.idx_sales_leads_value_analysis;
DROP INDEX IF EXISTS public.idx_corporate_activities_realtime;
DROP INDEX IF EXISTS public.idx_corporate_activities_approval;
DROP INDEX IF EXISTS public.idx_marketing_posts_calendar;
DROP INDEX IF EXISTS public.idx_marketing_posts_by_platform;
DROP INDEX IF EXISTS public.idx_transactions_user_date_paid;
DROP INDEX IF EXISTS public.idx_accounts_user_type;
DROP INDEX IF EXISTS public.idx_categories_user_order;
DROP INDEX IF EXISTS public.idx_goals_user_deadline;
DROP INDEX IF EXISTS public.idx_partnership_clients_closed;

ALTER TABLE public.sent_atas DROP COLUMN IF EXISTS updated_at;
ALTER TABLE public.sent_atas DROP COLUMN IF EXISTS deleted_at;
ALTER TABLE public.user_files DROP COLUMN IF EXISTS deleted_at;
ALTER TABLE public.operational_tasks DROP COLUMN IF EXISTS deleted_at;
ALTER TABLE public.sales_leads DROP COLUMN IF EXISTS deleted_at;
ALTER TABLE public.corporate_activities DROP COLUMN IF EXISTS deleted_at;
ALTER TABLE public.marketing_posts DROP COLUMN IF EXISTS deleted_at;

DO $rb$
BEGIN
    RAISE NOTICE 'Rollback of 20260216_database_optimizations completed.';
END
$rb$;

COMMIT;
