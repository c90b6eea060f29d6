"""Benchmark: bytes the console writes to its terminal per streamed statement, via a pty.

    python bench/bench_console_bytes.py [--statements 10000] [--size 80x24]

What an SSH link to a bastion host carries is what the console writes to its terminal.
The console runs as a real process in a pseudo-terminal of a fixed size (this file with
``--child``: the console on a session whose events a producer thread emits, as in
``bench_console_stream.py``; no database is needed to render events), and the parent
counts every byte the process writes.  No terminal emulator is involved: bytes are bytes.

For each variant: the parent waits for the execution tab to be drawn and the output to
go quiet, presses ctrl+t (the child starts streaming a run of ``--statements``
statements), waits until the run label reads ``N/N statements`` and the output is quiet
again, and divides the bytes in between by N.  Variants, in the same run:

- batched, unpaced: the console as shipped, the producer as fast as it can emit;
- batched, paced: the same at ``--rate`` statements/s (a script of quick statements),
  and at ``--slow-rate`` for 20 s (few statements per frame: the most bytes per second);
- batched at ``--slow-rate`` redrawn every REFRESH_S (20 fps, as before
  STREAM_REFRESH_S spaced a stream's redraws);
- per event at both rates: the obvious alternative, every event redrawn as it arrives
  (Textual still caps the screen updates it writes at its frame rate; unpaced it is
  starved of frames by its own messages, so it is not compared unpaced);
- ``run`` CLI: the headless command's lines for the same events (rich, 80 columns,
  256 colours), rendered in-process: the floor for a line-per-statement display.

Then the idle rate (bytes/s while nothing happens) and what a 1 Mbit/s link needs.
The machine is shared: throughput-dependent figures (how many statements share a frame)
move with its load; the bytes per frame do not.
"""

from __future__ import annotations

import argparse
import io
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_console_startup import PtyRun  # noqa: E402

from spfp_console.ui.app import REFRESH_S, STREAM_REFRESH_S  # noqa: E402

EXECUTION_DRAWN = b"no script has run"
START_KEY = b"\x14"  # ctrl+t
LINK_BYTES_PER_S = 1_000_000 / 8  # 1 Mbit/s


def child(statements: int, rate: float | None, per_event: bool,
          stream_refresh_s: float | None) -> int:
    """The console in this process's terminal; ctrl+t streams the run."""
    from bench_console_stream import PerEventConsole, ProbedConsole, _produce, _session
    from textual.binding import Binding

    base = PerEventConsole if per_event else ProbedConsole

    class StreamingConsole(base):  # type: ignore[misc, valid-type]
        BINDINGS = [*base.BINDINGS, Binding("ctrl+t", "stream", "stream", priority=True)]

        def on_mount(self) -> None:  # Textual calls ConsoleApp.on_mount as well
            self.call_after_refresh(self.console_screen.show_tab, "execution")

        def action_stream(self) -> None:
            threading.Thread(target=_produce, args=(self.session, statements, rate),
                             daemon=True).start()

    app = StreamingConsole(_session())
    if stream_refresh_s is not None:
        app.stream_refresh_s = stream_refresh_s
    app.run()
    return 0


def through_pty(statements: int, rate: float | None, per_event: bool,
                size: tuple[int, int], stream_refresh_s: float | None = None,
                ) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", "--statements", str(statements)]
    argv += ["--rate", str(rate or 0)]  # 0: unpaced
    if per_event:
        argv.append("--per-event")
    if stream_refresh_s is not None:
        argv += ["--stream-refresh-s", str(stream_refresh_s)]
    run = PtyRun(argv, *size).start()
    try:
        run.wait_for(EXECUTION_DRAWN, timeout=60)
        run.drain(quiet=0.5)
        before, started = len(run.output), time.perf_counter()
        run.send(START_KEY)
        done = f"{statements}/{statements} statements".encode()
        run.wait_for(done, since=before, timeout=1200)
        run.drain(quiet=0.5)
        total = len(run.output) - before
        seconds = time.perf_counter() - started
        idle_from, idle_started = len(run.output), time.perf_counter()
        while time.perf_counter() - idle_started < 2.0:
            run.read(0.1)
        idle = (len(run.output) - idle_from) / (time.perf_counter() - idle_started)
    finally:
        run.finish()
    return {"bytes": total, "per_statement": total / statements, "seconds": seconds,
            "idle": idle}


def run_cli_bytes(statements: int, columns: int) -> dict[str, float]:
    """What ``spfp-console run`` on a terminal writes for the same events."""
    from rich.console import Console

    from bench_console_stream import _produce, _session
    from spfp_console.cli.terminal_output import EventPrinter

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=columns, color_system="256",
                      highlight=False)
    session = _session()
    session.listeners.append(EventPrinter("rich", buffer, console=console))
    _produce(session, statements, None)
    total = len(buffer.getvalue().encode())
    return {"bytes": total, "per_statement": total / statements}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=500,
                        help="the paced variants: statements/s")
    parser.add_argument("--slow-rate", type=float, default=50,
                        help="the slow variants (20 s of it): statements/s")
    parser.add_argument("--size", default="80x24", help="the pty's COLUMNSxLINES")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--per-event", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stream-refresh-s", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.statements, args.rate or None, args.per_event,
                     args.stream_refresh_s)
    columns, lines = (int(n) for n in args.size.split("x"))
    size = (columns, lines)
    n, rate, slow = args.statements, args.rate, args.slow_rate
    slow_n = max(1, int(slow * 20))  # 20 s of it
    variants = (  # (name, statements, rate, per event, stream refresh)
        ("batched, unpaced", n, None, False, None),
        (f"batched, {rate:.0f}/s", n, rate, False, None),
        (f"per event, {rate:.0f}/s", n, rate, True, None),
        (f"batched, {slow:.0f}/s", slow_n, slow, False, None),
        (f"20 fps, {slow:.0f}/s", slow_n, slow, False, REFRESH_S),
        (f"per event, {slow:.0f}/s", slow_n, slow, True, None),
    )
    results = {name: through_pty(count, pace, per_event, size, stream)
               for name, count, pace, per_event, stream in variants}
    cli = run_cli_bytes(n, columns)
    print(f"statements streamed through the console in a {columns}x{lines} pty: bytes the"
          " process wrote (a shared machine: how many statements share a frame varies):")
    for (name, count, *_), r in zip(variants, results.values()):
        print(f"  {name:>20}: {r['per_statement']:7.1f} B/statement, {r['bytes'] / 1e6:6.2f} MB"
              f" for {count:,} in {r['seconds']:5.1f} s ({r['bytes'] / r['seconds'] / 1e3:5.1f}"
              " kB/s)")
    print(f"  {'run CLI (rich)':>20}: {cli['per_statement']:7.1f} B/statement,"
          f" {cli['bytes'] / 1e6:6.2f} MB for {n:,} (a line per statement, the terminal"
          " scrolls)")
    fast, paced = results["batched, unpaced"], results[f"batched, {rate:.0f}/s"]
    trickle = results[f"batched, {slow:.0f}/s"]
    for pace, r in ((f"{rate:.0f}/s", paced), (f"{slow:.0f}/s", trickle)):
        other = results[f"per event, {pace}"]
        print(f"at {pace}: batched writes {r['per_statement'] / other['per_statement']:.2f}x"
              f" the bytes of per event, {r['per_statement'] / cli['per_statement']:.2f}x"
              " the run CLI's")
    print("(per event falls behind a fast stream: its loop is busy with messages, so it"
          " draws few frames, a stale screen, and writes few bytes)")
    before = results[f"20 fps, {slow:.0f}/s"]
    print(f"at {slow:.0f}/s: redrawing a stream every {STREAM_REFRESH_S} s instead of every"
          f" {REFRESH_S} s (20 fps, before) writes"
          f" {before['per_statement'] / trickle['per_statement']:.1f}x fewer bytes")
    print(f"idle console: {fast['idle']:.0f} B/s")
    for name, r in (("unpaced", fast), (f"{rate:.0f}/s", paced), (f"{slow:.0f}/s", trickle)):
        print(f"a 1 Mbit/s link ({LINK_BYTES_PER_S / 1e3:.0f} kB/s) and the {name} stream:"
              f" {r['bytes'] / r['seconds'] / LINK_BYTES_PER_S:.0%} of the link while it"
              f" lasts; at {r['per_statement']:.0f} B/statement the link carries"
              f" {LINK_BYTES_PER_S / r['per_statement']:,.0f} statements/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
