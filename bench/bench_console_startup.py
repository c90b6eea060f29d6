"""Benchmark: command to first frame of the console, through a real pty.

    python bench/bench_console_startup.py [--runs 5] [--size 80x24] [--demo-runs 2]

Each command is spawned in a pseudo-terminal of a fixed size (as sshd gives one to the
operator's shell) and the bytes it writes are read as they come.  Two moments are timed:

* the first frame: the footer's keys and the header, either "connecting to" (the console
  draws it before it opens the session) or ``read-write`` (drawn once the session's
  state is folded in; a console that opened the session first drew nothing before it);
* the session open: ``read-write`` and the footer, what the operator needs to start
  working (the first frame, then importing psycopg and the engine, connecting, reading
  the target, on a worker thread).

The process is then asked to quit (ctrl+q) and reaped, untimed.

Timed, each in a fresh process, the variants taking turns so drift spreads over all:

* ``import textual.app``: ``python -c 'import textual.app'`` (the floor the issue quotes);
* ``minimal Textual app``: a Static and a Footer, to its first frame in the pty (what any
  Textual console pays: interpreter, Textual, driver start-up, one compose and paint);
* ``spfp-console console``: on a local test database (base schema loaded), to the header;
* ``spfp-console demo`` (``--demo-runs``; 0 skips it): its own throwaway server first.
  The demo says ``N rows in M tables`` on stderr once its server is up and loaded: the
  time to that line is the server's part, from it to the first frame the console's.

Reported: the median of each, and the console's ratios to the two baselines.  The
machine is shared (2 cores, other jobs running): the medians are noisy, the ratios taken
side by side in one run much less so.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HEADER_MARK = b"read-write"
"""Drawn by the console's header once the session's state is folded in."""
CONNECTING_MARK = b"connecting to"
"""Drawn by the console's header before the session is open."""
FOOTER_MARK = b"rehearse"
"""One of the footer's first keys (the last ones are cut at 80 columns)."""
DEMO_SERVER_READY = b" tables in "
"""The demo's stderr line once its server runs with the schema and sample data."""

MINIMAL_APP = """
from textual.app import App
from textual.widgets import Footer, Static

class Minimal(App):
    BINDINGS = [("q", "quit", "rehearse")]  # the footer mark the console is timed to
    def compose(self):
        yield Static("read-write")
        yield Footer()

Minimal().run()
"""


def spfp_console_argv() -> list[str]:
    found = shutil.which("spfp-console", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "spfp_console"]


@dataclass
class PtyRun:
    """A command running in a pty of its own; everything it writes is kept, with times."""

    argv: list[str]
    columns: int = 80
    lines: int = 24
    env: dict[str, str] | None = None
    cwd: str | None = None
    output: bytearray = field(default_factory=bytearray)
    started: float = 0.0
    pid: int = 0
    fd: int = -1

    def start(self) -> PtyRun:
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("TERM", "xterm-256color")
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        self.started = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child: its stdin/out/err are the pty's slave end
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ,
                            struct.pack("HHHH", self.lines, self.columns, 0, 0))
                if self.cwd:
                    os.chdir(self.cwd)
                os.execvpe(self.argv[0], self.argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        return self

    def read(self, timeout: float) -> bool:
        """Read what is there (waiting up to ``timeout``); False once the child is gone."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 1 << 16)
        except OSError:  # EIO: the slave end is closed, the child has exited
            return False
        if not chunk:
            return False
        self.output += chunk
        return True

    def wait_for(self, *marks: bytes | tuple[bytes, ...], timeout: float = 120,
                 since: int = 0) -> float:
        """Seconds from the start until every mark is in the output (after ``since``); a
        tuple of marks is met by any one of them."""
        deadline = time.perf_counter() + timeout

        def found(mark: bytes | tuple[bytes, ...]) -> bool:
            alternatives = mark if isinstance(mark, tuple) else (mark,)
            return any(self.output.find(m, since) >= 0 for m in alternatives)

        while not all(found(mark) for mark in marks):
            if time.perf_counter() > deadline or not self.read(0.05):
                tail = bytes(self.output[-2000:]).decode(errors="replace")
                raise RuntimeError(f"{self.argv[:4]}: no {marks} after"
                                   f" {time.perf_counter() - self.started:.1f} s; the"
                                   f" output ends with:\n{tail}")
        return time.perf_counter() - self.started

    def drain(self, quiet: float = 0.3, timeout: float = 30) -> None:
        """Read until nothing came for ``quiet`` seconds."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            before = len(self.output)
            if not self.read(quiet):
                return
            if len(self.output) == before:
                return

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def finish(self, keys: bytes = b"\x11", timeout: float = 60) -> int:
        """Quit with ``keys`` (ctrl+q), read until the child exits, reap it."""
        try:
            self.send(keys)
        except OSError:
            pass
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline and self.read(0.1):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        if time.perf_counter() >= deadline:
            os.kill(self.pid, signal.SIGTERM)
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def time_import(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import textual.app"], check=True, env=env)
    return time.perf_counter() - started


def time_minimal(env: dict[str, str], size: tuple[int, int]) -> float:
    run = PtyRun([sys.executable, "-c", MINIMAL_APP], *size, env=env).start()
    try:
        return run.wait_for(HEADER_MARK, FOOTER_MARK)
    finally:
        run.finish()


def time_console(env: dict[str, str], size: tuple[int, int], dsn: str,
                 cwd: str) -> tuple[float, float]:
    """(first frame, session open), both from the command."""
    argv = [*spfp_console_argv(), "console", "--dsn", dsn, "--no-log"]
    run = PtyRun(argv, *size, env=env, cwd=cwd).start()
    try:
        first = run.wait_for((CONNECTING_MARK, HEADER_MARK), FOOTER_MARK)
        return first, run.wait_for(HEADER_MARK, FOOTER_MARK)
    finally:
        run.finish()


def time_demo(env: dict[str, str], size: tuple[int, int], cwd: str) -> tuple[float, float]:
    """(server ready, first frame), both from the command."""
    argv = [*spfp_console_argv(), "demo", "--log-dir", str(Path(cwd) / "demo-logs")]
    run = PtyRun(argv, *size, env=env, cwd=cwd).start()
    try:
        server = run.wait_for(DEMO_SERVER_READY, timeout=600)
        since = run.output.find(DEMO_SERVER_READY)
        return server, run.wait_for((CONNECTING_MARK, HEADER_MARK), FOOTER_MARK,
                                    since=since, timeout=120)
    finally:
        run.finish(timeout=120)


def test_database() -> tuple[object, str]:
    """A local cluster and a database with the base schema: what ``console`` opens on."""
    import psycopg

    from spfp_console.localpg import LocalCluster
    from spfp_console.paths import base_schema_files

    cluster = LocalCluster().start()
    dsn = cluster.create_database("bench_console")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for path in base_schema_files():
            conn.execute(path.read_text())
    return cluster, dsn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--demo-runs", type=int, default=2)
    parser.add_argument("--size", default="80x24", help="the pty's COLUMNSxLINES")
    args = parser.parse_args()
    columns, lines = (int(n) for n in args.size.split("x"))
    size = (columns, lines)
    env = dict(os.environ, SPFP_CONSOLE_SIGN_KEY="none")
    cluster, dsn = test_database()
    times: dict[str, list[float]] = {name: [] for name in (
        "import textual.app", "minimal Textual app", "spfp-console console",
        "console: session open", "demo: server ready", "demo: first frame", "demo: console part")}
    try:
        with tempfile.TemporaryDirectory(prefix="spfp-bench-startup-") as cwd:
            time_console(env, size, dsn, cwd)  # warm the page cache, untimed
            for _ in range(args.runs):
                times["import textual.app"].append(time_import(env))
                times["minimal Textual app"].append(time_minimal(env, size))
                first, opened = time_console(env, size, dsn, cwd)
                times["spfp-console console"].append(first)
                times["console: session open"].append(opened)
            for _ in range(args.demo_runs):
                server, frame = time_demo(env, size, cwd)
                times["demo: server ready"].append(server)
                times["demo: first frame"].append(frame)
                times["demo: console part"].append(frame - server)
    finally:
        cluster.stop()  # type: ignore[attr-defined]
    median = {name: statistics.median(t) for name, t in times.items() if t}
    print(f"command to first frame in a {columns}x{lines} pty, median of {args.runs}"
          f" (demo: {args.demo_runs}); a shared machine, so figures are noisy:")
    for name, value in median.items():
        spread = f"{min(times[name]):.3f}-{max(times[name]):.3f}"
        print(f"  {name:>22}: {value:.3f} s  (range {spread})")
    console = median["spfp-console console"]
    print(f"console vs import textual.app: {console / median['import textual.app']:.1f}x;"
          f" vs a minimal Textual app's first frame:"
          f" {console / median['minimal Textual app']:.1f}x; target: under 1 s"
          f" ({'met' if console < 1.0 else 'NOT met'})")
    opened = median["console: session open"]
    print(f"console's session open vs import textual.app:"
          f" {opened / median['import textual.app']:.1f}x; vs its first frame:"
          f" {opened / console:.2f}x")
    if "demo: console part" in median:
        part = median["demo: console part"]
        print(f"demo's console part vs the console command: {part / console:.1f}x"
              f" (the server's part, {median['demo: server ready']:.1f} s, is initdb,"
              " start, schema and sample data)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
