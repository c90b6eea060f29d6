"""The escalation contacts, one key away (``e``): who to call, in which order, and how.

| Key | Action |
| :- | :- |
| escape, e, q | close |
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from spfp_console.runbook.model import Contact
from spfp_console.session.presentation import contact_lines

NO_CONTACTS = "This runbook names no contacts: add [[contacts]] (role, name, reach, about)."


def contacts_text(contacts: tuple[Contact, ...]) -> Text:
    if not contacts:
        return Text(NO_CONTACTS, style="dim")
    text = Text()
    for line in contact_lines(contacts):
        step, _, rest = line.partition(" ")
        text.append(f"{step} ", style="bold")
        who, _, about = rest.partition(": ")
        text.append(who, style="bold" if step != "-" else "")
        if about:
            text.append(f"\n     {about}", style="dim")
        text.append("\n")
    text.rstrip()
    return text


class ContactsScreen(ModalScreen[None]):
    """The runbook's contacts: the escalation path first (1, 2, 3), then everyone else."""

    BINDINGS = [
        Binding("escape,e,q", "dismiss", "close", id="contacts.close"),
    ]

    DEFAULT_CSS = """
    ContactsScreen {
        align: center middle;
    }
    ContactsScreen > Vertical {
        width: 90%;
        max-width: 100;
        height: auto;
        max-height: 90%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    ContactsScreen #contacts-title {
        text-style: bold;
        margin-bottom: 1;
    }
    ContactsScreen #contacts-hint {
        color: $text-muted;
        margin-top: 1;
    }
    """

    def __init__(self, contacts: tuple[Contact, ...]) -> None:
        super().__init__()
        self.contacts = contacts

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Escalation contacts (call in this order)", id="contacts-title")
            yield Static(contacts_text(self.contacts), id="contacts-list")
            yield Static("escape closes", id="contacts-hint")
