"""Two lines that say where the operator is: target, server, environment, log."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from spfp_console.session.presentation import database_and_server, profile_summary
from spfp_console.session.state import SessionState

if TYPE_CHECKING:
    from spfp_console.ui.app import SessionOpening

ENVIRONMENT_STYLE = {
    "production": "bold white on red",
    "prod": "bold white on red",
    "staging": "bold black on yellow",
}
"""Production must look different from staging at a glance; anything else is neutral."""


class SessionHeader(Static):
    """Target, server version, Supabase or plain, environment, runbook, profile and log
    path."""

    DEFAULT_CSS = """
    SessionHeader {
        height: 2;
        background: $panel;
        padding: 0 1;
    }
    """

    def show(self, state: SessionState, log_path: Path | None) -> None:
        environment = (state.environment or "unlabelled").upper()
        style = ENVIRONMENT_STYLE.get((state.environment or "").lower(), "bold reverse")
        version = (state.server_version or "?").split(" ")[0]
        flavour = {True: "Supabase", False: "plain PostgreSQL"}.get(
            state.supabase, "PostgreSQL")  # type: ignore[arg-type]
        mode = "read-only" if state.read_only else "read-write"
        # The long parts (target, log path) go last: at 80 columns they are cut, not
        # the environment or the server; the database before user@host:port.
        database, server = database_and_server(state.target or "not connected")
        first = Text.assemble(
            (f" {environment} ", style),
            f" PG {version} · {flavour} · {mode} · ",
            (database, "bold"), f" on {server}" if server else "",
        )
        log = str(log_path) if log_path is not None else "none (--no-log)"
        second = Text(f"operator {state.operator or '?'}", style="dim")
        if state.profile is not None:  # what the gates ask for depends on it
            second.append(" · profile ")
            second.append(profile_summary(state.profile), style="not dim bold")
        second.append(f" · runbook {state.runbook_id or '?'} · log {log}")
        if state.resumed_from:
            # Said first: a resumed session must not pass for a fresh one at a glance.
            old_log = state.resumed_from.rpartition(" ")[0] or state.resumed_from
            second = Text.assemble(("RESUMED", "bold reverse"),
                                   (f" from {Path(old_log).name} · ", "bold"), second)
        first.no_wrap = second.no_wrap = True
        first.overflow = second.overflow = "ellipsis"
        self.update(Group(first, second))

    def show_connecting(self, opening: SessionOpening) -> None:
        """Before the session is open: where it is going, and that it is not there yet
        (no server, no mode: nothing is known of the target until it answers)."""
        environment = (opening.environment or "unlabelled").upper()
        style = ENVIRONMENT_STYLE.get((opening.environment or "").lower(), "bold reverse")
        database, server = database_and_server(opening.target)
        first = Text.assemble((f" {environment} ", style), " connecting to ",
                              (database, "bold"), f" on {server}" if server else "", " …")
        second = Text(f"operator {opening.operator} · runbook {opening.runbook_id}",
                      style="dim")
        first.no_wrap = second.no_wrap = True
        first.overflow = second.overflow = "ellipsis"
        self.update(Group(first, second))
