"""The execution pane: the run's progress, the live SQL log, the lock the run waits for."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, ProgressBar, Static

from spfp_console.session.presentation import (
    describe,
    duration,
    file_name,
    first_sql_line,
    outcome_text,
)
from spfp_console.session.state import RunState, SessionState, StatementRow
from spfp_console.ui.widgets.status import STATEMENT_MARK, style_of

SQL_LOG_COLUMNS = ("", "line", "statement", "time", "error")
STATEMENT_WIDTH = 44


def statement_cells(row: StatementRow) -> tuple[Text, ...]:
    """One row of the SQL log: mark, line, first line, duration, error.

    Every cell is a Text: a plain string would be read as Rich markup, and SQL is full of
    square brackets (``ARRAY['a']``, ``'[/]'``).
    """
    mark, style = STATEMENT_MARK.get(row.status, ("?", ""))
    # The file is on the run's heading row; the line (the failing one, for an error) here.
    where = f":{row.error_line or row.line}"
    error = Text("")
    if row.status == "failed":
        error = Text(f"{row.sqlstate} {row.message or ''}".strip(), style="bold red")
    elif row.status == "skipped":
        error = Text(row.message or "", style="dim")
    # A short statement column leaves the width to the error, which matters more.
    return (Text(mark, style=style), Text(where), Text(first_sql_line(row.sql, STATEMENT_WIDTH)),
            Text(duration(row.duration_s)), error)


class SqlLog(DataTable):
    """One row per statement of every run of the session, newest at the bottom.

    Rows are added and updated from the folded state, never rebuilt: a refresh costs the
    statements that changed since the last one.  It follows the newest row unless the
    operator has scrolled up to read.
    """

    DEFAULT_CSS = """
    SqlLog {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.shown: list[str] = []
        """The status each statement row had when it was last drawn."""
        self.runs_shown = 0
        self.settled = 0
        """Statement rows before this index are final (drawn with a final status)."""

    def on_mount(self) -> None:
        for label in SQL_LOG_COLUMNS:
            self.add_column(label, key=label or "mark")

    def show(self, statements: list[StatementRow], runs: list[RunState]) -> None:
        following = self.scroll_y >= self.max_scroll_y - 1
        # Rows before the first still running one never change again: start there, so a
        # refresh costs what changed, not the whole log.
        for index in range(self.settled, len(statements)):
            row = statements[index]
            if index >= len(self.shown):
                self._add_run_headings(row.run, runs)
                self.add_row(*statement_cells(row), key=str(index))
                self.shown.append(row.status)
            elif self.shown[index] != row.status or row.status == "running":
                for column, cell in zip(SQL_LOG_COLUMNS, statement_cells(row)):
                    self.update_cell(str(index), column or "mark", cell)
                self.shown[index] = row.status
            if index == self.settled and row.status != "running":
                self.settled += 1
        if following and self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)


    def _add_run_headings(self, run_number: int, runs: list[RunState]) -> None:
        """A heading row for each run up to this statement's: which script, which mode."""
        while self.runs_shown < min(run_number, len(runs)):
            run = runs[self.runs_shown]
            self.runs_shown += 1
            self.add_row(Text("▶", style="bold"), Text(f"run {run.number}", style="bold"),
                         Text(f"{run.mode} {file_name(run.script)}", style="bold"), Text(""),
                         Text(""), key=f"run-{run.number}")


class RunProgress(Vertical):
    """The current run: what runs, statements done of total, the running statement and
    the lock it waits for."""

    DEFAULT_CSS = """
    RunProgress {
        height: auto;
    }
    RunProgress #run-label {
        height: auto;
    }
    RunProgress #run-current {
        height: 1;
    }
    RunProgress #run-lock {
        height: auto;
        color: $warning;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("no script has run in this session yet", id="run-label")
        yield ProgressBar(total=None, show_eta=False, id="run-bar")
        yield Static("", id="run-current")
        yield Static("", id="run-lock")

    def show(self, state: SessionState) -> None:
        run = state.current_run
        if run is None:
            return
        label = Text.assemble((f"{run.mode} ", "bold"), file_name(run.script),
                              f" · {run.statements_done}/{run.statements} statements")
        if run.outcome is not None and run.ok:
            label.append(f" · {outcome_text(run.outcome)}", style="green")
        elif run.outcome is not None:
            # A rehearsal with failures still has the outcome "rehearsed": the counts say
            # what went wrong (as the presentation's run line does).
            skipped = f", {run.statements_skipped} skipped" if run.statements_skipped else ""
            label.append(f" · {run.outcome}: {run.statements_ok} ok,"
                         f" {run.statements_failed} failed{skipped}", style="bold red")
        self.query_one("#run-label", Static).update(label)
        self.query_one("#run-bar", ProgressBar).update(
            total=max(run.statements, 1), progress=run.statements_done)
        current = state.current_statement
        self.query_one("#run-current", Static).update(
            Text(f"running {file_name(current.file)}:{current.line} {current.first_line}",
                 style="cyan", no_wrap=True, overflow="ellipsis")
            if current is not None else "")
        lock = describe(state.lock_wait) if state.lock_wait is not None else None
        self.query_one("#run-lock", Static).update(
            Text(lock.text.strip(), style=style_of(lock.status)) if lock else "")
