"""The console application: one :class:`DeploymentSession`, rendered live.

Threads: every workflow runs in a thread worker of the ``db`` group, one at a time.  The
session calls its listeners on the emitting thread (the worker, the executor, the progress
monitor); the console's listener only appends the event to an inbox and, when the inbox
was empty, posts one :class:`EventsArrived` message.  On the UI thread, :data:`REFRESH_S`
seconds later (:data:`STREAM_REFRESH_S` after the last redraw while a stream goes on),
the inbox is folded into the console's own :class:`SessionState` and the changed panes
are redrawn.  One message per batch, not per event: a key press never queues behind
thousands of statements (``bench/bench_console_stream.py`` measures both), and an SSH
link carries a few frames a second, not one per statement
(``bench/bench_console_bytes.py``).

Start-up: given a :class:`SessionOpening` instead of an opened session, the console draws
its first frame (header "connecting to ...", footer) before anything imports psycopg,
pglast or the engine (a third of a second here), then builds and opens the session in a
thread worker.  This module imports none of them at load time for that reason.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.worker import Worker, WorkerState

from spfp_console.errors import EXIT_FAILED, ConsoleError, UsageError
from spfp_console.events import (
    ChecklistItemToggled,
    Event,
    Finding,
    ProfileChosen,
    ResultTable,
    SessionStarted,
)
from spfp_console.session.presentation import workflow_outcome
from spfp_console.session.state import ItemState, SessionState
from spfp_console.ui.commands import ConsoleCommands
from spfp_console.ui.operator import ConsoleOperator
from spfp_console.ui.screens.console import ConsoleScreen
from spfp_console.ui.screens.questions import ErrorScreen, PromptScreen
from spfp_console.ui.terminal import TerminalApp

if TYPE_CHECKING:
    from spfp_console.deployment import DeployGates, DeploymentSession, WorkflowResult
    from spfp_console.engine.executor import CancelToken

REFRESH_S = 0.05
"""Longest delay between an event and its pixels; events in between share one redraw."""

STREAM_REFRESH_S = 0.2
"""While events keep coming, redraws are at least this far apart.  Every redraw of a
streaming script repaints the whole execution pane (the terminal cannot scroll a region
for Textual): about 3 kB at 80x24.  Five a second still read as a live log, and write a
fraction of what twenty did to an SSH link (``bench/bench_console_bytes.py``).  A lone
event after a quiet spell still shows after REFRESH_S; keys are never delayed."""

PANES_OF_EVENT: dict[type[Event], frozenset[str]] = {
    SessionStarted: frozenset({"header", "runbook"}),
    ProfileChosen: frozenset({"header", "runbook"}),
    ChecklistItemToggled: frozenset({"runbook"}),
    ResultTable: frozenset({"results"}),
    Finding: frozenset({"results"}),
}
"""The panes an event changes; every other event changes only the execution pane.  A
redraw touches only those: the checklist need not be rebuilt for each statement."""

ALL_PANES = frozenset({"header", "runbook", "execution", "results"})

WORKFLOW_OF_ACTION = {
    "preflight": "check",
    "rehearse": "rehearse",
    "scratch-rehearse": "scratch-rehearse",
    "run": "deploy",
    "validate": "validate",
    "rollback-impact": "rollback",
    "rollback": "rollback",
}
"""The workflow that runs (and ticks) a checklist item with this action."""

SCRIPT_WORKFLOWS = ("rehearse", "deploy", "rollback")
"""Workflows that run a script: the console shows the execution tab when they start."""


def console_gates() -> DeployGates:
    """The console has a checklist to tick, so its run also waits for it and a rehearsal."""
    from spfp_console.deployment import DeployGates

    return DeployGates(preflight=True, checklist=True, rehearsal=True)


@dataclass(frozen=True)
class SessionOpening:
    """A session the console builds and opens itself, after its first frame."""

    new_session: Callable[[], DeploymentSession]
    """Builds the (unopened) session; called on a worker thread, so the imports it
    needs (psycopg, the engine) are paid there, not before the first frame."""
    target: str
    """What the header names while connecting (the real display replaces it)."""
    runbook_id: str
    operator: str
    environment: str | None = None


class EventsArrived(Message):
    """The inbox has events (posted once per batch, from the emitting thread)."""


class ConsoleApp(TerminalApp):
    """The deployment console on a :class:`DeploymentSession`: an opened one, or a
    :class:`SessionOpening` the console opens after its first frame (``run_console``).

    The caller closes the session after (:attr:`opened_session` when the console opened
    it), with :attr:`last_result` as the session's outcome.
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "spfp-console"
    BINDINGS = [Binding("ctrl+q", "quit", "quit", priority=True, show=False, id="app.quit")]
    COMMANDS = TerminalApp.COMMANDS | {ConsoleCommands}

    def __init__(self, session: DeploymentSession | SessionOpening, *,
                 export_dir: Path | None = None,
                 after_hangup: Callable[[ConsoleApp], int] | None = None) -> None:
        super().__init__()
        self.opening = session if isinstance(session, SessionOpening) else None
        self.session: DeploymentSession | None = (
            None if isinstance(session, SessionOpening) else session)
        """None until the opening worker has opened it."""
        self.opened_session: DeploymentSession | None = None
        """The session the opening worker opened, attached or not: the caller closes it
        (the app may have gone before it was attached)."""
        self.open_error: BaseException | None = None
        """Why the session could not be opened: the app exits, and the caller raises it
        (the command line's usual one line and exit code)."""
        self.after_hangup = after_hangup
        """Finishes the session after SIGHUP (close it, stop the demo server) and returns
        the exit code; the process then leaves at once.  Textual's own shutdown waits
        forever for its output thread once the terminal is gone, so nothing after
        ``app.run()`` would run.  None (tests): the app just exits."""
        self.export_dir = export_dir
        """Where a rollback exports the data it destroys first (None: no export)."""
        self.state = SessionState()
        """The console's own fold of the session's events, touched only on the UI thread."""
        self.shutdown = threading.Event()
        self.operator = ConsoleOperator(self, session.operator, self.shutdown)
        self.cancel_token: CancelToken | None = None
        self.running_workflow: str | None = None
        self.last_result: WorkflowResult | None = None
        """The outcome the session ends with: the last workflow's, except that a declined
        confirmation does not hide what an earlier workflow did."""
        self.quit_requested = False
        self.inbox: list[Event] = []
        """Events emitted and not folded yet (appended on any thread, under the lock)."""
        self.inbox_lock = threading.Lock()
        self.refresh_pending = False
        """A fold and redraw is scheduled (set by the first event of a batch)."""
        self.stream_refresh_s = STREAM_REFRESH_S
        self.last_fold = 0.0
        """time.monotonic() of the last fold: a stream's batches are spaced from it."""
        self.dirty: set[str] = set()
        """The panes changed since the last redraw."""
        self.hung_up: str | None = None
        """The signal (SIGHUP, SIGTERM) that ended the console, if one did."""
        self.idle = threading.Event()
        """Set while no workflow runs: the session may be closed only then."""
        self.idle.set()
        self.phase_index = 0
        """The phase the navigator is on (moving to the next one leaves this one)."""
        self._previous_handlers: dict[signal.Signals, Any] = {}

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications carry data (messages from the server, item texts): never markup
        unless asked, so a '[' in a message cannot break or restyle it."""
        super().notify(message, title=title, severity=severity, timeout=timeout,
                       markup=markup)

    def get_default_screen(self) -> ConsoleScreen:
        return ConsoleScreen(connecting=self.opening if self.session is None else None)

    @property
    def console_screen(self) -> ConsoleScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, ConsoleScreen)
        return screen

    def on_mount(self) -> None:
        self._handle_hangup()
        if self.session is not None:
            self.attach(self.session)

    def on_ready(self) -> None:
        """The first frame is on the terminal: open the session now.  Earlier, the
        worker's imports (psycopg, the engine) would compete with it for the GIL."""
        if self.session is None and self.opening is not None:
            self.start_opening()

    def attach(self, session: DeploymentSession) -> None:
        """Render ``session`` from now on.  Nothing runs yet (workflows start from this
        thread), so no event falls between the copy and the listener."""
        self.session = session
        self.state = session.state.snapshot()
        session.listeners.append(self.listen)
        self.call_after_refresh(self.refresh_views, ALL_PANES)  # once the screen composed

    def start_opening(self) -> None:
        self.idle.clear()
        self.open_session()

    @work(thread=True, exit_on_error=False, group="db", name="open")
    def open_session(self) -> DeploymentSession:
        """Build and open the session: ConnectError and the resume refusals end up in
        :attr:`open_error`.  A session that fails to open is closed here, as the
        ``with session`` of the headless commands does."""
        assert self.opening is not None
        try:
            session = self.opening.new_session()
            try:
                session.open()
            except BaseException as exc:
                session.__exit__(type(exc), exc, exc.__traceback__)
                raise
            self.opened_session = session
            return session
        finally:
            self.idle.set()

    def on_unmount(self) -> None:
        self.shutdown.set()
        if self.session is not None and self.listen in self.session.listeners:
            self.session.listeners.remove(self.listen)
        loop = asyncio.get_running_loop()
        for sig, previous in self._previous_handlers.items():
            loop.remove_signal_handler(sig)
            if previous is not None:  # None: set outside Python, nothing to restore
                signal.signal(sig, previous)

    def _handle_hangup(self) -> None:
        """SIGHUP (the SSH link dropped) and SIGTERM end the console the way q does: the
        running statement is cancelled, the worker ends, then the app, so the session is
        closed with the true outcome instead of dying mid-statement."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            try:
                previous = signal.getsignal(sig)
                loop.add_signal_handler(sig, self.hang_up, sig.name)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                continue
            self._previous_handlers[sig] = previous

    def hang_up(self, name: str) -> None:
        self.hung_up = name
        self.shutdown.set()
        if name == "SIGHUP":
            discard_terminal_output()
        if self.busy or self.connecting:
            self.quit_requested = True
            if self.cancel_token is not None:
                self.cancel_token.cancel()
            return
        self.leave()

    def leave(self) -> None:
        """Exit; after a hang-up, finish the session here and leave the process."""
        if self.hung_up and self.after_hangup is not None:
            import os

            code = EXIT_FAILED
            try:
                code = self.after_hangup(self)
            finally:
                os._exit(code)
        self.exit(self.exit_code)

    # ------------------------------------------------------------------ events in

    def listen(self, event: Event) -> None:
        """The session's listener: called on any thread, so it only queues."""
        with self.inbox_lock:
            self.inbox.append(event)
            if self.refresh_pending:
                return
            self.refresh_pending = True
        self.post_message(EventsArrived())

    def on_events_arrived(self, message: EventsArrived) -> None:
        since_fold = time.monotonic() - self.last_fold
        self.set_timer(max(REFRESH_S, self.stream_refresh_s - since_fold), self.fold_inbox)

    def fold_inbox(self) -> None:
        """Fold every queued event into the console's state, then redraw what changed."""
        with self.inbox_lock:
            batch, self.inbox = self.inbox, []
            self.refresh_pending = False
        self.last_fold = time.monotonic()
        for event in batch:
            self.state.apply(event)
            self.dirty |= PANES_OF_EVENT.get(type(event), {"execution"})
        self.refresh_views()

    def refresh_views(self, panes: frozenset[str] | None = None) -> None:
        """Redraw the panes changed since the last redraw (or ``panes``)."""
        panes = frozenset(self.dirty) if panes is None else panes
        self.dirty.clear()
        self.console_screen.show(self.state, self.log_path, panes)

    @property
    def log_path(self) -> Path | None:
        return self.session.log_path if self.session is not None else None

    def refuse_before_open(self, what: str) -> bool:
        """True (after saying so) while the session is still being opened."""
        if self.session is not None:
            return False
        target = self.opening.target if self.opening is not None else "the database"
        self.notify(f"still connecting to {target}: {what} once the session is open",
                    severity="warning")
        return True

    # ------------------------------------------------------------------ the checklist

    def toggle_item(self, item: ItemState) -> None:
        """Tick or untick by hand; items with an action are ticked by its result."""
        if self.refuse_before_open("items can be ticked"):
            return
        session = self.session
        assert session is not None
        if not session.ticked_by_hand(item):
            workflow = WORKFLOW_OF_ACTION.get(item.action or "")
            how = f"press Enter to run {workflow}" if workflow else "it follows the run"
            self.notify(f"'{item.text[:40]}' is ticked by the result of {item.action}: {how}",
                        severity="warning")
            return
        if item.checked:
            session.toggle_item(item.phase, item.id, False)
            return
        if not item.evidence_asked:
            session.toggle_item(item.phase, item.id, True)
            return

        def tick_with(evidence: str | None) -> None:
            if evidence:
                session.toggle_item(item.phase, item.id, True, evidence=evidence)
            else:
                self.notify(f"not ticked: it needs evidence ({item.evidence_asked})",
                            severity="warning")

        self.push_screen(PromptScreen(item.text, [],
                                      f"Evidence: {item.evidence_asked}"), tick_with)

    def run_item(self, item: ItemState) -> None:
        """Enter on an item: run its action, or tick it when it has none."""
        if self.refuse_before_open("steps can run"):
            return
        assert self.session is not None
        if self.session.ticked_by_hand(item):
            self.toggle_item(item)
            return
        workflow = WORKFLOW_OF_ACTION.get(item.action or "")
        if workflow is None:
            self.notify(f"'{item.action}' is ticked by the run's result, not run on its own",
                        severity="information")
            return
        self.start_workflow(workflow)

    def phase_changed(self, index: int) -> None:
        """The navigator moved to phase ``index``.  Moving on to the next phase once every
        required item of this one is ticked is leaving it: under a profile with phase
        sign-offs the session judges the sign-off now (and logs it), so a missing one is
        known here rather than at the run's gate."""
        phases = self.state.phases
        previous, self.phase_index = self.phase_index, index
        if index != previous + 1 or not 0 <= previous < len(phases) or self.session is None:
            return
        left = phases[previous]
        report = self.session.signoff_reports.get(left.id)
        if left.required_open or (report is not None and report.ok) or self.busy:
            return
        self.judge_signoff(left.id, left.title)

    @work(thread=True, exclusive=True, exit_on_error=False, group="signoff")
    def judge_signoff(self, phase_id: str, title: str) -> None:
        """Sign-offs are signature checks (ssh-keygen): off the UI thread."""
        assert self.session is not None  # phase_changed judges only an opened session's
        reasons = self.session.leave_phase(phase_id)
        if reasons:
            self.call_from_thread(self.notify, f"leaving '{title}' needs a sign-off:"
                                  f" {reasons[0]}", severity="warning", timeout=10)

    # ------------------------------------------------------------------ workflows

    @property
    def busy(self) -> bool:
        """A workflow runs (opening the session is not one: see :attr:`connecting`)."""
        return any(worker.group == "db" and worker.name != "open" and not worker.is_finished
                   for worker in self.workers)

    @property
    def connecting(self) -> bool:
        """The session is being opened: quitting waits for it, to close it."""
        return any(worker.name == "open" and not worker.is_finished
                   for worker in self.workers)

    def start_workflow(self, workflow: str) -> None:
        if self.refuse_before_open(f"{workflow} can start"):
            return
        if self.busy:
            self.notify(f"{self.running_workflow} is running: wait for it, or press c to"
                        " cancel it", severity="warning")
            return
        from spfp_console.engine.executor import CancelToken

        self.cancel_token = CancelToken()
        self.running_workflow = workflow
        if workflow in SCRIPT_WORKFLOWS:
            self.console_screen.show_tab("execution")
        self.idle.clear()
        self.run_workflow(workflow, self.cancel_token)
        self.console_screen.refresh_bindings()  # the footer: cancel instead of the steps

    @work(thread=True, exclusive=True, exit_on_error=False, group="db")
    def run_workflow(self, workflow: str, cancel: CancelToken) -> WorkflowResult:
        try:
            return self._workflow(workflow, cancel)
        finally:
            self.idle.set()

    def _workflow(self, workflow: str, cancel: CancelToken) -> WorkflowResult:
        session = self.session
        assert session is not None
        if workflow == "check":
            return session.check()
        if workflow == "rehearse":
            return session.rehearse(cancel=cancel)
        if workflow == "scratch-rehearse":
            return session.scratch_rehearse()
        if workflow == "deploy":
            return session.deploy(self.operator, cancel=cancel, gates=console_gates())
        if workflow == "validate":
            return session.validate()
        if workflow == "rollback":
            return session.rollback(self.operator, export_dir=self.export_dir, cancel=cancel)
        raise UsageError(f"unknown workflow {workflow!r}")

    def stop_workflow(self) -> None:
        """Cancel the running workflow (declining its questions) and wait until it has
        ended: the session's connection and log must not close under a worker.  Called
        on the way out, also when the app itself failed."""
        if self.idle.is_set():
            return
        self.shutdown.set()
        if self.cancel_token is not None:
            self.cancel_token.cancel()
        self.idle.wait()

    def cancel_running(self) -> None:
        if not self.busy or self.cancel_token is None:
            self.notify("nothing is running")
            return
        self.cancel_token.cancel()
        self.notify(f"cancelling {self.running_workflow}: the running statement is"
                    " cancelled and its transaction rolled back", severity="warning")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "signoff" and event.state == WorkerState.ERROR:
            self.failed(worker.error or RuntimeError("the sign-off check failed"))
        if worker.group != "db" or not worker.is_finished:
            return
        self.running_workflow = None
        self.console_screen.refresh_bindings()
        if worker.name == "open":
            if event.state == WorkerState.SUCCESS:
                self.attach(worker.result)  # type: ignore[arg-type]
            else:  # the caller says it, on the terminal, once the app has gone
                self.open_error = worker.error or RuntimeError("the session was not opened")
                if self.hung_up:
                    self.leave()
                self.exit(EXIT_FAILED)
                return
        elif event.state == WorkerState.SUCCESS:
            self.finished(worker.result)  # type: ignore[arg-type]
        elif event.state == WorkerState.ERROR and worker.error is not None:
            self.failed(worker.error)
        if self.quit_requested:
            self.leave()

    def finished(self, result: WorkflowResult) -> None:
        if result.outcome != "not_confirmed" or self.last_result is None:
            self.last_result = result
        text = workflow_outcome(result.workflow, result.outcome, result.message)
        self.notify(text, severity="information" if result.ok else "error", timeout=8)

    def failed(self, error: BaseException) -> None:
        """A workflow raised: one line in a modal, never a traceback."""
        if isinstance(error, ConsoleError):
            self.push_screen(ErrorScreen("The step stopped", str(error)))
            return
        crash = save_crash_report(error)
        self.push_screen(ErrorScreen(
            "Internal error",
            f"internal error: {type(error).__name__}: {error} (this is a bug; details in"
            f" {crash}); the session and its log are still open"))

    @property
    def exit_code(self) -> int:
        return self.last_result.exit_code if self.last_result is not None else 0

    async def action_quit(self) -> None:
        """Quit; while a step runs, cancel it first and quit when it has stopped."""
        if self.busy or self.connecting:
            self.quit_requested = True
            self.shutdown.set()  # pending questions are declined
            if self.cancel_token is not None:
                self.cancel_token.cancel()
            self.notify("stopping the running step; the console closes when it has"
                        if self.session is not None else "the console closes once the"
                        " connection attempt has ended", severity="warning")
            return
        self.shutdown.set()
        self.exit(self.exit_code)


def discard_terminal_output() -> None:
    """The terminal is gone (SIGHUP): send what is still drawn to /dev/null.

    Writes to a hung-up terminal fail; Textual's output thread then stops taking frames
    and the app's shutdown waits for it forever, so the session would never be closed.
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            try:
                if os.isatty(fd):  # a file or a pipe (a test, a log) is still fine
                    os.dup2(devnull, fd)
            except OSError:
                pass
    finally:
        os.close(devnull)


def save_crash_report(error: BaseException) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile("w", prefix="spfp-console-crash-", suffix=".txt",
                                     delete=False) as f:
        f.write("".join(traceback.format_exception(error)))
        return f.name


__all__ = ["ConsoleApp", "EventsArrived", "save_crash_report"]


