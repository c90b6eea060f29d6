"""``spfp-console replay``: a session recorded on a real database, replayed from its log
alone in the console's own widgets; the timeline moves every pane; damaged logs say so."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from console_kit import (
    checklist_prompts,
    open_session,
    result_tables,
    settle,
    sql_log_rows,
    tick,
    type_text,
    wait_until,
)

from spfp_console.errors import EXIT_USAGE, UsageError
from spfp_console.session.timeline import Stamp, Timeline, TrustBadge, timeline_from_log
from spfp_console.ui.app import ConsoleApp
from spfp_console.ui.launch import open_replay
from spfp_console.ui.replay import ReplayApp
from spfp_console.ui.widgets.replay_bars import TimelineBar, TrustBadgeLine
from spfp_console.ui.widgets.runbook_navigator import Checklist, PhaseNavigator

BROKEN_SQL = Path(__file__).resolve().parent.parent / "fixtures" / "broken_migration.sql"


def record_session(db: Any, tmp_path: Path) -> Path:
    """A short real session through the session API: two ticks, a preflight, a rehearsal
    of a migration with three failing statements; returns its closed log."""
    session = open_session(db, tmp_path / "logs", migration=BROKEN_SQL)
    try:
        session.toggle_item("pre-deployment", "read-runbook", True)
        session.toggle_item("pre-deployment", "create-backup", True, evidence="snapshot 42")
        session.check()
        session.rehearse()
    finally:
        session.close()
    assert session.log_path is not None
    return session.log_path


@pytest.fixture
def recorded_log(base_db: Any, tmp_path: Path) -> Path:
    return record_session(base_db, tmp_path)


def navigator_prompts(app: Any) -> list[str]:
    navigator = app.screen_stack[0].query_one(PhaseNavigator)
    return [str(navigator.get_option_at_index(i).prompt) for i in range(navigator.option_count)]


def panes(app: Any) -> dict[str, Any]:
    """What every pane holds (the widgets' data, not pixels)."""
    return {"phases": navigator_prompts(app), "checklist": checklist_prompts(app),
            "sql": sql_log_rows(app) + sql_log_rows(app, headings=True),
            "tables": result_tables(app)}


def bar_text(app: ReplayApp) -> str:
    return app.screen_stack[0].query_one(TimelineBar).text


def badge_text(app: ReplayApp) -> str:
    return str(app.screen_stack[0].query_one(TrustBadgeLine).content)


async def test_a_console_session_replays_to_the_same_panes(base_db, tmp_path):
    session = open_session(base_db, tmp_path / "logs", migration=BROKEN_SQL)
    live = ConsoleApp(session)
    try:
        async with live.run_test(size=(120, 40)) as pilot:
            await settle(live, pilot)
            await tick(live, pilot, "read-runbook")
            await tick(live, pilot, "create-backup", evidence="snapshot 42")
            await pilot.press("p")
            await settle(live, pilot)
            await pilot.press("h")
            await settle(live, pilot)
            seen = panes(live)
    finally:
        session.close()
    assert seen["tables"] and any(row[0] == "✘" for row in seen["sql"])  # worth comparing
    assert "snapshot 42" in seen["checklist"][1]

    replay = open_replay(session.log_path)
    async with replay.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert replay.cursor == len(replay.timeline)  # opens at the end
        assert panes(replay) == seen
        assert replay.state.ended is not None
        assert "session ended" in bar_text(replay)
        # The log is unsigned: the badge says so, and nothing in the panes can act.
        assert badge_text(replay).strip().startswith("UNSIGNED: anyone could have written")
        await pilot.press("enter", "p", "r", "b")
        await pilot.pause()
        assert replay.cursor == len(replay.timeline) and not replay.workers
        # and the checklist's border does not offer the console's tick and run keys
        subtitle = str(replay.screen.query_one(Checklist).border_subtitle)
        assert subtitle == "read-only: ticks as the log recorded them"


async def test_stepping_and_marker_jumps_move_every_pane(base_db, tmp_path):
    log = record_session(base_db, tmp_path)
    replay = open_replay(log)
    timeline = replay.timeline
    total = len(timeline)
    async with replay.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        final = panes(replay)
        await pilot.press("home")
        assert replay.cursor == 0 and f"event 0/{total}" in bar_text(replay)
        first_tick = timeline.next_marker(0, ["tick"])
        assert first_tick is not None
        await pilot.press(*["right"] * first_tick.position)  # one event at a time
        assert replay.cursor == first_tick.position
        assert checklist_prompts(replay)[0].startswith("[x] Read the runbook")
        assert sql_log_rows(replay) == [] and result_tables(replay) == {}
        await pilot.press("left")
        assert replay.cursor == first_tick.position - 1
        assert checklist_prompts(replay)[0].startswith("[ ]")

        blocker = timeline.next_marker(replay.cursor, ["error"])
        await pilot.press("e")  # the preflight's blocker (the migration is broken)
        assert blocker is not None and replay.cursor == blocker.position
        assert "error: blocker:" in bar_text(replay) and sql_log_rows(replay) == []
        await pilot.press("e")  # the first failed statement of the rehearsal
        assert replay.cursor == timeline.next_marker(blocker.position, ["error"]).position
        rows = sql_log_rows(replay)
        assert rows[-1][0] == "✘" and rows[-1][4].startswith("42601")
        assert "error: SQLSTATE 42601" in bar_text(replay)
        assert result_tables(replay)  # the preflight came before the rehearsal
        await pilot.press("left")  # one event back: the statement is still running
        assert sql_log_rows(replay)[-1][0] == "…"
        await pilot.press("e", "e", "e")  # the same error again, then the next two
        assert sql_log_rows(replay)[-1][4].startswith("42883")
        await pilot.press("E")
        assert sql_log_rows(replay)[-1][4].startswith("42703")

        await pilot.press("home", "right_square_bracket")  # any marker: the first tick
        assert replay.cursor == timeline.markers[0].position
        await pilot.press("end", "left_square_bracket")
        assert replay.cursor == timeline.previous_marker(total).position

        await pilot.press("g")
        await type_text(pilot, "3")
        await pilot.press("enter")
        await pilot.pause()
        assert replay.cursor == 3 and f"event 3/{total}" in bar_text(replay)
        assert replay.state == timeline.state_at(3)
        await pilot.press("g")
        await type_text(pilot, "tomorrow")
        await pilot.press("enter")
        await pilot.pause()
        assert replay.cursor == 3  # refused, with a notification saying what to type

        await pilot.press("end")
        assert panes(replay) == final


async def test_playing_follows_the_recorded_times_and_instant_plays_to_the_end(base_db,
                                                                              tmp_path):
    log = record_session(base_db, tmp_path)
    recorded = timeline_from_log(log).timeline
    # The same events one second apart: at 1x the first step takes a visible second.
    timeline = Timeline.of((event, Stamp(at=f"2026-02-16T10:{i // 60:02d}:{i % 60:02d}Z",
                                         t=float(i)))
                           for i, event in enumerate(recorded.events))
    replay = ReplayApp(log, timeline, TrustBadge("unsigned", "UNSIGNED"))
    total = len(timeline)
    async with replay.run_test(size=(80, 24)) as pilot:
        await pilot.press("home", "space")
        assert replay.playing and "▶ playing 1x" in bar_text(replay)
        await pilot.pause(0.3)
        assert replay.cursor == 1  # the first event at once, the second a second later
        await wait_until(pilot, lambda: replay.cursor == 2, timeout=5)
        await pilot.press("space")
        assert not replay.playing
        paused_at = replay.cursor
        await pilot.pause(0.3)
        assert replay.cursor == paused_at
        await pilot.press(*["plus"] * 10)  # past 100x: instant
        assert replay.speed == float("inf") and "instant" in bar_text(replay)
        await pilot.press("space")
        await wait_until(pilot, lambda: replay.cursor == total and not replay.playing,
                         timeout=5)
        assert replay.state == replay.timeline.head
        await pilot.press("minus")
        assert replay.speed == 100


def _seq_of_event_containing(log: Path, needle: bytes) -> int:
    data = log.read_bytes()
    at = data.index(needle)
    start = data.rindex(b"[[event]]", 0, at)
    match = re.search(rb"seq = (\d+)", data[start:at])
    assert match is not None
    return int(match.group(1))


async def test_a_tampered_log_shows_the_tampered_badge_and_still_replays(base_db, tmp_path):
    log = record_session(base_db, tmp_path)
    whole = len(timeline_from_log(log).timeline)
    seq = _seq_of_event_containing(log, b"snapshot 42")
    log.write_bytes(log.read_bytes().replace(b"snapshot 42", b"snapshot 43"))

    replay = open_replay(log)
    assert replay.badge.level == "tampered" and replay.badge.bad_from == seq
    async with replay.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert badge_text(replay).strip().startswith(f"TAMPERED at event {seq}: edited")
        assert len(replay.timeline) == whole  # every event that parses is shown
        assert f"UNVERIFIED from event {seq}" in bar_text(replay)
        assert "snapshot 43" in checklist_prompts(replay)[1]
        await pilot.press("home")
        assert "UNVERIFIED" not in bar_text(replay)


async def test_a_cut_log_says_truncated_and_replays_what_is_left(base_db, tmp_path):
    log = record_session(base_db, tmp_path)
    data = log.read_bytes()
    log.write_bytes(data[: data.rindex(b"[[event]]") + 20])
    replay = open_replay(log)
    assert replay.badge.level == "truncated"
    async with replay.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        events = len(replay.timeline)
        assert badge_text(replay).strip().startswith(f"TRUNCATED after event {events}")
        assert replay.state.ended is None and "session ended" not in bar_text(replay)


def test_what_is_not_a_log_is_one_line(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        open_replay(tmp_path / "missing.log")
    garbage = tmp_path / "garbage.log"
    garbage.write_bytes(b"\x00\xffnot toml at all")
    with pytest.raises(UsageError, match="not a readable deployment log"):
        open_replay(garbage)


def slow_runbook(tmp_path: Path, pause_s: float) -> Path:
    """The real runbook, its migration pausing before COMMIT: the run writes its log in
    two bursts with a quiet stretch between, as a long statement would."""
    from spfp_console.paths import DEFAULT_RUNBOOK
    from spfp_console.runbook import load_runbook

    scripts = load_runbook(DEFAULT_RUNBOOK).scripts
    source = scripts["migration"].path.read_text(encoding="utf-8")
    at = source.rindex("COMMIT;")
    migration = tmp_path / "slow_migration.sql"
    migration.write_text(f"{source[:at]}SELECT pg_sleep({pause_s});\n\n{source[at:]}",
                         encoding="utf-8")
    text = DEFAULT_RUNBOOK.read_text(encoding="utf-8")
    text, n1 = re.subn(r'(?m)^migration = ".*"$', f'migration = "{migration}"', text)
    text, n2 = re.subn(r'(?m)^rollback = ".*"$',
                       f'rollback = "{scripts["rollback"].path}"', text)
    assert n1 == n2 == 1
    runbook = tmp_path / "runbook.toml"
    runbook.write_text(text, encoding="utf-8")
    return runbook


def signing_key(tmp_path: Path) -> tuple[Path, Path]:
    """An ed25519 key and an allowed_signers file naming it alice@example.com."""
    import shutil
    import subprocess

    keygen = shutil.which("ssh-keygen")
    assert keygen is not None, "ssh-keygen is required (.ci/install installs OpenSSH)"
    key = tmp_path / "id_ed25519"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(key)],
                   check=True)
    key_type, blob = key.with_suffix(".pub").read_text().split()[:2]
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"alice@example.com {key_type} {blob}\n")
    return key, allowed


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
async def test_follow_shows_a_concurrent_headless_run_within_a_second(base_db, tmp_path,
                                                                     signed):
    import subprocess
    import sys
    import time

    logs = tmp_path / "logs"
    signing: list[str] = ["--sign-key", "none"]
    allowed = None
    if signed:
        key, allowed = signing_key(tmp_path)
        signing = ["--sign-key", str(key)]
    run = subprocess.Popen(
        [sys.executable, "-m", "spfp_console", "run", "--yes", "--dsn", base_db.dsn,
         "--runbook", str(slow_runbook(tmp_path, 2.0)), "--log-dir", str(logs), *signing],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not list(logs.glob("*.deploy-log.toml")) and run.poll() is None:
            assert time.monotonic() < deadline, "the run wrote no log"
            time.sleep(0.02)
        assert list(logs.glob("*.deploy-log.toml")), run.communicate()
        log = next(logs.glob("*.deploy-log.toml"))
        replay = open_replay(log, follow=True, allowed_signers=allowed,
                             identity="alice@example.com" if signed else None)
        assert replay.badge.level == "live"
        samples: list[tuple[float, int]] = []  # (when, complete events in the file)
        async with replay.run_test(size=(80, 24)) as pilot:
            while replay.badge.level == "live":
                now = time.monotonic()
                assert now < deadline, "the followed session never ended"
                written = log.read_bytes().count(b"[[event]]") - 1  # the last may be torn
                samples.append((now, written))
                for when, count in samples:
                    if when <= now - 1.0:  # written over a second ago: on screen by now
                        assert replay.shown_seq >= count, (when, count, now)
                if replay.badge.level == "live" and replay.shown_seq:
                    assert badge_text(replay).strip() == (
                        f"live, chain intact up to event {replay.shown_seq}")
                    shown = replay.timeline.seq_at(len(replay.timeline))
                    assert shown <= replay.shown_seq  # after it, only checkpoints
                    # a signed log's record 1 is the header's checkpoint: opened just
                    # then (CI did), the badge counts it and the timeline has no event yet
                    assert shown > 0 or (signed and not len(replay.timeline)), (
                        shown, replay.shown_seq, len(replay.timeline))
                await pilot.pause(0.1)
            run.wait(timeout=30)
            await pilot.pause()
            assert run.returncode == 0, run.stderr
            assert max(count for _, count in samples) > 10  # it was watched while running
            assert replay.state.ended is not None and replay.state.ended.outcome == "committed"
            assert replay.cursor == len(replay.timeline)
            assert replay.shown_seq == log.read_bytes().count(b"[[event]]")  # seq 1..N
            assert "session ended: " in bar_text(replay)
            badge = badge_text(replay).strip()
            if signed:
                assert badge.startswith("signed by alice@example.com (SHA256:"), badge
                assert "chain intact" in badge
            else:
                assert badge.startswith("UNSIGNED: anyone could have written this"), badge
            marks = {row[0] for row in sql_log_rows(replay)}
            assert marks == {"✔", "-"}  # BEGIN and COMMIT are skipped: the engine's own
            assert replay.state == timeline_from_log(log).timeline.head  # as a saved log
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def test_replay_without_a_terminal_says_what_to_use_instead(base_db, tmp_path):
    import subprocess
    import sys

    log = record_session(base_db, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "spfp_console", "replay", str(log)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.strip().splitlines() == [
        "spfp-console: the console needs a terminal (stdin and stdout); without one use"
        " spfp-console verify LOG (the trust check) or spfp-console export LOG"]
    missing = subprocess.run([sys.executable, "-m", "spfp_console", "replay",
                              str(tmp_path / "nope.deploy-log.toml")], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
    assert missing.returncode == EXIT_USAGE and len(missing.stderr.strip().splitlines()) == 1
    assert "no such file" in missing.stderr and "Traceback" not in missing.stderr


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.tuples(st.floats(0, 1), st.binary(max_size=8)), min_size=1,
                     max_size=4))
async def test_a_fuzzed_log_never_crashes_replay(recorded_log, tmp_path, cuts):
    """Random splices into a real log: replay opens (or refuses in one line), and every
    key that moves the cursor works on whatever parsed."""
    data = bytearray(recorded_log.read_bytes())
    for where, junk in cuts:
        at = int(where * len(data))
        data[at:at + len(junk)] = junk
    log = tmp_path / "fuzzed.deploy-log.toml"
    log.write_bytes(bytes(data))
    try:
        replay = open_replay(log)
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    async with replay.run_test(size=(80, 24)) as pilot:
        await pilot.press("home", "e", "d", "right_square_bracket", "left", "end", "E")
        await pilot.pause()
        assert replay.return_code is None  # still running: nothing crashed it
        assert replay.state == replay.timeline.state_at(replay.cursor)
        assert badge_text(replay).strip()


# ---------------------------------------------------------------------- written by a test


def _writer(directory: Path) -> Any:
    from spfp_console.journal.record import JournalWriter, SessionHeader, Target

    header = SessionHeader(runbook_id="replay-kit", target=Target(
        host="db", port=5432, database="app", user="alice"))
    return JournalWriter.create(header, log_dir=directory, progress_interval_s=0.0, env={})


def _opening(writer: Any, statements: int) -> None:
    from spfp_console import events as ev

    writer.record(ev.SessionStarted(operator="alice", runbook_id="replay-kit",
                                    phases=(("run", "Run"),),
                                    items=(("run", "backup", "Take a backup", "required",
                                            "", ""),)), durable=False)
    writer.record(ev.RunStarted(mode="run", script="m.sql", statements=statements),
                  durable=False)


def _statements(writer: Any, first: int, count: int, *, progress: int = 0,
                fail_at: int | None = None) -> None:
    from spfp_console import events as ev

    for i in range(first, first + count):
        sql = f"CREATE INDEX idx_{i} ON orders (id);"
        writer.record(ev.StatementStarted(index=i, file="m.sql", line=i, sql=sql),
                      durable=False)
        for step in range(progress):
            writer.record(ev.IndexBuildProgress(index=i, phase="building index",
                                                blocks_done=step, blocks_total=progress),
                          durable=False)
        if i == fail_at:
            writer.record(ev.StatementFailed(index=i, file="m.sql", line=i, sql=sql,
                                             sqlstate="42P07", message="exists",
                                             duration_s=0.1), durable=False)
        else:
            writer.record(ev.StatementFinished(index=i, file="m.sql", line=i,
                                               duration_s=0.1, status="CREATE INDEX"),
                          durable=False)


async def test_a_large_log_is_shown_before_it_is_folded_and_keys_work_meanwhile(tmp_path):
    writer = _writer(tmp_path)
    _opening(writer, 1500)
    _statements(writer, 0, 1500, progress=4, fail_at=1400)
    writer.end("rolled_back")
    log = Path(writer.path)
    whole = timeline_from_log(log).timeline

    replay = open_replay(log)
    timeline = replay.timeline
    assert len(timeline) == len(whole) > 5000 and not timeline.loaded
    assert timeline.markers == whole.markers  # placed before any fold
    async with replay.run_test(size=(80, 24)) as pilot:
        await pilot.press("home")  # at once, loaded or not
        assert replay.cursor == 0 and replay.goal is None
        await pilot.press("end")  # waits for the fold, shown when it gets there
        await wait_until(pilot, lambda: timeline.loaded and replay.cursor == len(timeline))
        assert replay.goal is None and "loading" not in bar_text(replay)
        assert replay.state == whole.head
        failed = whole.next_marker(0, ["error"])
        assert failed is not None and failed.label.startswith("SQLSTATE 42P07")
        await pilot.press("home", "e")  # from the seek points, now that it is folded
        assert replay.cursor == failed.position and sql_log_rows(replay)[-1][0] == "✘"
        assert replay.state == whole.state_at(replay.cursor)


async def test_start_at_puts_the_cursor_where_the_reviewer_asked(tmp_path):
    writer = _writer(tmp_path)
    _opening(writer, 30)
    _statements(writer, 0, 30, fail_at=20)
    writer.end("rolled_back")
    log = Path(writer.path)
    timeline = timeline_from_log(log).timeline
    failed = timeline.next_marker(0, ["error"])
    assert failed is not None

    replay = open_replay(log, start_at="first-error")
    async with replay.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert replay.cursor == failed.position
        assert sql_log_rows(replay)[-1][0] == "✘" and "error: SQLSTATE 42P07" in bar_text(replay)
        await pilot.press("right")  # the timeline works from there as from anywhere
        assert replay.cursor == failed.position + 1
    for where, position in (("start", 0), ("end", len(timeline)), ("12", 12)):
        replay = open_replay(log, start_at=where)
        async with replay.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert replay.cursor == position and f"event {position}/" in bar_text(replay)
            assert replay.state == timeline.state_at(position)
    for where, message in (("99", "past the end"), ("first-tick", "no tick marker"),
                           ("soon", "give start, end, first-error")):
        with pytest.raises(UsageError, match=message) as raised:
            open_replay(log, start_at=where)
        assert "\n" not in str(raised.value)


async def test_start_at_with_follow_starts_there_and_keeps_following(tmp_path):
    """A reviewer joins a live session at its first error: the cursor stays there while
    the writer goes on (the badge and the timeline follow it); end goes to the live end,
    which the cursor then follows."""
    from spfp_console import events as ev

    writer = _writer(tmp_path)
    _opening(writer, 60)
    _statements(writer, 0, 30, fail_at=20)
    log = Path(writer.path)
    failed = timeline_from_log(log).timeline.next_marker(0, ["error"])
    assert failed is not None

    replay = open_replay(log, follow=True, start_at="first-error")
    async with replay.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert replay.cursor == failed.position and replay.following_live
        assert sql_log_rows(replay)[-1][0] == "✘" and "error: SQLSTATE 42P07" in bar_text(replay)
        assert badge_text(replay).strip() == "live, chain intact up to event 62"
        _statements(writer, 30, 10)
        await wait_until(pilot, lambda: replay.shown_seq == 82, timeout=10)
        assert badge_text(replay).strip() == "live, chain intact up to event 82"
        assert replay.cursor == failed.position  # where the reviewer asked, still
        assert f"event {failed.position}/{len(replay.timeline)}" in bar_text(replay)
        await pilot.press("end")
        assert replay.cursor == len(replay.timeline)
        _statements(writer, 40, 5)
        writer.record(ev.ChecklistItemToggled(phase="run", item_id="backup", checked=True,
                                              who="alice"), durable=False)
        await wait_until(pilot, lambda: replay.shown_seq == 93, timeout=10)
        assert replay.cursor == len(replay.timeline)  # at the live end: it follows it
        assert checklist_prompts(replay)[0].startswith("[x] Take a backup")
        writer.end("committed")
        await wait_until(pilot, lambda: replay.follow_done, timeout=10)
        assert badge_text(replay).strip().startswith("UNSIGNED")
        assert replay.state == timeline_from_log(log).timeline.head


async def test_follow_opens_a_long_log_lazily_at_its_end_and_tails_it(tmp_path):
    """--follow on a log that already holds thousands of events: indexed as a saved log
    is (nothing parsed for the first frame, folded after it), a last event still being
    written left to the tail, and every later event shown as it comes."""
    writer = _writer(tmp_path)
    _opening(writer, 2000)
    _statements(writer, 0, 1500, progress=3)
    log = Path(writer.path)
    whole = len(timeline_from_log(log).timeline)
    with log.open("ab") as torn:  # a writer caught in the middle of an event
        torn.write(b"\n[[event]]\nseq = 99999\nat = ")
    replay = open_replay(log, follow=True)
    timeline = replay.timeline
    assert len(timeline) == whole > 5000 and not timeline.loaded
    assert replay.badge.text == f"live, chain intact up to event {whole}"
    data = log.read_bytes()
    log.write_bytes(data[: data.rindex(b"\n[[event]]\nseq = 99999")])  # that write, undone
    async with replay.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        _statements(writer, 1500, 500, fail_at=1900)
        writer.end("rolled_back")
        await wait_until(pilot, lambda: replay.follow_done and timeline.loaded
                         and replay.cursor == len(timeline), timeout=20)
        final = timeline_from_log(log).timeline
        assert len(timeline) == len(final) and replay.state == final.head
        assert timeline.markers == final.markers
        assert replay.state.ended is not None and "session ended" in bar_text(replay)
        assert badge_text(replay).strip().startswith("UNSIGNED")
        await pilot.press("home", "e")  # the markers of the tail are there to jump to
        assert replay.cursor == final.next_marker(0, ["error"]).position


def test_start_at_from_the_command_line_is_checked_before_the_terminal(tmp_path):
    import subprocess
    import sys

    writer = _writer(tmp_path)
    _opening(writer, 2)
    _statements(writer, 0, 2)
    writer.end("committed")
    proc = subprocess.run([sys.executable, "-m", "spfp_console", "replay", str(writer.path),
                           "--start-at", "first-error"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == EXIT_USAGE
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "the log has no error marker" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("damage", ["edited", "missing"])
async def test_follow_goes_on_past_a_break_with_the_bad_region_marked(tmp_path, damage):
    """A writer appends to a log while it is followed; one event is damaged on its way to
    the file: replay shows what follows it, as it would from the saved log."""
    from spfp_console import events as ev

    writer = _writer(tmp_path / "writer")
    followed = tmp_path / "followed.deploy-log.toml"
    copied = 0

    def forward(damage_first: bool = False) -> None:
        nonlocal copied
        data = Path(writer.path).read_bytes()
        new, copied = data[copied:], len(data)
        if damage_first and damage == "edited":
            new = new.replace(b"snapshot 42", b"snapshot 43")
        elif damage_first:  # the first new event never reaches the file
            new = new[new.index(b"\n[[event]]\n", 1):]
        with followed.open("ab") as f:
            f.write(new)

    _opening(writer, 10)
    _statements(writer, 0, 5)
    forward()
    replay = open_replay(followed, follow=True)
    async with replay.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: replay.shown_seq == 12, timeout=10)
        assert badge_text(replay).strip() == "live, chain intact up to event 12"

        writer.record(ev.ChecklistItemToggled(phase="run", item_id="backup", checked=True,
                                              who="alice", evidence="snapshot 42"))
        _statements(writer, 5, 5)
        forward(damage_first=True)
        shown = 12 + (damage == "edited") + 10
        await wait_until(pilot, lambda: len(replay.timeline) == shown, timeout=10)
        assert not replay.follow_done  # still following the writer
        badge = badge_text(replay).strip()
        assert badge.startswith(f"TAMPERED at event 13: {damage}"), badge
        assert replay.cursor == len(replay.timeline)  # the end, past the break
        assert "UNVERIFIED from event 13" in bar_text(replay)
        if damage == "edited":
            assert "snapshot 43" in checklist_prompts(replay)[0]
        await pilot.press("home")
        assert "UNVERIFIED" not in bar_text(replay)
        await pilot.press("end")

        writer.end("committed")
        forward()
        await wait_until(pilot, lambda: replay.follow_done, timeout=10)
        assert badge_text(replay).strip().startswith(f"TAMPERED at event 13: {damage}")
        assert replay.state.ended is not None and replay.state.ended.outcome == "committed"
        assert replay.state == timeline_from_log(followed).timeline.head  # as a saved log


def every_pane(app: Any) -> dict[str, Any]:
    """``panes`` plus the success criteria and the failure guide (drawn from the state's
    derived parts: phase clocks, criteria)."""
    from spfp_console.ui.widgets.paper_package import FailureGuide, SuccessCriteria

    screen = app.screen_stack[0]
    return {**panes(app), "criteria": screen.query_one(SuccessCriteria).text,
            "guide": screen.query_one(FailureGuide).text}


async def test_moving_the_cursor_shows_what_opening_the_log_there_shows(recorded_log):
    """Replay redraws only the panes whose data changed: wherever the keys take the
    cursor, every pane is what a replay opened at that event shows."""
    timeline = timeline_from_log(recorded_log).timeline
    stops: list[int] = []
    replay = open_replay(recorded_log)
    async with replay.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        seen: dict[int, dict[str, Any]] = {}
        for keys in (["home"], ["right_square_bracket"], ["e"], ["left"], ["e", "e"],
                     ["home", "end"], ["E"], ["left_square_bracket"] * 3, ["end"]):
            await pilot.press(*keys)
            await pilot.pause()
            stops.append(replay.cursor)
            seen[replay.cursor] = every_pane(replay)
    assert len(set(stops)) >= 6 and len(timeline) in stops
    for position, shown in seen.items():
        fresh = open_replay(recorded_log, start_at=str(position))
        async with fresh.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert every_pane(fresh) == shown, position


def expected_sql_rows(state: Any) -> list[list[str]]:
    """The SQL log of ``state`` built the plain way, row by row: a run's heading before
    its first statement (what the live console shows as statements stream in)."""
    from spfp_console.ui.widgets.execution import heading_cells, statement_cells

    rows: list[list[str]] = []
    headed = 0
    for row in state.statements:
        while headed < min(row.run, len(state.runs)):
            headed += 1
            rows.append([cell.plain for cell in heading_cells(state.runs[headed - 1])])
        rows.append([cell.plain for cell in statement_cells(row)])
    return rows


async def test_far_jumps_show_the_sql_log_ticks_and_tables_as_they_were(tmp_path):
    """Home, end and seeks across thousands of statements in three runs: the SQL log
    (headings included), the checklist and the result tables are the state's at the new
    cursor, as if it had been stepped there one event at a time."""
    from spfp_console import events as ev
    from spfp_console.ui.widgets.runbook_navigator import item_prompt

    writer = _writer(tmp_path)
    items = tuple(("run", f"item-{i}", f"Item {i}", "required", "", "") for i in range(6))
    writer.record(ev.SessionStarted(operator="alice", runbook_id="replay-kit",
                                    phases=(("run", "Run"),), items=items), durable=False)
    first = 0
    for run, (mode, count) in enumerate((("rehearse", 1200), ("run", 1500),
                                         ("run", 900))):
        writer.record(ev.RunStarted(mode=mode, script="m.sql", statements=count),
                      durable=False)
        _statements(writer, first, count, fail_at=first + count - 1 if run == 1 else None)
        writer.record(ev.ChecklistItemToggled(phase="run", item_id=f"item-{run}",
                                              checked=True, who="alice",
                                              when=f"2026-02-16T10:0{run}:00Z"),
                      durable=False)
        writer.record(ev.ResultTable.checked(title=f"validation {run}", source="validation",
                                             columns=("check", "status"),
                                             rows=[(f"check {run}", "pass")]),
                      durable=False)
        outcome = ("rehearsed", "rolled_back", "committed")[run]
        writer.record(ev.RunFinished(mode=mode, outcome=outcome, duration_s=1.0,
                                     statements_ok=count - (run == 1),
                                     statements_failed=int(run == 1)), durable=False)
        first += count
    writer.end("committed")
    log = Path(writer.path)
    timeline = timeline_from_log(log).timeline
    total = len(timeline)
    assert total > 5000  # opened unfolded: the jumps below go through the seek points

    def as_it_was(app: ReplayApp) -> tuple[Any, ...]:
        state = timeline.state_at(app.cursor)
        phase = state.phases[0] if state.phases else None
        ticks = [str(item_prompt(item)) for item in phase.items] if phase else []
        return expected_sql_rows(state), ticks, sorted(state.tables)

    def shown(app: ReplayApp) -> tuple[Any, ...]:
        rows = app.screen_stack[0].query_one("SqlLog").rows()
        return rows, checklist_prompts(app), sorted(result_tables(app))

    def drawn(widget: Any) -> bool:
        from textual.errors import NoWidget

        try:
            where = widget.screen.find_widget(widget)
        except NoWidget:
            return False
        return bool(where.clip.intersection(where.region))

    def no_table_of_another_time_drawn(app: ReplayApp) -> None:
        from spfp_console.ui.widgets.results import ResultsPane

        pane = app.screen_stack[0].query_one(ResultsPane)
        shown_now = {*pane.tables.values(), *pane.titles.values()}
        others = [w for w in pane.query("DataTable, .result-title") if w not in shown_now]
        assert not any(drawn(widget) for widget in others), app.cursor

    replay = open_replay(log)
    async with replay.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: timeline.loaded or replay.timeline.loaded)
        await wait_until(pilot, lambda: replay.cursor == total)
        middle = timeline.next_marker(0, ["tick"])
        assert middle is not None
        stops = []
        for keys in (["end"], ["home"], ["end"], ["g", *str(middle.position), "enter"],
                     ["home"], ["g", *str(total // 2), "enter"],
                     ["end"], ["e"], ["home"], ["e"]):
            await pilot.press(*keys)
            await pilot.pause()
            stops.append(replay.cursor)
            assert shown(replay) == as_it_was(replay), replay.cursor
            no_table_of_another_time_drawn(replay)
        assert {0, total, middle.position, total // 2} <= set(stops)
        rows, ticks, tables = shown(replay)
        # At the failed statement of the second run: two headings, one failure last.
        assert [row[1] for row in rows if row[0] == "▶"] == ["run 1", "run 2"]
        assert rows[-1][0] == "✘" and len(rows) == 1200 + 1500 + 2
        assert ticks[0].startswith("[x] Item 0") and ticks[1].startswith("[ ] Item 1")
        assert tables == [("validation", "validation 0")]
        # A table with the focus is not left holding it when the tables go (home).
        await pilot.press("end")
        table = replay.screen_stack[0].query("ResultsPane DataTable").first()
        table.focus()
        await pilot.press("home")
        assert replay.focused is not table and replay.cursor == 0
        assert table.has_class("result-table") and not drawn(table)
