"""The questions the session asks the operator, as modal screens.

Each dismisses with the answer the :class:`~spfp_console.session.operator.Operator`
interface returns: the typed text for a confirmation ("" when declined), a reason or
None for an override, a text or None for evidence.  Escape always declines.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from spfp_console.session.operator import ConfirmationRequest

SUMMARY_ALARMS = ("OVERRIDDEN", "blocker", "NOT exported", "destroys")
"""Summary lines that must stand out (the terminal operator shows them in red too)."""


def summary_text(lines: Sequence[str]) -> Text:
    text = Text()
    for line in lines:
        text.append(f"{line}\n", style="bold red" if line.startswith(SUMMARY_ALARMS) else "")
    return text


class SummaryScroll(VerticalScroll, can_focus=False):
    """The summary of a confirmation: scrolled with PageUp/PageDown, never in the focus
    chain, so Tab from Cancel goes straight to the field to type in."""


class TypedConfirmScreen(ModalScreen[str]):
    """Type the expected text to let an action change the database.

    The action button stays disabled until the input equals ``request.expected``; focus
    starts on Cancel, so a stray Enter declines, and whatever the operator types goes to
    the field wherever the focus is (the dialog says "Type ... to confirm"; typing into a
    focused button did nothing).  Dismisses with what was typed, or "".
    """

    BINDINGS = [
        Binding("escape", "decline", "cancel", id="confirm.cancel"),
        Binding("pageup", "scroll_summary(-1)", "summary up", show=False, id="confirm.up"),
        Binding("pagedown", "scroll_summary(1)", "summary down", show=False,
                id="confirm.down"),
    ]

    DEFAULT_CSS = """
    TypedConfirmScreen {
        align: center middle;
    }
    TypedConfirmScreen > Vertical {
        width: 90%;
        max-width: 100;
        height: auto;
        max-height: 95%;
        border: thick $error;
        background: $surface;
        padding: 0 1;
    }
    TypedConfirmScreen #summary {
        height: auto;
        max-height: 8;
    }
    TypedConfirmScreen .buttons {
        height: auto;
        align-horizontal: center;
        margin-top: 1;
    }
    TypedConfirmScreen #impact {
        height: auto;
        max-height: 9;
    }
    TypedConfirmScreen Button {
        margin: 0 2;
    }
    """

    action_label = "Run"

    def __init__(self, request: ConfirmationRequest) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(self.request.title)  # data, never markup
            yield from self.compose_details()
            with SummaryScroll(id="summary"):
                yield Static(summary_text(self.request.summary))
            yield Label(Text(f"Type {self.request.expected!r} to confirm:"))
            # Compact widgets: at 80x24 the whole dialog, buttons included, must fit.
            # select_on_focus off: the first key typed from Cancel must not be selected
            # (and replaced by the second).  The placeholder must not look like the name
            # already typed (in a terminal without dim text it did).
            yield Input(placeholder="(type it here)", id="typed", compact=True,
                        select_on_focus=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(self.action_label, id="confirm", variant="error", disabled=True,
                             compact=True)

    def compose_details(self) -> ComposeResult:
        return iter(())

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_key(self, event: events.Key) -> None:
        typed = self.query_one("#typed", Input)
        # Space still presses the focused button; letters and digits are the name.
        if self.focused is typed or not event.is_printable or event.character in (None, " "):
            return
        event.stop()
        event.prevent_default()
        typed.focus()
        typed.insert_text_at_cursor(event.character or "")

    def action_scroll_summary(self, direction: int) -> None:
        summary = self.query_one("#summary", SummaryScroll)
        summary.scroll_relative(y=direction * max(1, summary.size.height - 1), animate=False)

    @property
    def matches(self) -> bool:
        return self.query_one("#typed", Input).value == self.request.expected

    @on(Input.Changed, "#typed")
    def typed_changed(self) -> None:
        self.query_one("#confirm", Button).disabled = not self.matches

    @on(Input.Submitted, "#typed")
    def typed_submitted(self) -> None:
        if self.matches:
            self.dismiss(self.request.expected)

    @on(Button.Pressed, "#confirm")
    def confirmed(self) -> None:
        if self.matches:
            self.dismiss(self.request.expected)

    @on(Button.Pressed, "#cancel")
    def action_decline(self) -> None:
        self.dismiss("")


class RollbackConfirmScreen(TypedConfirmScreen):
    """The rollback confirmation: every table and column it drops, with the data lost."""

    action_label = "Roll back"

    def compose_details(self) -> ComposeResult:
        impact = self.request.impact
        items = list(getattr(impact, "items", []) or [])
        if not items:
            return
        table: DataTable = DataTable(cursor_type="none", id="impact")
        # The count before the long description: at 80 columns the text is what gets cut.
        table.add_columns("drops", "rows", "what is lost")
        for item in items:
            where = f"{item.table}.{item.column}" if item.column else f"{item.table} (table)"
            count = "-" if item.count is None else str(item.count)
            table.add_row(where, Text(count, style="bold red" if item.count else "",
                                      justify="right"), item.what)
        yield Static(Text("Data that would be lost", style="bold"))
        yield table


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text (an override reason, the evidence of an item).

    Dismisses with the stripped text, or None on Escape or an empty answer.
    """

    BINDINGS = [Binding("escape", "decline", "cancel", id="prompt.cancel")]

    DEFAULT_CSS = """
    PromptScreen {
        align: center middle;
    }
    PromptScreen > Vertical {
        width: 90%;
        max-width: 100;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    PromptScreen #lines {
        height: auto;
        max-height: 10;
    }
    """

    def __init__(self, title: str, lines: Sequence[str], label: str,
                 *, alarming: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.label = label
        self.alarming = alarming

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(self.title_text)
            if self.lines:
                with VerticalScroll(id="lines"):
                    yield Static(Text("\n".join(self.lines),
                                      style="bold red" if self.alarming else ""))
            yield Label(Text(self.label))
            yield Input(id="answer", compact=True)
            yield Static(Text("Enter: done · Escape: cancel", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#answer", Input).focus()

    @on(Input.Submitted, "#answer")
    def answered(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_decline(self) -> None:
        self.dismiss(None)


class ErrorScreen(ModalScreen[None]):
    """One clear error line (what happened, to what, what to do next); never a traceback."""

    BINDINGS = [Binding("escape,enter", "close", "close", id="error.close")]

    DEFAULT_CSS = """
    ErrorScreen {
        align: center middle;
    }
    ErrorScreen > Vertical {
        width: 90%;
        max-width: 100;
        height: auto;
        border: thick $error;
        background: $surface;
        padding: 0 1;
    }
    ErrorScreen Button {
        margin-top: 1;
    }
    """

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(self.title_text)
            yield Static(Text(self.message, style="bold"), id="error-message")
            yield Button("OK", id="ok", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    @on(Button.Pressed, "#ok")
    def action_close(self) -> None:
        self.dismiss(None)
