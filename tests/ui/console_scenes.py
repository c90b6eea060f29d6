"""The console's main screens on fixed events: what the snapshot tests show.

A session of the real runbook that is never opened (no database, no log file) has a
fixed list of events folded into its state before the app starts: the checklist half
ticked, a migration running (an index build, a lock wait), a failed statement, a
validation with failures.  Nothing in them varies per run: no clock, no socket path.
"""

from __future__ import annotations

from pathlib import Path

from spfp_console import events as ev
from spfp_console.deployment import DeploymentSession, checklist_of
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook
from spfp_console.session.runbook_guide import paper_package_of
from spfp_console.ui.app import ConsoleApp

SCRIPT = "/srv/runbooks/sql/20260216_database_optimizations.sql"
LOG = Path("deploy-logs/20260216_database_optimizations_postgres_20260216T100000Z"
           ".deploy-log.toml")


class RunningConsole(ConsoleApp):
    """The console while a workflow's worker runs: the fixed events stand for that
    worker's, so the keys are those of a running step (cancel, not the steps)."""

    @property
    def busy(self) -> bool:
        return True


def console_on(events: list[ev.Event], *, running: bool = False) -> ConsoleApp:
    """The console on an unopened session of the real runbook whose state is ``events``
    (after its own SessionStarted and ProfileChosen)."""
    runbook = load_runbook(DEFAULT_RUNBOOK)
    session = DeploymentSession(runbook=runbook, operator="alice", environment="staging")
    session.active_profile = runbook.profile(None)
    session.log_path = LOG
    phases, items = checklist_of(runbook, session.active_profile)
    required = sum(1 for item in items if item[3] == "required")
    started = [
        ev.SessionStarted(operator="alice", runbook_id=runbook.id, runbook_title=runbook.title,
                          target="postgres@db.staging.example:5432/postgres",
                          server_version="15.8", supabase=True, environment="staging",
                          phases=phases, items=items, started_at="2026-02-16T10:00:00Z",
                          **paper_package_of(runbook)),
        ev.ProfileChosen(profile="guided", title="Guided (recommended)",
                         required_items=required, optional_items=len(items) - required),
    ]
    session.state.apply_all([*started, *events])
    return RunningConsole(session) if running else ConsoleApp(session)


def tick(item_id: str, minute: int, evidence: str | None = None,
         action: str | None = None, phase: str = "pre-deployment") -> ev.ChecklistItemToggled:
    return ev.ChecklistItemToggled(phase=phase, item_id=item_id, checked=True, who="alice",
                                   evidence=evidence, action=action,
                                   when=f"2026-02-16T10:{minute:02d}:00Z")


CHECKLIST = [
    tick("read-runbook", 1),
    tick("create-backup", 2, "snapshot 2026-02-16 09:58 (id 42)"),
    tick("notify-team", 3, "#deployments, 09:30"),
    tick("verify-access", 4, "preflight passed, state not_applied", "preflight"),
    tick("preflight", 4, "preflight passed, state not_applied", "preflight"),
]
"""The pre-deployment phase half done: by hand, with evidence, and by the preflight; the
approvals item is open (ticked by hand: no signed approvals are required)."""

STATEMENTS = [
    (34, "CREATE INDEX IF NOT EXISTS idx_sent_atas_deleted_at\n"
         "    ON public.sent_atas (deleted_at);", "CREATE INDEX", 0.412),
    (36, "CREATE INDEX IF NOT EXISTS idx_sent_atas_user_status\n"
         "    ON public.sent_atas (user_id, status);", "CREATE INDEX", 0.387),
    (43, "ALTER TABLE public.operational_tasks ADD COLUMN IF NOT EXISTS deleted_at"
         " timestamptz;", "ALTER TABLE", 0.004),
]


def run_started(statements: int = 48) -> list[ev.Event]:
    events: list[ev.Event] = [ev.RunStarted(mode="run", script=SCRIPT, statements=statements,
                                            script_sha256="1" * 64)]
    for index, (line, sql, status, seconds) in enumerate(STATEMENTS):
        events += [ev.StatementStarted(index=index, file=SCRIPT, line=line, sql=sql),
                   ev.StatementFinished(index=index, file=SCRIPT, line=line,
                                        duration_s=seconds, status=status)]
    return events


BUILDING = [
    ev.StatementStarted(index=3, file=SCRIPT, line=45,
                        sql="CREATE INDEX IF NOT EXISTS idx_operational_tasks_due\n"
                            "    ON public.operational_tasks (due_date);"),
    ev.IndexBuildProgress(index=3, phase="building index: scanning table", blocks_done=1536,
                          blocks_total=4096, relation="public.operational_tasks",
                          index_name="idx_operational_tasks_due"),
]
"""A running CREATE INDEX, three eighths through its table scan."""

WAITING = [
    ev.StatementStarted(index=3, file=SCRIPT, line=48,
                        sql="ALTER TABLE public.marketing_posts ADD COLUMN IF NOT EXISTS"
                            " deleted_at timestamptz;"),
    ev.LockWait(index=3, blocker_pid=48213, blocker_user="reporting",
                blocker_query="UPDATE public.marketing_posts SET status = 'archived' WHERE"
                              " created_at < now() - interval '1 year'",
                blocker_since="2026-02-16T10:05:12+00:00", waited_s=3.5),
]
"""A running ALTER TABLE that queues behind another session's open transaction."""

FAILED = [
    ev.StatementStarted(index=3, file=SCRIPT, line=51,
                        sql="CREATE UNIQUE INDEX idx_marketing_posts_slug\n"
                            "    ON public.marketing_posts (slug);"),
    ev.StatementFailed(index=3, file=SCRIPT, line=51, sql="CREATE UNIQUE INDEX ...",
                       sqlstate="23505", message="could not create unique index"
                       ' "idx_marketing_posts_slug"', duration_s=0.093,
                       detail="Key (slug)=(spring-sale) is duplicated."),
    ev.RunFinished(mode="run", outcome="failed", duration_s=0.9, statements_ok=3,
                   statements_failed=1, message="the transaction was rolled back"),
]

VALIDATION_ROWS = [
    ("index idx_sent_atas_deleted_at", "btree (deleted_at)", "btree (deleted_at)", "pass"),
    ("index idx_sent_atas_user_status", "btree (user_id, status)", "btree (user_id, status)",
     "pass"),
    ("column operational_tasks.deleted_at", "timestamptz", "timestamptz", "pass"),
    ("index idx_operational_tasks_due", "btree (due_date)", "missing", "fail"),
    ("view dashboard_metrics", "selectable", "selectable", "pass"),
    ("column marketing_posts.deleted_at", "timestamptz", "missing", "fail"),
    ("function cleanup_old_soft_deleted", "exists", "exists", "pass"),
    ("table automation_permissions_audit", "RLS enabled", "RLS enabled, 0 rows", "warn"),
]

VALIDATED = [
    ev.ResultTable.checked(title="Validation: 20260216_database_optimizations applied",
                           source="validation", columns=("check", "expected", "actual",
                                                         "status"), rows=VALIDATION_ROWS),
    ev.ResultTable.checked(title="Quick health check (schema public)", source="validation",
                           columns=("view", "rows", "status"),
                           rows=[("dashboard_metrics", "12", "pass"),
                                 ("crm_health_check", "3", "pass"),
                                 ("sales_health_check", "0", "warn")]),
]
"""A validation with two missing objects and a warning."""
