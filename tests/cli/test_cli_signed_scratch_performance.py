"""The CLI options the other CLI tests leave out: --sign-key, rehearse --scratch,
run --performance."""

from __future__ import annotations

import subprocess
from pathlib import Path

from clikit import Cli, deploy_logs, no_traceback, session_outcome

EXIT_OK, EXIT_FAILED = 0, 1
IDENTITY = "operator@spfp"


def _keypair(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", IDENTITY,
                    "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"{IDENTITY} {key.with_suffix('.pub').read_text().split(' ', 2)[0]} "
                       f"{key.with_suffix('.pub').read_text().split()[1]}\n")
    return key, allowed


def test_run_signs_its_log_and_openssh_accepts_it(cli: Cli, tmp_path: Path, clean_db) -> None:
    key, allowed = _keypair(tmp_path)
    result = cli("run", "--yes", "--dsn", clean_db.dsn, "--sign-key", str(key))
    no_traceback(result)
    assert result.rc == EXIT_OK, str(result)
    (log,) = deploy_logs(tmp_path)
    sig = log.with_name(log.name + ".sig")
    assert f"signed: deploy-logs/{sig.name}" in result.out
    assert sig.stat().st_mode & 0o077 == 0
    with open(log, "rb") as data:
        openssh = subprocess.run(
            ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", IDENTITY,
             "-n", "spfp-console-log@spfp", "-s", str(sig)],
            stdin=data, capture_output=True, text=True)
    assert openssh.returncode == 0, openssh.stderr
    verified = cli("verify", str(log), "--allowed-signers", str(allowed),
                   "--identity", IDENTITY, "--require-signature")
    assert verified.rc == EXIT_OK, str(verified)
    assert f"signed by {IDENTITY}" in verified.out
    # one byte changed after signing: both verifiers refuse
    data = bytearray(log.read_bytes())
    data[-20] ^= 0x01
    log.write_bytes(bytes(data))
    assert cli("verify", str(log), "--allowed-signers", str(allowed)).rc == EXIT_FAILED
    with open(log, "rb") as tampered:
        assert subprocess.run(
            ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", IDENTITY,
             "-n", "spfp-console-log@spfp", "-s", str(sig)],
            stdin=tampered, capture_output=True).returncode != 0


def test_scratch_rehearsal_from_the_cli(cli: Cli, tmp_path: Path, clean_db) -> None:
    before = clean_db.schema_dump()
    result = cli("rehearse", "--scratch", "--dsn", clean_db.tcp_dsn(), timeout=180)
    no_traceback(result)
    assert result.rc == EXIT_OK, str(result)
    assert "Scratch rehearsal on a copy of the target's schema - PASS" in result.out
    assert "idempotent: a second run succeeds and changes nothing" in result.out
    assert "identical (pg_dump --schema-only)" in result.out
    assert clean_db.schema_dump() == before
    (log,) = deploy_logs(tmp_path)
    assert session_outcome(log) == "scratch_rehearsal_passed"


def test_run_with_performance_reports_before_and_after(cli: Cli, tmp_path: Path,
                                                       clean_db) -> None:
    result = cli("run", "--yes", "--performance", "--dsn", clean_db.dsn, timeout=180)
    no_traceback(result)
    assert result.rc == EXIT_OK, str(result)
    out = result.out
    assert out.count("Headline query timings") == 2
    assert "claimed vs measured speedup" in out
    for query in ("kanban", "sales-pipeline", "transaction-history", "marketing-calendar",
                  "overdue-tasks"):
        assert query in out
    assert "Kanban board load 30x faster" in out
