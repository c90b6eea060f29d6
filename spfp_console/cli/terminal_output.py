"""Print engine events on a terminal for the headless CLI.

Three styles: ``rich`` (tables and colour, on a TTY), ``plain`` (stable text when piped:
one line per event, tab-free, no escape codes) and ``json`` (one JSON object per line, the
event's record, for machines).  Rich is imported only when the rich style is used, so a
piped or ``--json`` run does not pay for it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from spfp_console.events import Event, ResultTable, RunFinished, SessionStarted, WorkflowFinished
from spfp_console.runbook.model import TroubleshootingEntry
from spfp_console.session.presentation import (
    describe,
    display_rows,
    row_status,
    table_verdict,
)
from spfp_console.session.runbook_guide import troubleshooting_from

STYLE_OF_STATUS = {"ok": "green", "fail": "bold red", "warn": "yellow", "info": "",
                   "heading": "bold", "progress": "dim"}


def choose_style(json_requested: bool, stream: TextIO) -> str:
    if json_requested:
        return "json"
    return "rich" if stream.isatty() else "plain"


def _columns_from_env() -> int | None:
    """$COLUMNS when it is set to a sane width (piped output has no terminal to ask)."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        return None
    return columns if columns >= 20 else None


class EventPrinter:
    """A callable event consumer that writes to ``stream`` in the chosen style."""

    def __init__(self, style: str = "plain", stream: TextIO | None = None,
                 *, verbose: bool = False, console: Any = None) -> None:
        self.style = style
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self._console: Any = None
        self._terminal_gone = False
        self.guide: dict[str, TroubleshootingEntry] = {}
        """The runbook's troubleshooting guide, as the session's first event carries it:
        printed under a failed statement whose SQLSTATE it has."""
        if console is not None:  # e.g. a recording console for screenshots
            self._console = console
        elif style == "rich":
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)

    # -------------------------------------------------------------- dispatch

    def __call__(self, event: Event) -> None:
        # After SIGHUP the terminal is gone and writes fail (EIO): the run must still end
        # cleanly and the journal, written before any listener, keeps the record.
        if self._terminal_gone:
            return
        try:
            self._print_event(event)
        except OSError:
            self._terminal_gone = True

    def _print_event(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self.guide = troubleshooting_from(event.troubleshooting)
        if self.style == "json":
            print(json.dumps(event.to_record(), default=str), file=self.stream, flush=True)
            return
        if isinstance(event, ResultTable):
            self.table(event)
            return
        line = self.describe(event)
        if line is None:
            return
        if self._console is not None:
            self._console.print(line[1], style=line[0], markup=False)
        else:
            print(line[1], file=self.stream, flush=True)

    def message(self, text: str, style: str = "") -> None:
        """A line that is not an event (headings, prompts' context)."""
        if self.style == "json" or self._terminal_gone:
            return
        try:
            if self._console is not None:
                # soft_wrap: a log path or a command to copy is never broken mid-word
                self._console.print(text, style=style or None, markup=False, soft_wrap=True)
            else:
                print(text, file=self.stream, flush=True)
        except OSError:
            self._terminal_gone = True

    # -------------------------------------------------------------- lines

    def describe(self, event: Event) -> tuple[str, str] | None:
        """(rich style, text) for one event, or None to stay quiet about it.  The words
        come from the one presentation layer; only the colours are the terminal's."""
        line = describe(event, guide=self.guide)
        if line is None or (line.verbose and not self.verbose):
            return None
        style = STYLE_OF_STATUS.get(line.status, "")
        if isinstance(event, (RunFinished, WorkflowFinished)):
            style = "bold " + style if style else "bold"
        text = "\n".join((line.text, *(f"    {d}" for d in line.details)))
        return (style, text)

    # -------------------------------------------------------------- tables

    def table(self, event: ResultTable) -> None:
        rows = display_rows(event)
        verdict = table_verdict(event)
        if self._console is not None:
            if self._fits(event.columns, rows, self._console.width):
                self._rich_table(event, rows, verdict)
            else:
                self._rich_records(event, rows, verdict)
            return
        print(f"{event.title}{verdict}", file=self.stream)
        columns = _columns_from_env()
        if columns is not None and not self._fits(event.columns, rows, columns - 2):
            self._plain_records(event, rows, columns)
            return
        widths = [len(c) for c in event.columns]
        for row in rows:
            for i, cell in enumerate(row):
                widths[i] = min(max(widths[i], len(cell)), 80)

        def fmt(cells: tuple[str, ...]) -> str:
            return "  ".join(c.replace("\n", " ").ljust(widths[i])
                             for i, c in enumerate(cells)).rstrip()

        print("  " + fmt(event.columns), file=self.stream)
        for row in rows:
            print("  " + fmt(row), file=self.stream)
        print(file=self.stream, flush=True)

    def _plain_records(self, event: ResultTable, rows: tuple[tuple[str, ...], ...],
                       width: int) -> None:
        """Piped output narrower than the table (COLUMNS): one record per row, wrapped at
        spaces only (a path or an identifier is never cut)."""
        import textwrap

        for row in rows:
            text = " · ".join(f"{name}: {cell}" for name, cell in zip(event.columns, row)
                              if cell)
            for line in textwrap.wrap(text, width=width, initial_indent="  ",
                                      subsequent_indent="    ", break_long_words=False,
                                      break_on_hyphens=False):
                print(line, file=self.stream)
        print(file=self.stream, flush=True)

    @staticmethod
    def _fits(columns: tuple[str, ...], rows: tuple[tuple[str, ...], ...], width: int) -> bool:
        """Would the table fit with every cell on one line?"""
        natural = [len(c) for c in columns]
        for row in rows:
            for i, cell in enumerate(row):
                natural[i] = max(natural[i], len(cell))
        return sum(natural) + 2 * len(columns) <= width

    def _status_style(self, event: ResultTable, row: tuple[str, ...]) -> str | None:
        status = row_status(event, row)
        return STYLE_OF_STATUS.get(status) if status else None

    def _rich_table(self, event: ResultTable, rows: tuple[tuple[str, ...], ...],
                    verdict: str) -> None:
        from rich import box
        from rich.table import Table

        # Light rules, no side borders: at 80 columns every character counts.
        table = Table(title=f"{event.title}{verdict}", title_justify="left",
                      show_lines=False, expand=False, box=box.SIMPLE_HEAD,
                      pad_edge=False, padding=(0, 1))
        for i, column in enumerate(event.columns):
            # The first column names the thing: one line; the others wrap.
            table.add_column(column, overflow="fold", no_wrap=i == 0)
        for row in rows:
            table.add_row(*row, style=self._status_style(event, row))
        self._console.print(table)

    def _rich_records(self, event: ResultTable, rows: tuple[tuple[str, ...], ...],
                      verdict: str) -> None:
        """A table too wide for the terminal (80x24 over SSH): one record per row.

        Squeezing seven columns into 80 characters breaks words mid-way; a heading line
        per row with its fields below reads at any width.
        """
        from rich.padding import Padding
        from rich.text import Text

        self._console.print(Text(f"{event.title}{verdict}", style="italic"))
        status = event.status_column
        for row in rows:
            style = self._status_style(event, row)
            # The heading is the first filled cell (a "nothing found" row has no name).
            first = next((i for i, cell in enumerate(row)
                          if cell and event.columns[i] != status), 0)
            head = Text(row[first], style="bold")
            if status in event.columns:
                head.append(f"  {row[event.columns.index(status)]}", style=style or "")
            self._console.print(head)
            fields = [f"{name}: {cell}" for i, (name, cell) in enumerate(zip(event.columns, row))
                      if i != first and name != status and cell]
            if fields:
                self._console.print(Padding(Text(" · ".join(fields), style=style or ""),
                                            (0, 0, 0, 2)))
        self._console.print()
