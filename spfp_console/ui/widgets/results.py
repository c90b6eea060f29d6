"""The results pane: every result table of the session (preflight, validation, claims,
rollback impact) as a DataTable, and the preflight's findings with their advice."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from spfp_console.events import Finding, ResultTable
from spfp_console.session.presentation import describe, display_rows, row_status, table_verdict
from spfp_console.ui.widgets.status import style_of


STATUS_ORDER = {"fail": 0, "warn": 1, "pass": 2}
"""Sorting by a status column puts failures first."""


@dataclass(frozen=True)
class TableView:
    """How a table is shown: sorted by a column (None: as the check produced it), and
    whether only its failing rows are."""

    sort_column: int | None = None
    descending: bool = False
    failures_only: bool = False


def sort_key(value: str, status: bool) -> tuple[int, float, str]:
    """Numbers as numbers, status by severity, the rest as text (case-insensitive)."""
    if status:
        return (0, STATUS_ORDER.get(value, 3), value)
    try:
        return (0, float(value.replace(",", "")), "")
    except ValueError:
        return (1, 0.0, value.lower())


def is_failure(table: ResultTable, row: tuple[str, ...]) -> bool:
    return row_status(table, row) == "fail"


def view_rows(table: ResultTable, view: TableView) -> list[tuple[Text, ...]]:
    """The rows as shown under ``view``: filtered, then sorted (stable)."""
    pairs = [(raw, shown) for raw, shown in zip(table.rows, table_rows(table))
             if not view.failures_only or is_failure(table, raw)]
    if view.sort_column is not None and view.sort_column < len(table.columns):
        column = view.sort_column
        status = table.columns[column] == table.status_column
        pairs.sort(key=lambda pair: sort_key(pair[0][column], status),
                   reverse=view.descending)
    return [shown for _, shown in pairs]


def view_text(table: ResultTable, view: TableView, shown: int) -> str:
    """" · sorted by status ▲ · failures only: 2 of 20 rows" (empty: as produced)."""
    parts = []
    if view.sort_column is not None and view.sort_column < len(table.columns):
        parts.append(f"sorted by {table.columns[view.sort_column]}"
                     f" {'▼' if view.descending else '▲'}")
    if view.failures_only:
        parts.append(f"failures only: {shown} of {len(table.rows)} rows"
                     if table.status_column in table.columns else "no status column")
    return "".join(f" · {part}" for part in parts)


def table_title(table: ResultTable, view: TableView = TableView(), shown: int = 0) -> Text:
    verdict = table_verdict(table)
    style = "" if table.passed is None else ("green" if table.passed else "bold red")
    return Text.assemble((table.title, "bold"), (verdict, style),
                         (view_text(table, view, shown), "italic"))


def table_rows(table: ResultTable) -> list[tuple[Text, ...]]:
    """Rows as shown (``display_rows``), each coloured by its status."""
    shown = []
    for raw, row in zip(table.rows, display_rows(table)):
        style = style_of(row_status(table, raw))
        shown.append(tuple(Text(cell, style=style) for cell in row))
    return shown


def findings_text(findings: list[Finding], failures_only: bool = False) -> Text:
    text = Text()
    for finding in findings:
        line = describe(finding)
        if line is None or (failures_only and line.status != "fail"):
            continue
        text.append(line.text + "\n", style=style_of(line.status))
        for detail in line.details:
            text.append(f"    {detail}\n", style="dim")
    return text


NOTHING_YET = "nothing yet: run the preflight (p), a rehearsal (h) or a validation (v)"


def view_line(failures_only: bool) -> Text:
    """The pane's first line: which rows show, and the keys that change it."""
    if failures_only:
        return Text.assemble(("FAILURES ONLY", "bold reverse"),
                             "  f every row · s/S sort the focused table")
    return Text("every row  ·  f failures only · s/S sort the focused table", style="dim")


UNLAID_TABLE_HEIGHT = 1000
"""A table's height limit before the pane has a size (its first resize sets it)."""


class TableBox(Vertical):
    """The result tables and their titles; collapsed (no height, nothing in it takes the
    focus) while the state has no table."""

    collapsed = False

    def allow_focus_children(self) -> bool:
        return not self.collapsed


class ResultsPane(VerticalScroll):
    """One titled DataTable per result table, in the order the tables first appeared; a
    table that comes again (a second validation) replaces its rows in place.

    The operator sorts the focused table by its next column (s; S reverses) and shows
    only failing rows and blocking findings (f); each title says how its table is shown.
    """

    BINDINGS = [
        Binding("s", "sort_next", "sort", show=False, id="results.sort"),
        Binding("S", "sort_reverse", "reverse sort", show=False, id="results.sort-reverse"),
        Binding("f", "toggle_failures", "failures only", show=False,
                id="results.failures-only"),
    ]
    """Not in the footer (80 columns hold the screen's keys only): the pane's first line
    says them."""

    DEFAULT_CSS = """
    ResultsPane #results-view {
        height: 1;
    }
    ResultsPane .result-title {
        margin-top: 1;
    }
    ResultsPane DataTable {
        height: auto;
    }
    ResultsPane #findings, ResultsPane #result-tables {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown: dict[tuple[str, str], ResultTable] = {}
        """The table event each DataTable shows, by (source, title)."""
        self.tables: dict[tuple[str, str], DataTable] = {}
        self.titles: dict[tuple[str, str], Static] = {}
        self.hidden: dict[tuple[str, str], tuple[DataTable, Static]] = {}
        """Tables the state no longer has (replay stepped back before them), kept to be
        shown again: mounting a DataTable costs more than a replay step may take."""
        self.table_box = TableBox(id="result-tables")
        """Every table and its title.  A state without tables (replay at its start)
        collapses the box rather than hiding each table: the tables keep their place and
        size in the layout, and showing them again is one change, not a Show and a
        Resize for each of dozens of widgets (half of replay's end key's frame)."""
        self.views: dict[tuple[str, str], TableView] = {}
        """How each table is shown (sorted, filtered); kept when its rows are replaced."""
        self.filled: dict[tuple[str, str], TableView] = {}
        """The view each DataTable's rows were drawn under: a hidden table shown again
        as it was is not drawn again (replay's home, end: dozens of tables at once)."""
        self.failures_only = False
        self.findings: list[Finding] = []
        self.findings_shown = 0
        self.newest: Static | None = None
        """The title of the table the last change brought, until the pane scrolled to it."""

    def compose(self) -> ComposeResult:
        yield Static(view_line(False), id="results-view")
        yield self.table_box

    def on_mount(self) -> None:
        if not (self.tables or self.findings_shown or self.query("#results-empty")):
            self.mount(Static(NOTHING_YET, id="results-empty"))  # unless shown before

    def show(self, tables: dict[tuple[str, str], ResultTable], findings: list[Finding]) -> None:
        if (tables or findings) and self.query("#results-empty"):
            self.query_one("#results-empty").remove()
        self._forget_missing(tables, findings)
        if not (tables or findings or self.query("#results-empty")):
            self.mount(Static(NOTHING_YET, id="results-empty"))
        self.findings = findings
        if len(findings) != self.findings_shown:
            self._show_findings()
        first_changed: Static | None = None
        for key, table in tables.items():
            if self.shown.get(key) is table and key in self.tables:
                continue
            widget = self.tables.get(key)
            if widget is None and key in self.hidden:
                widget, title = self.hidden.pop(key)
                widget.display = title.display = True
                self.tables[key], self.titles[key] = widget, title
                if self.shown.get(key) is table:
                    if self.filled.get(key) != self._view(key):
                        self._fill(key)  # failures only was switched meanwhile
                    continue
            self.shown[key] = table
            if widget is None:
                widget = DataTable(cursor_type="row", classes="result-table")
                self.tables[key] = widget
                self.titles[key] = Static(classes="result-title")
                self.limit_table_heights([widget])
                self.table_box.mount(self.titles[key], widget)
                for column in table.columns:
                    widget.add_column(column, key=column)
            self._fill(key)
            first_changed = first_changed or self.titles[key]
        self.collapse_tables(not self.tables)
        if self.tables:
            for widget, title in self.hidden.values():  # each a no-op once hidden
                widget.display = title.display = False
        if first_changed is not None:
            # What the last step produced is what the operator looks for (the preflight's
            # tables come first and are long).  A pane in a hidden tab cannot scroll: it
            # does so when the operator opens the tab.
            self.newest = first_changed
            if self.is_on_screen:
                self.call_after_refresh(self._scroll_to_newest)

    def on_show(self) -> None:
        self.call_after_refresh(self._scroll_to_newest)

    def _scroll_to_newest(self) -> None:
        if self.newest is not None and self.newest.is_attached and self.is_on_screen:
            self.scroll_to_widget(self.newest, top=True, animate=False)
            self.newest = None  # once: then the operator's own scrolling stays

    def _fill(self, key: tuple[str, str]) -> None:
        """(Re)draw one table's rows and title under its view."""
        table, widget = self.shown[key], self.tables[key]
        view = self.filled[key] = self._view(key)
        rows = view_rows(table, view)
        widget.clear()
        widget.add_rows(rows)
        self.titles[key].update(table_title(table, view, len(rows)))

    def on_resize(self) -> None:
        self.limit_table_heights()

    def limit_table_heights(self, tables: list[DataTable] | None = None) -> None:
        """A table no taller than the pane (a long one scrolls in itself), as DataTable's
        own ``max-height: 100%`` would be in the pane.  In cells: in the box, 100% would
        be the box's height, and a collapsed box would squash every table to nothing."""
        height = self.scrollable_content_region.height
        if height <= 0:  # not laid out yet: on_resize comes
            height = UNLAID_TABLE_HEIGHT
        if tables is None:
            tables = [*self.tables.values(), *(table for table, _ in self.hidden.values())]
        for table in tables:
            table.styles.max_height = height

    def collapse_tables(self, collapsed: bool) -> None:
        """Collapse the box of tables to no height, or give it back its height."""
        box = self.table_box
        if box.collapsed == collapsed:
            return
        box.collapsed = collapsed
        # Its own style, not a class (which would match the CSS of every table again),
        # and not hidden (a hidden widget leaves the layout, and comes back to it with a
        # Show and a Resize for each table).
        box.styles.height = 0 if collapsed else "auto"
        focused = self.screen.focused
        if collapsed and focused is not None and focused.parent is box:
            self.focus()

    def _view(self, key: tuple[str, str]) -> TableView:
        return replace(self.views.get(key, TableView()), failures_only=self.failures_only)

    def _show_findings(self) -> None:
        findings = self.findings
        self.findings_shown = len(findings)
        text = Text("Findings\n", style="bold") + findings_text(findings, self.failures_only)
        if self.failures_only and not any(f.severity == "blocker" for f in findings):
            text.append("no blocker (failures only: f shows every finding)\n", style="dim")
        existing = self.query("#findings")
        if existing:
            existing.first(Static).update(text)
        else:
            self.mount(Static(text, id="findings"), after="#results-view")

    def _forget_missing(self, tables: dict[tuple[str, str], ResultTable],
                        findings: list[Finding]) -> None:
        """Hide what the state no longer has (replay stepped back before it)."""
        for key in [key for key in self.tables if key not in tables]:
            # Hidden at the end of show (collapsed with the box when no table is left).
            self.hidden[key] = (self.tables.pop(key), self.titles.pop(key))
        if not findings and self.findings_shown:
            self.findings_shown = 0
            self.query("#findings").remove()

    # ------------------------------------------------------------------ views

    def focused_table(self) -> tuple[str, str] | None:
        """The table the focus is in, else the first one."""
        for key, widget in self.tables.items():
            if widget.has_focus:
                return key
        return next(iter(self.tables), None)

    def action_sort_next(self) -> None:
        """Sort by the next column; after the last, back to the order of the check."""
        key = self.focused_table()
        if key is None:
            return
        view = self.views.get(key, TableView())
        columns = len(self.shown[key].columns)
        column = 0 if view.sort_column is None else view.sort_column + 1
        self.views[key] = replace(view, sort_column=column if column < columns else None,
                                  descending=False)
        self._fill(key)

    def action_sort_reverse(self) -> None:
        key = self.focused_table()
        if key is None:
            return
        view = self.views.get(key, TableView())
        self.views[key] = replace(view, sort_column=view.sort_column or 0,
                                  descending=not view.descending)
        self._fill(key)

    def action_toggle_failures(self) -> None:
        """Failing rows and blocking findings only, or everything."""
        self.failures_only = not self.failures_only
        self.query_one("#results-view", Static).update(view_line(self.failures_only))
        for key in self.tables:
            self._fill(key)
        if self.findings:
            self._show_findings()
