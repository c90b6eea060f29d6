"""The console's answer to the session's questions: modal screens, asked from a worker.

The session calls the operator on the worker thread that runs the workflow.  Each
question pushes a modal screen on the UI thread and waits for its answer; when the app is
shutting down, the wait ends with a decline, so a worker never hangs on a closed screen.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spfp_console.session.operator import ConfirmationRequest
from spfp_console.ui.screens.questions import (
    PromptScreen,
    RollbackConfirmScreen,
    TypedConfirmScreen,
)

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen


class ConsoleOperator:
    """Implements :class:`~spfp_console.session.operator.Operator` with modal screens."""

    def __init__(self, app: App[Any], name: str, shutdown: threading.Event) -> None:
        self.app = app
        self.name = name
        self.shutdown = shutdown
        """Set when the app closes: pending and future questions are declined."""

    def confirm(self, request: ConfirmationRequest) -> str:
        screen = (RollbackConfirmScreen(request) if request.action == "rollback"
                  else TypedConfirmScreen(request))
        answer = self._ask(screen)
        return answer if isinstance(answer, str) else ""

    def override_reason(self, gate: str, reasons: Sequence[str]) -> str | None:
        answer = self._ask(PromptScreen(
            f"The {gate} gate is closed",
            list(reasons),
            "Type why you go past it (recorded in the log), or Escape to stop:",
            alarming=True,
        ))
        return answer if isinstance(answer, str) else None

    def _ask(self, screen: Screen[Any]) -> object:
        answered = threading.Event()
        box: list[object] = [None]

        def receive(result: object) -> None:
            box[0] = result
            answered.set()

        if self.shutdown.is_set():
            return None
        try:
            self.app.call_from_thread(self.app.push_screen, screen, receive)
        except RuntimeError:  # the app is no longer running
            return None
        while not answered.wait(0.1):
            if self.shutdown.is_set():
                return None
        return box[0]
