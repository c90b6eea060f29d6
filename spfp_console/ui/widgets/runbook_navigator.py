"""The runbook pane: phases with their progress, and the current phase's checklist."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from spfp_console.session.presentation import over_estimate, phase_timing
from spfp_console.session.state import ItemState, PhaseState


def phase_prompt(phase: PhaseState, current: bool) -> Text:
    """``▶ Execution  3/7``; a check mark once every item is ticked."""
    done = phase.total > 0 and phase.done == phase.total
    mark = "✔" if done else ("▶" if current else " ")
    text = Text.assemble((f"{mark} ", "green" if done else "bold"), phase.title)
    text.append(f"  {phase.done}/{phase.total}", style="green" if done else "dim")
    timing = phase_timing(phase)  # the paper's estimate beside the measured time
    if timing:
        text.append(f"  {timing}", style="yellow" if over_estimate(phase) else "dim")
    return text


def item_prompt(item: ItemState, by_hand: bool | None = None) -> Text:
    """The item, and under it who ticked it, when, with what evidence (or what to run).

    ``by_hand``: the operator ticks it, although it names an action (the approvals item
    when no signed approvals are required); None: only items without an action are."""
    box = "[x]" if item.checked else "[ ]"
    text = Text.assemble((box, "green" if item.checked else "bold"), " ", item.text)
    if not item.required:
        text.append(" (optional)", style="dim")
    details: list[str] = []
    if item.checked:
        when = (item.when or "")[11:16]  # HH:MM of the UTC ISO stamp
        details.append(" · ".join(part for part in (item.who, when) if part))
        if item.ticked_by_action:
            details.append(f"by {item.ticked_by_action}")
        if item.carried_over:
            details.append("carried over")
    if item.evidence:
        details.append(item.evidence)
    elif item.evidence_asked and not item.checked:
        details.append(f"evidence: {item.evidence_asked}")
    if by_hand is None:
        by_hand = item.action is None
    if item.action and not item.checked and not by_hand:
        details.append(f"⏎ {item.action}")
    if details:
        text.append("\n    " + " · ".join(details), style="dim")
    return text


PromptKey = tuple[str, tuple[object, ...], object]


def prompt_key(prompt: Text) -> PromptKey:
    """What a prompt shows (its text and styles), comparable and hashable."""
    return (prompt.plain, tuple(prompt.spans), prompt.style)


class PhaseNavigator(OptionList):
    """One line per phase with n/m done; highlighting a phase shows its checklist."""

    DEFAULT_CSS = """
    PhaseNavigator {
        height: auto;
        max-height: 8;
    }
    """

    def show(self, phases: list[PhaseState], current: str | None) -> None:
        prompts = [phase_prompt(phase, phase.id == current) for phase in phases]
        if self.option_count != len(prompts):
            highlighted = self.highlighted
            self.set_options(Option(p, id=phase.id) for p, phase in zip(prompts, phases))
            self.highlighted = highlighted if highlighted is not None else 0
            return
        for index, prompt in enumerate(prompts):
            self.replace_option_prompt_at_index(index, prompt)


class Checklist(OptionList):
    """The items of one phase.  Space ticks or unticks; Enter runs the item's action."""

    BINDINGS = [
        Binding("space", "tick", "tick", show=False, id="checklist.tick"),
        Binding("enter", "select", "do", show=False, id="checklist.run"),
    ]
    """Not in the footer (80 columns hold the screen's keys only): the checklist's border
    says them."""

    DEFAULT_CSS = """
    Checklist {
        height: 1fr;
    }
    """

    @dataclass
    class ToggleRequested(Message):
        """The operator asked to tick (or untick) an item."""

        item: ItemState

    @dataclass
    class ActionRequested(Message):
        """The operator asked to run the action of an item."""

        item: ItemState

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: list[ItemState] = []
        """The items shown, in order (the state's own objects)."""
        self.phase_id: str | None = None
        self.shown: list[PromptKey] = []
        """What each option shows."""
        self.border_subtitle = "space tick · ⏎ run its action"

    def show(self, phase: PhaseState,
             ticked_by_hand: Callable[[ItemState], bool] | None = None) -> None:
        """Show ``phase``'s items; ``ticked_by_hand`` says which the operator ticks.

        Only the items whose line changed are replaced: each replacement drops what the
        list had measured and drawn, and a tick changes one item."""
        prompts = [item_prompt(item, ticked_by_hand(item) if ticked_by_hand else None)
                   for item in phase.items]
        keys = [prompt_key(prompt) for prompt in prompts]
        self.items = list(phase.items)
        if phase.id != self.phase_id or len(phase.items) != self.option_count:
            self.phase_id = phase.id
            self.set_options(prompts)
            self.highlighted = 0 if prompts else None
        else:
            for index, (key, prompt) in enumerate(zip(keys, prompts)):
                if key != self.shown[index]:
                    self.replace_option_prompt_at_index(index, prompt)
        self.shown = keys

    @property
    def current_item(self) -> ItemState | None:
        if self.highlighted is None or not 0 <= self.highlighted < len(self.items):
            return None
        return self.items[self.highlighted]

    def action_tick(self) -> None:
        item = self.current_item
        if item is not None:
            self.post_message(self.ToggleRequested(item))

    def action_select(self) -> None:
        item = self.current_item
        if item is not None:
            self.post_message(self.ActionRequested(item))
