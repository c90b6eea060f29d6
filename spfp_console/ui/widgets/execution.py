"""The execution pane: the run's progress (and an index build's), the lock the running
statement waits for, the live SQL log."""

from __future__ import annotations

import bisect

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import ProgressBar, Static

from spfp_console.events import IndexBuildProgress, LockWait
from spfp_console.session.presentation import (
    duration,
    file_name,
    first_sql_line,
    one_line_sql,
    outcome_text,
)
from spfp_console.session.state import RunState, SessionState, StatementRow
from spfp_console.ui.widgets.status import STATEMENT_MARK

SQL_LOG_COLUMNS = ("", "line", "statement", "time", "error")
STATEMENT_WIDTH = 44
NO_RUN_YET = "no script has run in this session yet"
STRIP_CACHE_ROWS = 512
"""Rendered SQL log rows kept (a few screens' worth: scrolling back costs a redraw)."""


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


def heading_cells(run: RunState) -> tuple[Text, ...]:
    """The row that opens a run in the SQL log: which script, in which mode."""
    return (Text("▶", style="bold"), Text(f"run {run.number}", style="bold"),
            Text(f"{run.mode} {file_name(run.script)}", style="bold"), Text(""), Text(""))


class SqlLog(ScrollView, can_focus=True):
    """One row per statement of every run of the session (a heading row per run), newest
    at the bottom; it follows the newest row unless the operator has scrolled up.

    Drawn with Textual's line API from the folded state: a redraw renders the visible
    lines only, so a log of 10,000 statements costs what a screenful costs.  (A DataTable
    measured every new row's cells, which held the event loop for seconds while a long
    script streamed in.)
    """

    DEFAULT_CSS = """
    SqlLog {
        height: 1fr;
        overflow-x: hidden;
    }
    SqlLog > .sql-log--header {
        text-style: bold;
    }
    """

    COMPONENT_CLASSES = {"sql-log--header"}

    BINDINGS = [
        Binding("up", "scroll_up", "up", show=False),
        Binding("down", "scroll_down", "down", show=False),
        Binding("pageup", "page_up", "page up", show=False),
        Binding("pagedown", "page_down", "page down", show=False),
        Binding("home", "scroll_home", "first", show=False),
        Binding("end", "scroll_end", "last", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.statements: list[StatementRow] = []
        self.runs: list[RunState] = []
        self.headings: list[int] = []
        """The row (0-based, below the column header) of each run's heading: run k's at
        ``headings[k - 1]``."""
        self.row_count = 0
        """Rows: a heading per run that has statements, and the statements."""
        self.strips: dict[int, tuple[StatementRow, int, Style, Strip]] = {}
        """Rendered rows by row number, with the row object, width and style they were
        rendered for (rows are immutable: a step redraws the one that changed)."""

    def show(self, statements: list[StatementRow], runs: list[RunState]) -> None:
        """Show the statements of the state (and a heading before each run's first).

        The rows are not built: where each run's heading falls is found by bisecting the
        statements (their run numbers never decrease), so a replay jumping over 10,000
        statements costs what a step costs, and a row is drawn only when it is on screen.
        """
        following = self.scroll_y >= self.max_scroll_y - 1
        self.statements, self.runs = statements, runs
        # A heading is drawn before the first statement of each run up to the last
        # statement's (a run still without statements has none yet).
        last_run = min(statements[-1].run, len(runs)) if statements else 0
        self.headings = [bisect.bisect_left(statements, number, key=_run_number) + number - 1
                         for number in range(1, last_run + 1)]
        self.row_count = len(statements) + len(self.headings)
        # +1: the column header is the first line
        self.virtual_size = Size(self.size.width, self.row_count + 1)
        if following:
            # In this frame: only after the refresh, the log went out twice, unscrolled
            # first (bench/bench_console_bytes.py); again after it, for a size not laid out.
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
            self.call_after_refresh(self.scroll_end, animate=False)
        self.refresh()

    def entry(self, row: int) -> RunState | StatementRow:
        """What row ``row`` (0-based, below the column header) shows: a run's heading or
        a statement."""
        headings = self.headings
        before = bisect.bisect_right(headings, row)
        if before and headings[before - 1] == row:
            return self.runs[before - 1]
        return self.statements[row - before]

    def cells(self, row: int) -> tuple[Text, ...]:
        entry = self.entry(row)
        if isinstance(entry, RunState):
            return heading_cells(entry)
        return statement_cells(entry)

    def rows(self) -> list[list[str]]:
        """Every row's cells as text: what the log shows, for tests and exports."""
        return [[cell.plain for cell in self.cells(i)] for i in range(self.row_count)]

    def column_widths(self, width: int) -> tuple[int, ...]:
        mark, line, time = 2, 6, 8
        statement = max(12, min(STATEMENT_WIDTH + 2, (width - mark - line - time) // 2))
        return (mark, line, statement, time, max(0, width - mark - line - statement - time))

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            cells = tuple(Text(label) for label in SQL_LOG_COLUMNS)
            return self.render_cells(cells, self.column_widths(width),
                                     self.get_component_rich_style("sql-log--header"))
        row = self.scroll_offset.y + y - 1
        style = self.rich_style
        if not 0 <= row < self.row_count:
            return Strip.blank(width, style)
        entry = self.entry(row)
        cached = self.strips.get(row)
        if cached is not None and cached[0] is entry and cached[1] == width \
                and cached[2] == style:
            return cached[3]
        widths = self.column_widths(width)
        if isinstance(entry, RunState):  # a heading spans the row
            cells = heading_cells(entry)
            widths = (widths[0], widths[1], width - widths[0] - widths[1])
        else:
            cells = statement_cells(entry)
        strip = self.render_cells(cells, widths, style)
        if len(self.strips) > STRIP_CACHE_ROWS:
            self.strips.clear()
        if isinstance(entry, StatementRow):  # a run is changed in place: never cached
            self.strips[row] = (entry, width, style, strip)
        return strip

    def render_cells(self, cells: tuple[Text, ...], widths: tuple[int, ...],
                     style: Style) -> Strip:
        width = self.size.width
        line = Text(no_wrap=True, overflow="ellipsis", style=style)
        for cell, cell_width in zip(cells, widths):
            if cell_width <= 0:
                continue
            cell = cell.copy()
            cell.truncate(cell_width - 1, overflow="ellipsis")
            cell.pad_right(cell_width - cell.cell_len)
            line.append_text(cell)
        segments = list(line.render(self.app.console))
        return Strip(segments).crop(0, width).extend_cell_length(width, style)


def _run_number(row: StatementRow) -> int:
    return row.run


class RunProgress(Vertical):
    """The current run: what runs, statements done of total and, beside it while an index
    is built, that build's phase and blocks done of total; then the running statement."""

    DEFAULT_CSS = """
    RunProgress {
        height: auto;
    }
    RunProgress #run-bars {
        height: auto;
    }
    RunProgress #script-progress, RunProgress #index-progress {
        width: 1fr;
        height: auto;
    }
    RunProgress #index-progress {
        display: none;
        margin-left: 2;
    }
    RunProgress #index-progress.-building {
        display: block;
    }
    RunProgress #run-failure {
        display: none;
        height: auto;
        max-height: 4;
        color: $error;
    }
    RunProgress #run-failure.-failed {
        display: block;
    }
    RunProgress .progress-label, RunProgress #run-current {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    RunProgress ProgressBar, RunProgress Bar {
        width: 1fr;
    }
    RunProgress ProgressBar.-idle {
        display: none;
    }
    """

    failure_shown: StatementRow | None = None
    index_shown: IndexBuildProgress | None = None
    """What is on screen: rows and samples are immutable, so the same object is the same
    text (a redraw per batch of statements then costs nothing here)."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="run-bars"):
            with Vertical(id="script-progress"):
                yield Static(NO_RUN_YET, id="run-label", classes="progress-label")
                yield ProgressBar(total=1, show_eta=False, id="run-bar", classes="-idle")
            with Vertical(id="index-progress"):
                yield Static("", id="index-label", classes="progress-label")
                yield ProgressBar(total=1, show_eta=False, id="index-bar")
        yield Static("", id="run-current")
        yield Static("", id="run-failure")

    def show(self, state: SessionState) -> None:
        if not self.query("#run-label"):  # not composed yet: shown once it is
            return
        run = state.current_run
        bar = self.query_one("#run-bar", ProgressBar)
        current = state.current_statement
        self.show_index_build(current.index_progress if current is not None else None)
        self.show_failure(state, run)
        if run is None:  # also replay stepping back to before the first run
            self.query_one("#run-label", Static).update(
                NO_RUN_YET + ("; what ran in the resumed session is under 3 Results"
                              if state.resumed_from else ""))
            # An indeterminate bar would animate forever (and differ in every snapshot).
            bar.add_class("-idle")
            self.query_one("#run-current", Static).display = False
            return
        # Counts first: at 80 columns a long script name is what gets cut.
        label = Text.assemble((f"{run.statements_done}/{run.statements} statements", "bold"),
                              f" · {run.mode} {file_name(run.script)}")
        if run.outcome is not None and run.ok:
            label.append(f" · {outcome_text(run.outcome)}", style="green")
        elif run.outcome is not None:
            # A rehearsal with failures still has the outcome "rehearsed": the counts say
            # what went wrong (as the presentation's run line does).
            skipped = f", {run.statements_skipped} skipped" if run.statements_skipped else ""
            label.append(f" · {run.outcome}: {run.statements_ok} ok,"
                         f" {run.statements_failed} failed{skipped}", style="bold red")
        self.query_one("#run-label", Static).update(label)
        bar.remove_class("-idle")
        bar.update(total=max(run.statements, 1), progress=run.statements_done)
        running = self.query_one("#run-current", Static)
        running.display = current is not None  # a blank line between runs is wasted
        running.update(
            Text(f"running {file_name(current.file)}:{current.line} {current.first_line}",
                 style="cyan") if current is not None else "")

    def show_failure(self, state: SessionState, run: RunState | None) -> None:
        """The current run's failed statement, whole: at 80 columns the SQL log's row
        has room for the start of its message only."""
        failure = self.query_one("#run-failure", Static)
        failed = None
        if run is not None and run.statements_failed:
            failed = next((row for row in reversed(state.statements)
                           if row.run == run.number and row.status == "failed"), None)
        if failed is self.failure_shown:
            return
        self.failure_shown = failed
        failure.set_class(failed is not None, "-failed")
        if failed is None:
            failure.update("")
            return
        text = Text.assemble(
            ("✘ ", "bold"), f"{file_name(failed.file)}:{failed.error_line or failed.line}",
            (f" SQLSTATE {failed.sqlstate}: ", "bold"), failed.message or "")
        for label, value in (("detail", failed.detail), ("hint", failed.hint)):
            if value:
                text.append(f"\n  {label}: {value}", style="not bold")
        failure.update(text)

    def show_index_build(self, sample: IndexBuildProgress | None) -> None:
        """The running statement's last index-build sample, beside the script's bar."""
        if sample is self.index_shown:
            return
        self.index_shown = sample
        box = self.query_one("#index-progress")
        box.set_class(sample is not None, "-building")
        if sample is None:
            return
        total = sample.blocks_total or sample.tuples_total
        done = sample.blocks_done if sample.blocks_total else sample.tuples_done
        unit = "blocks" if sample.blocks_total else "tuples"
        counts = f"{done}/{total} {unit} · " if total else ""
        self.query_one("#index-label", Static).update(Text(
            f"{counts}{sample.phase} · {index_name(sample)}", style="magenta"))
        bar = self.query_one("#index-bar", ProgressBar)
        # A phase without counts (waiting for old snapshots) has no bar to fill.
        bar.set_class(not total, "-idle")
        if total:
            bar.update(total=total, progress=min(done, total))


def index_name(sample: IndexBuildProgress) -> str:
    """The index, or its table: a plain CREATE INDEX has no name the monitor can see
    until it commits."""
    if sample.index_name:
        return f"index {sample.index_name}"
    return f"index on {sample.relation}" if sample.relation else "index"


def lock_wait_lines(wait: LockWait) -> Text:
    """Who holds the lock the statement waits for, since when, running what."""
    since = wait.blocker_since or "?"
    if len(since) >= 19 and since[10] == "T":  # an ISO stamp: the time is what matters
        since = since[11:19]
    text = Text.assemble(
        "held by ", (f"pid {wait.blocker_pid}", "bold"),
        f" · user {wait.blocker_user or '?'} · since {since}",
        f" · waited {wait.waited_s:.1f} s\n",
        no_wrap=True, overflow="ellipsis")
    text.append(one_line_sql(wait.blocker_query or "(query not visible)", 200), style="dim")
    text.append("\n")
    text.append("c", style="bold reverse")
    text.append(" cancel the statement (its transaction is rolled back)")
    return text


class LockWaitPanel(Static):
    """While the running statement waits for a lock: the session that holds it, and the
    key that cancels.  Hidden when no statement waits."""

    DEFAULT_CSS = """
    LockWaitPanel {
        display: none;
        height: auto;
        border: round $warning;
        border-title-color: $warning;
        border-title-style: bold;
        padding: 0 1;
    }
    LockWaitPanel.-waiting {
        display: block;
    }
    """

    def on_mount(self) -> None:
        self.border_title = "Waiting for a lock"

    shown: LockWait | None = None

    def show(self, wait: LockWait | None) -> None:
        if wait is self.shown:  # most redraws: statements stream, nobody waits
            return
        self.shown = wait
        self.set_class(wait is not None, "-waiting")
        self.update(lock_wait_lines(wait) if wait is not None else "")
