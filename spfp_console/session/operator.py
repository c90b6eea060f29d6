"""Every question the session asks a person goes through one small interface.

The headless CLI answers on the terminal, the console with modal screens (called from a
worker thread: an implementation must be safe to call off the UI thread), and tests with
a scripted operator.  The session decides what the answers mean; an operator only asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from typing import Any, Protocol

from spfp_console.lean_dataclass import lean_dataclass


@lean_dataclass(frozen=True)
class ConfirmationRequest:
    """Type ``expected`` to let ``action`` change the database."""

    action: str
    """run | rollback"""
    title: str
    """One line: what is about to happen, to which target."""
    expected: str
    """What the operator must type (the database name, or "rollback <dbname>")."""
    summary: tuple[str, ...] = ()
    """The short summary to read right before answering: blockers overridden, locks
    taken, what will change or be destroyed."""
    impact: Any = None
    """For a rollback: the engine's impact report (objects dropped, rows at risk)."""
    exported_to: str | None = None
    """For a rollback: where the data at risk was exported, if it was."""


class Operator(Protocol):
    """The person at the console, as the session sees them."""

    name: str
    """Who answers (recorded as ``who`` in the log)."""

    def confirm(self, request: ConfirmationRequest) -> str:
        """Show the request and return what the operator typed ("" when they declined)."""
        ...

    def override_reason(self, gate: str, reasons: Sequence[str]) -> str | None:
        """A gate is closed for ``reasons``: the operator's typed reason to go past it,
        or None to stop there."""
        ...


@lean_dataclass
class ScriptedOperator:
    """An operator whose answers are given up front (tests, automation).

    ``typed`` answers confirmations in order (``None`` entries answer with the expected
    text); ``overrides`` maps a gate to the reason given for it.  Every request is kept.
    """

    name: str = "scripted"
    typed: list[str | None] = field(default_factory=list)
    overrides: dict[str, str] = field(default_factory=dict)
    requests: list[ConfirmationRequest] = field(default_factory=list)
    override_requests: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def confirm(self, request: ConfirmationRequest) -> str:
        self.requests.append(request)
        answer = self.typed.pop(0) if self.typed else None
        return request.expected if answer is None else answer

    def override_reason(self, gate: str, reasons: Sequence[str]) -> str | None:
        self.override_requests.append((gate, tuple(reasons)))
        return self.overrides.get(gate)
