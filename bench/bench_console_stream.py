"""Benchmark: 10,000 statements streamed through the console, batched vs redrawn per event.

    python bench/bench_console_stream.py [--statements 10000] [--probes 2000] [--rate 2000]

A producer thread emits a run's events (RunStarted, then StatementStarted and
StatementFinished per statement, RunFinished) through a real ``DeploymentSession`` as
fast as it can, while the console (headless, 80x24, on the execution tab) folds and
draws them.  Meanwhile another thread presses a key every 10 ms (as keys arrive from the
terminal) and the time until its action runs is recorded.  Two variants in the same run:

- batched: the console as shipped (one message per batch; the batch folded and the
  changed panes redrawn at most every ``REFRESH_S``);
- per event: the obvious alternative, one message per event, each redrawn as it arrives.

Reported: statements/s until the SQL log shows the last one (producer unpaced), and
key-press latency p50 / p99 while a paced stream (``--rate`` statements/s) comes in.  No database is needed: the console renders events, and these are the events a run
emits (the engine's own cost is measured by bench_run_vs_psql.py).  Headless Textual
writes nothing to a terminal: bytes per statement over a pty are measured by
bench_console_bytes.py.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events  # noqa: E402
from textual.binding import Binding  # noqa: E402
from textual.message import Message  # noqa: E402

from spfp_console import events as ev  # noqa: E402
from spfp_console.deployment import DeploymentSession, checklist_of  # noqa: E402
from spfp_console.paths import DEFAULT_RUNBOOK  # noqa: E402
from spfp_console.runbook import load_runbook  # noqa: E402
from spfp_console.ui.app import PANES_OF_EVENT, ConsoleApp  # noqa: E402
from spfp_console.ui.widgets.execution import SqlLog  # noqa: E402

SCRIPT = "/srv/migrations/20260216_database_optimizations.sql"


class ProbedConsole(ConsoleApp):
    """The console plus one key whose action records when it ran."""

    BINDINGS = [*ConsoleApp.BINDINGS, Binding("f9", "probe", "probe", priority=True)]

    def __init__(self, session: DeploymentSession) -> None:
        super().__init__(session)
        self.answered: list[float] = []

    def action_probe(self) -> None:
        self.answered.append(time.perf_counter())


class SessionEvent(Message):
    def __init__(self, event: ev.Event) -> None:
        super().__init__()
        self.event = event


class PerEventConsole(ProbedConsole):
    """The obvious alternative: one message per event, and each event redrawn (only the
    panes it changes) as it arrives."""

    def listen(self, event: ev.Event) -> None:
        self.post_message(SessionEvent(event))

    def on_session_event(self, message: SessionEvent) -> None:
        self.state.apply(message.event)
        self.refresh_views(PANES_OF_EVENT.get(type(message.event), frozenset({"execution"})))


def _session() -> DeploymentSession:
    runbook = load_runbook(DEFAULT_RUNBOOK)
    session = DeploymentSession(runbook=runbook, journal_enabled=False, operator="bench")
    phases, items = checklist_of(runbook)
    session.emit(ev.SessionStarted(operator="bench", runbook_id=runbook.id,
                                   runbook_title=runbook.title, target="bench@local/bench",
                                   server_version="15.8", phases=phases, items=items))
    return session


def _produce(session: DeploymentSession, statements: int, rate: float | None) -> None:
    """The events of a run of ``statements`` statements; ``rate``: statements/s, or as
    fast as possible."""
    session.emit(ev.RunStarted(mode="run", script=SCRIPT, statements=statements))
    started = time.perf_counter()
    for i in range(statements):
        if rate is not None:
            ahead = started + i / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        sql = (f"CREATE INDEX IF NOT EXISTS idx_orders_{i} ON public.orders (user_id,"
               " created_at) WHERE deleted_at IS NULL")
        session.emit(ev.StatementStarted(index=i, file=SCRIPT, line=10 + 3 * i, sql=sql))
        session.emit(ev.StatementFinished(index=i, file=SCRIPT, line=10 + 3 * i,
                                          duration_s=0.001, status="CREATE INDEX"))
    session.emit(ev.RunFinished(mode="run", outcome="committed", duration_s=1.0,
                                statements_ok=statements))


async def _measure(app_type: type[ProbedConsole], statements: int, probes: int,
                   rate: float | None = None) -> dict:
    session = _session()
    app = app_type(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.console_screen.show_tab("execution")
        await pilot.pause()
        log = app.console_screen.query_one(SqlLog)
        producer = threading.Thread(target=_produce, args=(session, statements, rate))
        pressed: list[float] = []
        streaming = threading.Event()

        def press_keys() -> None:
            # As a terminal would: keys arrive from outside the event loop, every 10 ms.
            while streaming.is_set() and len(pressed) < probes:
                pressed.append(time.perf_counter())
                app.post_message(events.Key("f9", None))
                time.sleep(0.01)

        streaming.set()
        started = time.perf_counter()
        producer.start()
        presser = threading.Thread(target=press_keys)
        presser.start()
        while log.row_count < statements + 1 and time.perf_counter() - started < 600:
            await asyncio.sleep(0.01)
        finished = time.perf_counter()
        streaming.clear()
        producer.join()
        presser.join()
        await pilot.pause(0.5)
        latencies = [(a - p) * 1000 for p, a in zip(pressed, app.answered)]
    latencies.sort()
    return {
        "seconds": finished - started,
        "per_s": statements / (finished - started),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if latencies else float("nan"),
        "probes": len(latencies),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=2000,
                        help="statements/s of the paced stream for key latency")
    args = parser.parse_args()
    variants = (("batched", ProbedConsole), ("per event", PerEventConsole))
    print(f"{args.statements} statements as fast as the producer can emit them:")
    fast = {}
    for name, app_type in variants:
        fast[name] = r = asyncio.run(_measure(app_type, args.statements, args.probes))
        print(f"  {name:>9}: last statement shown after {r['seconds']:.2f} s"
              f" ({r['per_s']:,.0f} statements/s)")
    print(f"{args.statements} statements paced at {args.rate:,.0f}/s, a key every 10 ms:")
    paced = {}
    for name, app_type in variants:
        paced[name] = r = asyncio.run(_measure(app_type, args.statements, args.probes,
                                               rate=args.rate))
        print(f"  {name:>9}: key answered p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms"
              f" ({r['probes']} presses; last statement after {r['seconds']:.2f} s)")
    b, p = fast["batched"], fast["per event"]
    print(f"batched vs per event: {p['seconds'] / b['seconds']:.1f}x faster to show the last"
          f" statement; key p99 {paced['per event']['p99'] / paced['batched']['p99']:.1f}x"
          " lower")
    return 0


if __name__ == "__main__":
    sys.exit(main())
