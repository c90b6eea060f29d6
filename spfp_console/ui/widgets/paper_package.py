"""The rest of the paper package in the console's panes: the troubleshooting guide beside
the failed statements of the current run, and the success criteria as the session's
results tick them.  The words come from :mod:`spfp_console.session.presentation` (the
terminal prints the same guide under a failed statement)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from spfp_console.session.presentation import (
    criteria_summary,
    criterion_line,
    file_name,
    troubleshooting_details,
)
from spfp_console.session.runbook_guide import CriterionState
from spfp_console.session.state import SessionState, StatementRow
from spfp_console.ui.widgets.status import style_of

NO_GUIDE_ENTRY = "no entry in this runbook's troubleshooting guide"


def failed_rows(state: SessionState) -> list[StatementRow]:
    """The failed statements of the current run (walked back from the newest row only
    as far as the run goes)."""
    run = state.current_run
    if run is None:
        return []
    rows = []
    for row in reversed(state.statements):
        if row.run != run.number:
            break
        if row.status == "failed":
            rows.append(row)
    return rows[::-1]


def guide_text(state: SessionState, rows: list[StatementRow]) -> Text:
    """One block per SQLSTATE: where it failed, then the runbook's entry for it."""
    by_code: dict[str, list[StatementRow]] = {}
    for row in rows:
        by_code.setdefault(row.sqlstate or "?", []).append(row)
    text = Text()
    for code, failures in by_code.items():
        where = ", ".join(f"{file_name(r.file)}:{r.error_line or r.line}" for r in failures)
        text.append(f"✘ SQLSTATE {code} at {where}\n", style="bold red")
        entry = state.guide_for(code)
        if entry is None:
            text.append(f"  {NO_GUIDE_ENTRY}\n", style="dim")
            continue
        title, *rest = troubleshooting_details(entry)
        text.append(f"  {title}\n", style="bold")
        for line in rest:
            text.append(f"  {line}\n")
    text.rstrip()
    return text


class FailureGuide(VerticalScroll):
    """The troubleshooting entries for the current run's failed statements, under the SQL
    log; hidden while nothing failed, and when the runbook has no guide.  Replay shows it
    too (the guide is in the log)."""

    DEFAULT_CSS = """
    FailureGuide {
        height: auto;
        max-height: 40%;
        border-top: solid $error 50%;
        display: none;
    }
    FailureGuide.-failed {
        display: block;
    }
    FailureGuide > Static {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown: tuple[int, int] | None = None
        """(run number, failed statements) last drawn: redrawn only when it changes."""
        self.rows: list[StatementRow] = []
        """The failed statements shown, for tests and exports."""

    def compose(self) -> ComposeResult:
        yield Static("", id="failure-guide-text")

    def show(self, state: SessionState) -> None:
        run = state.current_run
        key = (run.number, run.statements_failed) if run is not None else (0, 0)
        if key == self.shown or not self.is_mounted:
            return
        self.shown = key
        # A log from before the guide existed has none: nothing to add beside its failures.
        self.rows = failed_rows(state) if state.troubleshooting else []
        self.set_class(bool(self.rows), "-failed")
        self.query_one("#failure-guide-text", Static).update(
            guide_text(state, self.rows) if self.rows else "")

    @property
    def text(self) -> str:
        return str(self.query_one("#failure-guide-text", Static).content)


def criteria_text(criteria: list[CriterionState]) -> Text:
    """The summary line, then a line per criterion: mark, text, and what decided it."""
    text = Text(criteria_summary(criteria), style="bold")
    for criterion in criteria:
        line = criterion_line(criterion)
        text.append("\n" + line.text, style=style_of(line.status))
        if line.details:
            text.append(f" · {line.details[0]}", style="dim")
    return text


class SuccessCriteria(VerticalScroll):
    """The runbook's success criteria, ticked by the validation results (met, NOT met,
    not yet), above the result tables; hidden when the runbook has none.  One line each,
    cut at the pane's edge: ten criteria must leave room for the tables at 80x24."""

    DEFAULT_CSS = """
    SuccessCriteria {
        height: auto;
        max-height: 40%;
        overflow-x: hidden;
        border-bottom: solid $primary 50%;
    }
    SuccessCriteria > Static {
        height: auto;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.criteria: list[CriterionState] | None = None
        """The criteria shown (the state's own frozen objects)."""

    def compose(self) -> ComposeResult:
        yield Static("", id="criteria-text")

    def show(self, state: SessionState) -> None:
        if state.criteria == self.criteria or not self.is_mounted:
            return
        self.criteria = list(state.criteria)
        self.display = bool(self.criteria)
        self.query_one("#criteria-text", Static).update(criteria_text(self.criteria))

    @property
    def text(self) -> str:
        return str(self.query_one("#criteria-text", Static).content)
