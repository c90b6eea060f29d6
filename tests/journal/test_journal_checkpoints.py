"""Signing by default, signed checkpoints, and what verify says about each kind of log.

Real files, real ssh-keygen and a real ssh-agent; no database (see test_journal_session
for the CLI on a real PostgreSQL).
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from journal_testkit import (
    SSH_KEYGEN,
    allowed_signers,
    forge,
    header,
    make_ed25519_key,
    running_ssh_agent,
    sample_events,
    ssh_add,
    ssh_keygen_verify,
)

from spfp_console import events as ev
from spfp_console.cli.journal_commands import add_journal_subcommands
from spfp_console.journal.read import CHECKPOINT, read_journal
from spfp_console.journal.record import JournalWriter
from spfp_console.journal.sign import (
    AgentSigner,
    Ed25519FileSigner,
    SigningError,
    armor,
    checkpoint_message,
    resolve_signer,
)
from spfp_console.journal.verify import verify_log

pytestmark = pytest.mark.skipif(SSH_KEYGEN is None, reason="OpenSSH ssh-keygen is not installed")

IDENTITY = "alice@example.com"


def verify_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and the one line ``spfp-console verify`` prints (stdout or stderr)."""
    parser = argparse.ArgumentParser(prog="spfp-console")
    add_journal_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["verify", *argv])
    code = int(args.handler(args))
    out = capsys.readouterr()
    lines = (out.out + out.err).splitlines()
    assert len(lines) == 1, lines
    return code, lines[0]


def signed_session(log_dir: Path, key: Path, events: list[ev.Event], *, end: bool = True) -> JournalWriter:
    signer = resolve_signer(key, env={})
    assert signer is not None
    writer = JournalWriter.create(header(), log_dir=log_dir, env={}, progress_interval_s=0, signer=signer)
    for event in events:
        writer.record(event)
    if end:
        writer.end("committed")
    return writer


@pytest.fixture
def key_and_signers(tmp_path: Path) -> tuple[Path, Path]:
    key = make_ed25519_key(tmp_path)
    return key, allowed_signers(tmp_path, IDENTITY, key.with_suffix(".pub"))


# --------------------------------------------------------------------------- checkpoints


def test_a_signing_session_checkpoints_the_header_each_phase_and_run_and_seals_the_end(
    tmp_path: Path, key_and_signers: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, allowed = key_and_signers
    writer = signed_session(tmp_path / "logs", key, sample_events())
    journal = read_journal(writer.path)
    kinds = [e.kind for e in journal.entries]
    # Right after the header, and after each result table, decision, run start and run end.
    assert kinds[0] == CHECKPOINT
    for trigger in ("result_table", "override_recorded", "run_started", "run_finished",
                    "rollback_decision"):
        for i, kind in enumerate(kinds):
            if kind == trigger:
                assert kinds[i + 1] == CHECKPOINT, (trigger, kinds)
    assert kinds[-1] == "session_ended" and writer.signature_path == Path(f"{writer.path}.sig")
    # The domain events read back unchanged: checkpoints are the journal's own records.
    assert [e.event() for e in journal.entries[:-1] if e.event() is not None] == sample_events()
    assert journal.header["signing_key"] == resolve_signer(key, env={}).fingerprint  # type: ignore[union-attr]

    code, line = verify_cli([str(writer.path), "--allowed-signers", str(allowed), "--identity", IDENTITY],
                            capsys)
    assert code == 0, line
    assert f"ok: {len(kinds)} events, chain intact, session committed; signed by {IDENTITY}" in line
    assert ssh_keygen_verify(writer.path, allowed, IDENTITY).returncode == 0

    # A checkpoint is an SSHSIG over a documented message: stock OpenSSH checks it too.
    point = journal.entries[kinds.index("run_finished") + 1].record
    sig = tmp_path / "checkpoint.sig"
    sig.write_text(armor(base64.b64decode(point["signature"])))
    message = tmp_path / "checkpoint.msg"
    message.write_bytes(checkpoint_message(point["signed_seq"], point["prev"]))
    proc = ssh_keygen_verify(message, allowed, IDENTITY, signature=sig)
    assert proc.returncode == 0, proc.stderr
    message.write_bytes(checkpoint_message(point["signed_seq"] - 1, point["prev"]))
    assert ssh_keygen_verify(message, allowed, IDENTITY, signature=sig).returncode != 0


_KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from spfp_console import events as ev
    from spfp_console.journal.record import JournalWriter, SessionHeader, Target
    from spfp_console.journal.sign import resolve_signer

    writer = JournalWriter.create(
        SessionHeader(runbook_id="killed", target=Target(database="app"), operator={"os_user": "t"}),
        log_dir=Path(sys.argv[1]), env={}, signer=resolve_signer(Path(sys.argv[2]), env={}),
    )
    writer.record(ev.ResultTable(title="Preflight", source="preflight", columns=("check",),
                                 rows=(("ok",),), passed=True))
    writer.record(ev.RunStarted(mode="run", script="m.sql", statements=10**6))
    print(writer.path, flush=True)
    i = 0
    while True:  # the run: statements, never a checkpoint until it finishes
        writer.record(ev.StatementStarted(index=i, file="m.sql", line=i, sql="SELECT " + "1, " * 500 + "1;"))
        writer.record(ev.StatementFinished(index=i, file="m.sql", line=i, duration_s=0.001, status="SELECT 1"))
        i += 1
    """
)


def test_a_sigkilled_session_leaves_a_signed_prefix_and_a_marked_unsigned_tail(
    tmp_path: Path, key_and_signers: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, allowed = key_and_signers
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(tmp_path / "logs"), str(key)],
        stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout is not None
        log = Path(proc.stdout.readline().strip())
        deadline = time.monotonic() + 30
        while log.stat().st_size < 400_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not Path(f"{log}.sig").exists()

    result = verify_log(log, allowed_signers=allowed, identity=IDENTITY)
    assert result.status == "partial", result.line()
    journal = read_journal(log)
    run_started = next(e for e in journal.entries if e.kind == "run_started")
    # checkpoint (header), preflight, checkpoint, run_started, checkpoint (signs seq 4), ...
    assert result.checkpoints.signed_through == run_started.seq == 4
    after = result.chain.events - 4
    assert after > 10
    code, line = verify_cli([str(log), "--allowed-signers", str(allowed), "--identity", IDENTITY], capsys)
    assert code == 7
    assert line.startswith(f"{log}: PARTIALLY SIGNED: signed up to event 4, {after} event(s) after it unsigned; "
                           f"signed by {IDENTITY}")
    assert "the log ends without a session end record" in line
    # The signed part is not vouched for by a stranger's allowed_signers.
    stranger = make_ed25519_key(tmp_path, "stranger")
    other = allowed_signers(tmp_path, IDENTITY, stranger.with_suffix(".pub"), name="other_signers")
    code, line = verify_cli([str(log), "--allowed-signers", str(other), "--identity", IDENTITY], capsys)
    assert code == 1 and "FAILED: checkpoint seq 1 unknown signer" in line


# --------------------------------------------------------------------------- forged logs


def _edit_statements(entries: list[dict[str, object]]) -> list[dict[str, object]]:
    for entry in entries:
        if entry["kind"] == "statement_started":
            entry["sql"] = "DROP TABLE orders;"
    return entries


def test_a_forged_log_without_its_signature_fails_the_reviewers_command(
    tmp_path: Path, key_and_signers: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, allowed = key_and_signers
    reviewer = ["--allowed-signers", str(allowed), "--identity", IDENTITY]
    log = signed_session(tmp_path / "logs", key, sample_events()).path
    assert verify_cli([str(log), *reviewer], capsys)[0] == 0

    # Edit events, recompute the chain, delete the .sig: the chain alone is intact ...
    original = log.read_bytes()
    without_checkpoints = forge(original, lambda es: [e for e in _edit_statements(es) if e["kind"] != CHECKPOINT])
    log.write_bytes(without_checkpoints)
    Path(f"{log}.sig").unlink()
    assert verify_log(log).chain.ok
    assert b"DROP TABLE orders" in log.read_bytes()
    # ... but the reviewer's command fails, and plain verify is not "ok" either.
    code, line = verify_cli([str(log), *reviewer], capsys)
    assert code == 1 and "FAILED: unsigned: a signature is required" in line
    code, line = verify_cli([str(log)], capsys)
    assert code == 5 and "UNSIGNED:" in line and "proves nothing" in line

    # Keeping the old checkpoints does not help: those after the edit signed another chain.
    log.write_bytes(forge(original, _edit_statements))
    code, line = verify_cli([str(log), *reviewer], capsys)
    assert code == 1 and "FAILED: checkpoint seq" in line and " mismatch: the signature does not match" in line
    code, _ = verify_cli([str(log)], capsys)
    assert code == 1

    # Re-signing with the forger's own key: the math holds, the signer is not allowed.
    mallory = make_ed25519_key(tmp_path, "mallory")
    forged = signed_session(tmp_path / "forged", mallory, sample_events()).path
    code, line = verify_cli([str(forged), *reviewer], capsys)
    assert code == 1 and "FAILED: checkpoint seq 1 unknown signer" in line


def test_a_log_signed_by_any_key_is_not_plain_ok_without_allowed_signers(
    tmp_path: Path, key_and_signers: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, _ = key_and_signers
    log = signed_session(tmp_path / "logs", key, sample_events()[:3]).path
    code, line = verify_cli([str(log)], capsys)
    assert code == 6
    assert "SIGNER NOT CHECKED:" in line and "pass --allowed-signers FILE --identity ID" in line


def test_a_complete_log_whose_seal_is_missing_is_partially_signed(
    tmp_path: Path, key_and_signers: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, allowed = key_and_signers
    log = signed_session(tmp_path / "logs", key, sample_events()).path
    Path(f"{log}.sig").unlink()
    code, line = verify_cli([str(log), "--allowed-signers", str(allowed)], capsys)
    assert code == 7
    assert "PARTIALLY SIGNED" in line and "no valid LOG.sig seals the end" in line


# --------------------------------------------------------------------------- which key


def test_resolve_signer_explicit_configured_off_and_broken_keys(tmp_path: Path) -> None:
    key = make_ed25519_key(tmp_path)
    with pytest.raises(SigningError, match=r"cannot read key /nonexistent: No such file"):
        resolve_signer(Path("/nonexistent"), env={})
    assert isinstance(resolve_signer(key, env={}), Ed25519FileSigner)
    configured = {"SPFP_CONSOLE_SIGN_KEY": str(key)}
    assert isinstance(resolve_signer(None, env=configured), Ed25519FileSigner)
    with pytest.raises(SigningError, match=r"^\$SPFP_CONSOLE_SIGN_KEY: cannot read key"):
        resolve_signer(None, env={"SPFP_CONSOLE_SIGN_KEY": str(tmp_path / "gone")})
    assert resolve_signer(None, env={"SPFP_CONSOLE_SIGN_KEY": "none"}) is None
    assert resolve_signer(Path("none"), env=configured) is None
    assert resolve_signer(None, env={}) is None  # no key at hand: unsigned, not an error
    assert resolve_signer(None, env={"SSH_AUTH_SOCK": str(tmp_path / "no-agent")}) is None
    rsa = tmp_path / "id_rsa"
    subprocess.run([str(SSH_KEYGEN), "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(rsa)], check=True)
    with pytest.raises(SigningError, match=r"^--sign-key: ssh-keygen with .*id_rsa is not an ed25519 key"):
        resolve_signer(rsa, env={})
    not_a_key = tmp_path / "not-a-key"
    not_a_key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(SigningError, match="not an OpenSSH private key"):
        resolve_signer(not_a_key, env={})


def test_the_agents_key_signs_by_default_in_process(
    tmp_path: Path, key_and_signers: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, allowed = key_and_signers
    with running_ssh_agent(tmp_path) as agent_env:
        assert resolve_signer(None, env=agent_env) is None  # an empty agent: unsigned
        ssh_add(key, agent_env)
        key.unlink()  # only the agent can sign now
        signer = resolve_signer(None, env=agent_env)
        assert isinstance(signer, AgentSigner) and "ssh-agent key alice" in signer.description
        writer = JournalWriter.create(header(), log_dir=tmp_path / "logs", env={}, signer=signer)
        writer.record(ev.RunStarted(mode="run", script="m.sql", statements=1))
        writer.end("committed")
    code, line = verify_cli([str(writer.path), "--allowed-signers", str(allowed), "--identity", IDENTITY],
                            capsys)
    assert code == 0, line
    assert ssh_keygen_verify(writer.path, allowed, IDENTITY).returncode == 0


def test_a_passphrase_protected_key_must_be_in_the_agent(tmp_path: Path) -> None:
    key = tmp_path / "id_locked"
    subprocess.run([str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "secret phrase", "-C", IDENTITY,
                    "-f", str(key)], check=True)
    with pytest.raises(SigningError, match="passphrase-protected and not in ssh-agent: run `ssh-add"):
        resolve_signer(key, env={})
    with running_ssh_agent(tmp_path) as agent_env:
        with pytest.raises(SigningError, match="passphrase-protected"):
            resolve_signer(key, env=agent_env)
        subprocess.run(["ssh-add", "-q", str(key)], env={**agent_env, "SSH_ASKPASS": str(_askpass(tmp_path)),
                                                          "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"},
                       check=True, capture_output=True, stdin=subprocess.DEVNULL)
        signer = resolve_signer(key, env=agent_env)
        assert isinstance(signer, AgentSigner)
        assert signer.sign(b"probe")


def _askpass(directory: Path) -> Path:
    script = directory / "askpass.sh"
    script.write_text("#!/bin/sh\necho 'secret phrase'\n")
    script.chmod(0o700)
    return script


def test_an_agent_that_goes_away_mid_session_does_not_fail_it(
    tmp_path: Path, key_and_signers: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # What a forwarded agent does when the SSH link drops: the run must not fail for it.
    key, allowed = key_and_signers
    with running_ssh_agent(tmp_path) as agent_env:
        ssh_add(key, agent_env)
        signer = resolve_signer(None, env=agent_env)
        writer = JournalWriter.create(header(), log_dir=tmp_path / "logs", env={}, signer=signer)
        writer.record(ev.RunStarted(mode="run", script="m.sql", statements=1))
    writer.record(ev.StatementStarted(index=0, file="m.sql", line=1, sql="SELECT 1;"))
    writer.record(ev.RunFinished(mode="run", outcome="committed", duration_s=0.1))  # no raise
    assert writer.signing_error is not None and "cannot reach ssh-agent" in writer.signing_error
    writer.end("committed")
    assert writer.signature_path is None
    ended = read_journal(writer.path).ended
    assert ended is not None and "cannot reach ssh-agent" in ended.record["signing_failed"]
    code, line = verify_cli([str(writer.path), "--allowed-signers", str(allowed)], capsys)
    assert code == 7 and "signed up to event 2, 4 event(s) after it unsigned" in line
