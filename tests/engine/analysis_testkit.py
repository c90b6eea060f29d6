"""Test data for the read-only analysis tests (preflight, validation, performance, impact).

Plain INSERT ... SELECT generate_series on a real database: enough rows that the planner
prefers the migration's indexes, few enough to load in about a second.  Every insert works
on the base schema and on the migrated one (none names a column the migration adds).
"""

from __future__ import annotations

import psycopg

USERS_CTE = "WITH u AS (SELECT array_agg(id ORDER BY id) AS ids FROM auth.users)"


def add_users(conn: psycopg.Connection, n: int) -> list[str]:
    rows = conn.execute(
        "INSERT INTO auth.users (id) SELECT gen_random_uuid() FROM generate_series(1, %s)"
        " RETURNING id::text",
        (n,),
    ).fetchall()
    return [r[0] for r in rows]


def seed_workload(
    conn: psycopg.Connection,
    *,
    users: int = 200,
    tasks: int = 50_000,
    leads: int = 30_000,
    transactions: int = 50_000,
    posts: int = 30_000,
) -> None:
    """Rows for the five headline queries, spread over ``users`` users, then ANALYZE."""
    add_users(conn, users)
    conn.execute(
        USERS_CTE
        + """
        INSERT INTO public.operational_tasks (user_id, title, status, priority, due_date, position)
        SELECT u.ids[1 + g %% array_length(u.ids, 1)], 'task ' || g,
               (ARRAY['todo', 'in_progress', 'done'])[1 + (g / 7) %% 3],
               (ARRAY['low', 'medium', 'high'])[1 + (g / 5) %% 3],
               current_date - 100 + (g %% 200), g
        FROM u, generate_series(1, %s) g""",
        (tasks,),
    )
    conn.execute(
        USERS_CTE
        + """
        INSERT INTO public.sales_leads (user_id, name, company, stage, value, probability)
        SELECT u.ids[1 + g %% array_length(u.ids, 1)], 'lead ' || g, 'company ' || (g %% 97),
               (ARRAY['prospecting', 'qualification', 'proposal', 'negotiation',
                      'closed_won', 'closed_lost'])[1 + (g / 7) %% 6],
               (g %% 1000) * 10, g %% 101
        FROM u, generate_series(1, %s) g""",
        (leads,),
    )
    conn.execute(
        USERS_CTE
        + """
        INSERT INTO public.transactions (user_id, description, amount, type, date, paid)
        SELECT u.ids[1 + g %% array_length(u.ids, 1)], 'tx ' || g, 1 + (g %% 500),
               (ARRAY['INCOME', 'EXPENSE'])[1 + (g / 3) %% 2],
               current_date - (g %% 1500), (g %% 2) = 0
        FROM u, generate_series(1, %s) g""",
        (transactions,),
    )
    conn.execute(
        USERS_CTE
        + """
        INSERT INTO public.marketing_posts (user_id, title, platform, status, scheduled_date)
        SELECT u.ids[1 + g %% array_length(u.ids, 1)], 'post ' || g,
               (ARRAY['instagram', 'linkedin', 'tiktok', 'youtube', 'twitter', 'facebook',
                      'other'])[1 + (g / 3) %% 7],
               (ARRAY['draft', 'pending', 'approved', 'posted', 'rejected'])[1 + (g / 11) %% 5],
               current_date - 500 + (g %% 1000)
        FROM u, generate_series(1, %s) g""",
        (posts,),
    )
    conn.execute("ANALYZE")
