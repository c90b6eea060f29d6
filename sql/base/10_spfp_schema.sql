-- SPFP base schema: the tables migration 20260216_database_optimizations touches, as they
-- are before it.  Every table is created only where missing, so applying this file to the
-- real database is harmless.

CREATE TABLE IF NOT EXISTS public.accounts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    name varchar(255) NOT NULL,
    type varchar(50) NOT NULL
        CHECK (type IN ('checking', 'savings', 'credit', 'investment', 'other')),
    balance numeric(19,2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    currency varchar(3) DEFAULT 'BRL',
    color varchar(20),
    icon varchar(50),
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    deleted_at timestamp
);

CREATE TABLE IF NOT EXISTS public.categories (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    name varchar(255) NOT NULL,
    icon varchar(50),
    type varchar(50) CHECK (type IN ('income', 'expense', 'mixed')),
    color varchar(20),
    order_index integer DEFAULT 0,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    deleted_at timestamp
);

CREATE TABLE IF NOT EXISTS public.transaction_groups (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    type varchar(50) NOT NULL CHECK (type IN ('recurring', 'installment', 'other')),
    description varchar(500),
    frequency varchar(20),
    total_installments integer,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.transactions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    account_id uuid REFERENCES public.accounts(id) ON DELETE CASCADE,
    category_id uuid REFERENCES public.categories(id) ON DELETE SET NULL,
    group_id uuid REFERENCES public.transaction_groups(id) ON DELETE SET NULL,
    description varchar(500),
    amount numeric(19,2) NOT NULL CHECK (amount > 0),
    type varchar(50) NOT NULL CHECK (type IN ('INCOME', 'EXPENSE')),
    date date NOT NULL,
    paid boolean DEFAULT false,
    group_index integer,
    spender varchar(50),
    notes text,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    deleted_at timestamp
);

CREATE TABLE IF NOT EXISTS public.goals (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    name varchar(255) NOT NULL,
    description text,
    target_amount numeric(19,2) NOT NULL CHECK (target_amount > 0),
    current_amount numeric(19,2) NOT NULL DEFAULT 0 CHECK (current_amount >= 0),
    deadline date,
    category varchar(50),
    priority varchar(10),
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    deleted_at timestamp
);

CREATE TABLE IF NOT EXISTS public.partnership_clients (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    partner_id uuid NOT NULL,
    client_name varchar(255) NOT NULL,
    contract_value numeric(19,2) NOT NULL DEFAULT 0 CHECK (contract_value >= 0),
    commission_rate numeric(5,2) NOT NULL DEFAULT 0
        CHECK (commission_rate >= 0 AND commission_rate <= 100),
    total_commission numeric(19,2),
    my_share numeric(19,2),
    partner_share numeric(19,2),
    status varchar(20) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'paid', 'cancelled')),
    closed_at date,
    paid_at timestamptz,
    notes text,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.sent_atas (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    client_id uuid,
    client_name varchar(255) NOT NULL,
    type varchar(20) NOT NULL CHECK (type IN ('reuniao', 'investimentos')),
    channel varchar(20) NOT NULL CHECK (channel IN ('email', 'whatsapp')),
    content text NOT NULL,
    recipient varchar(255) NOT NULL,
    subject varchar(255),
    sent_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.custom_templates (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    type varchar(20) NOT NULL,
    name varchar(100) NOT NULL,
    content text NOT NULL,
    is_default boolean DEFAULT false,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.user_files (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    name varchar(255) NOT NULL,
    category varchar(50)
        CHECK (category IN ('investimentos', 'planejamento', 'educacional', 'outros', 'screenshots')),
    storage_path varchar(500) NOT NULL,
    size_bytes integer CHECK (size_bytes >= 1 AND size_bytes <= 10485760),
    mime_type varchar(100),
    is_favorite boolean DEFAULT false,
    created_at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.operational_tasks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    title varchar(255) NOT NULL,
    description text,
    status varchar(20) NOT NULL DEFAULT 'todo' CHECK (status IN ('todo', 'in_progress', 'done')),
    priority varchar(10) NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high')),
    assignee varchar(255),
    due_date date,
    completed_at timestamptz,
    position integer NOT NULL DEFAULT 0,
    tags text[],
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.sales_leads (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    name varchar(255) NOT NULL,
    company varchar(255),
    email varchar(255),
    phone varchar(50),
    stage varchar(20) NOT NULL DEFAULT 'prospecting'
        CHECK (stage IN ('prospecting', 'qualification', 'proposal', 'negotiation',
                         'closed_won', 'closed_lost')),
    value numeric(18,2) NOT NULL DEFAULT 0 CHECK (value >= 0),
    probability integer NOT NULL DEFAULT 0 CHECK (probability >= 0 AND probability <= 100),
    source varchar(100),
    notes text,
    next_action text,
    next_action_date date,
    position integer DEFAULT 0,
    lost_reason text,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    closed_at timestamptz
);

CREATE TABLE IF NOT EXISTS public.corporate_activities (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    department varchar(20) NOT NULL
        CHECK (department IN ('financeiro', 'marketing', 'operacional', 'comercial')),
    agent_name varchar(100) NOT NULL,
    description text NOT NULL,
    status varchar(20) NOT NULL
        CHECK (status IN ('running', 'idle', 'waiting', 'completed', 'error')),
    requires_approval boolean DEFAULT false,
    approved_at timestamptz,
    approved_by uuid REFERENCES auth.users(id),
    metadata jsonb,
    created_at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.marketing_posts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    title varchar(255) NOT NULL,
    description text,
    platform varchar(20) NOT NULL
        CHECK (platform IN ('instagram', 'linkedin', 'tiktok', 'youtube', 'twitter',
                            'facebook', 'other')),
    status varchar(20) NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'pending', 'approved', 'posted', 'rejected')),
    scheduled_date date,
    posted_date timestamptz,
    image_url text,
    metrics jsonb,
    rejection_reason text,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.automation_logs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    action_type varchar(50) NOT NULL
        CHECK (action_type IN ('screenshot', 'navigate', 'click', 'fill', 'select', 'scroll')),
    target_url text,
    selector text,
    value text,
    status varchar(20) NOT NULL CHECK (status IN ('pending', 'running', 'success', 'error')),
    error_message text,
    screenshot_path text,
    duration_ms integer,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.automation_permissions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    enabled boolean DEFAULT false,
    require_confirmation boolean DEFAULT true,
    allowed_domains text[] DEFAULT '{}',
    blocked_domains text[] DEFAULT '{}',
    max_actions_per_hour integer DEFAULT 100,
    allow_navigation boolean DEFAULT true,
    allow_clicks boolean DEFAULT false,
    allow_typing boolean DEFAULT false,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT automation_permissions_user_id_key UNIQUE (user_id)
);

-- The original schema indexed user_id on the oldest tables only.
CREATE INDEX IF NOT EXISTS idx_transactions_user_id ON public.transactions (user_id);
CREATE INDEX IF NOT EXISTS idx_accounts_user_id ON public.accounts (user_id);
CREATE INDEX IF NOT EXISTS idx_categories_user_id ON public.categories (user_id);

-- Row level security: every table, one policy each, created only where missing.
DO $rls$
DECLARE
    table_name text;
    policy_name text;
BEGIN
    FOREACH table_name IN ARRAY ARRAY[
        'accounts', 'categories', 'transaction_groups', 'transactions', 'goals',
        'partnership_clients', 'sent_atas', 'custom_templates', 'user_files',
        'operational_tasks', 'sales_leads', 'corporate_activities', 'marketing_posts',
        'automation_logs', 'automation_permissions'
    ] LOOP
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', table_name);
        policy_name := format('Users can manage their own %s', replace(table_name, '_', ' '));
        IF NOT EXISTS (
            SELECT 1 FROM pg_policies
            WHERE schemaname = 'public' AND tablename = table_name
        ) THEN
            EXECUTE format(
                'CREATE POLICY %I ON public.%I FOR ALL USING (auth.uid() = user_id)',
                policy_name, table_name
            );
        END IF;
    END LOOP;
END
$rls$;

GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated, service_role;
