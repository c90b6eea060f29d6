"""The results pane: every result table of the session (preflight, validation, claims,
rollback impact) as a DataTable, and the preflight's findings with their advice."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from spfp_console.events import Finding, ResultTable
from spfp_console.session.presentation import describe, display_rows, row_status, table_verdict
from spfp_console.ui.widgets.status import style_of


def table_title(table: ResultTable) -> Text:
    verdict = table_verdict(table)
    style = "" if table.passed is None else ("green" if table.passed else "bold red")
    return Text.assemble((table.title, "bold"), (verdict, style))


def table_rows(table: ResultTable) -> list[tuple[Text, ...]]:
    """Rows as shown (``display_rows``), each coloured by its status."""
    shown = []
    for raw, row in zip(table.rows, display_rows(table)):
        style = style_of(row_status(table, raw))
        shown.append(tuple(Text(cell, style=style) for cell in row))
    return shown


def findings_text(findings: list[Finding]) -> Text:
    text = Text()
    for finding in findings:
        line = describe(finding)
        if line is None:
            continue
        text.append(line.text + "\n", style=style_of(line.status))
        for detail in line.details:
            text.append(f"    {detail}\n", style="dim")
    return text


NOTHING_YET = "nothing yet: run the preflight (p), a rehearsal (h) or a validation (v)"


class ResultsPane(VerticalScroll):
    """One titled DataTable per result table, in the order the tables first appeared; a
    table that comes again (a second validation) replaces its rows in place."""

    DEFAULT_CSS = """
    ResultsPane .result-title {
        margin-top: 1;
    }
    ResultsPane DataTable {
        height: auto;
    }
    ResultsPane #findings {
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
        self.findings_shown = 0

    def on_mount(self) -> None:
        if not (self.tables or self.findings_shown or self.query("#results-empty")):
            self.mount(Static(NOTHING_YET, id="results-empty"))  # unless shown before

    def show(self, tables: dict[tuple[str, str], ResultTable], findings: list[Finding]) -> None:
        if (tables or findings) and self.query("#results-empty"):
            self.query_one("#results-empty").remove()
        self._forget_missing(tables, findings)
        if not (tables or findings or self.query("#results-empty")):
            self.mount(Static(NOTHING_YET, id="results-empty"))
        if len(findings) != self.findings_shown:
            self.findings_shown = len(findings)
            text = findings_text(findings)
            existing = self.query("#findings")
            if existing:
                existing.first(Static).update(text)
            else:
                self.mount(Static(Text("Findings\n", style="bold") + text, id="findings"),
                           before=0)
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
                    continue
            if widget is None:
                widget = DataTable(cursor_type="row", classes="result-table")
                self.tables[key] = widget
                self.titles[key] = Static(table_title(table), classes="result-title")
                self.mount(self.titles[key], widget)
                for column in table.columns:
                    widget.add_column(column, key=column)
            else:
                widget.clear()
                self.titles[key].update(table_title(table))
            self.shown[key] = table
            widget.add_rows(table_rows(table))
            first_changed = first_changed or self.titles[key]
        if first_changed is not None:
            # What the last step produced is what the operator looks for (the preflight's
            # tables come first and are long).
            self.call_after_refresh(self.scroll_to_widget, first_changed, top=True,
                                    animate=False)

    def _forget_missing(self, tables: dict[tuple[str, str], ResultTable],
                        findings: list[Finding]) -> None:
        """Hide what the state no longer has (replay stepped back before it)."""
        for key in [key for key in self.tables if key not in tables]:
            widget, title = self.tables.pop(key), self.titles.pop(key)
            widget.display = title.display = False
            self.hidden[key] = (widget, title)
        if not findings and self.findings_shown:
            self.findings_shown = 0
            self.query("#findings").remove()
