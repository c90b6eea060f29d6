"""Runbook profiles: the paper's Quick, Guided (recommended) and Enterprise options.

A profile is chosen at the start of a session: which checklist items are required, how
many approvals ``run`` needs, and whether leaving a phase needs a signed sign-off by an
allowed signer other than the executor.  The log names it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spfp_console.deployment import DeploymentSession
from spfp_console.errors import UsageError
from spfp_console.events import ProfileChosen, SessionStarted
from spfp_console.journal.read import read_journal
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook
from spfp_console.session.operator import ScriptedOperator
from spfp_console.session.presentation import describe
from test_approvals import (  # the keys fixture and the helpers of the approvals tests
    _approve,
    _file_into,
    _has_index,
    _rehearsal_log,
    _runbook,
    keys,
)

__all__ = ["keys"]


def _open(db: Any, tmp_path: Path, profile: str | None, runbook: Path = DEFAULT_RUNBOOK
          ) -> DeploymentSession:
    session = DeploymentSession(runbook=load_runbook(runbook), dsn=db.dsn,
                                log_dir=tmp_path / "logs", operator="alice", profile=profile)
    session.open()
    return session


def _required(session: DeploymentSession) -> set[str]:
    return {f"{phase.id}/{item.id}" for phase in session.state.phases
            for item in phase.items if item.required}


def test_quick_requires_fewer_items_than_guided_and_the_log_names_the_profile(
    base_db: Any, tmp_path: Path
) -> None:
    seen: dict[str | None, set[str]] = {}
    for profile in ("quick", "guided", None):
        with _open(base_db, tmp_path / str(profile), profile) as session:
            seen[profile] = _required(session)
            session.close(outcome="ended")
        events = [e.event() for e in read_journal(session.log_path).entries]  # type: ignore[arg-type]
        chosen = [e for e in events if isinstance(e, ProfileChosen)]
        started = next(e for e in events if isinstance(e, SessionStarted))
        assert len(chosen) == 1 and chosen[0].profile == (profile or "guided")
        assert chosen[0].required_items == len(seen[profile])
        assert sum(1 for item in started.items if item[3] == "required") == len(seen[profile])
    assert seen[None] == seen["guided"]  # guided is the default
    assert seen["quick"] < seen["guided"]
    assert "pre-deployment/notify-team" in seen["guided"] - seen["quick"]
    assert "pre-deployment/preflight" in seen["quick"]  # the console's own checks stay
    line = describe(chosen[0])
    assert line is not None and line.text.startswith("profile: Guided (recommended) (")


def test_an_unknown_profile_and_enterprise_without_signers_are_usage_errors(
    base_db: Any, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match=r"unknown profile 'fast' .*quick, guided,"
                                         r" enterprise"):
        _open(base_db, tmp_path, "fast")
    with pytest.raises(UsageError, match=r"profile 'enterprise' needs signed approvals"):
        _open(base_db, tmp_path, "enterprise")
    assert not (tmp_path / "logs").exists()  # refused before anything was written


def test_enterprise_refuses_to_leave_a_phase_without_a_valid_sign_off(
    base_db: Any, keys: dict[str, Path], tmp_path: Path
) -> None:
    runbook = _runbook(tmp_path, required=0)  # the profile asks for two approvals
    approvals = tmp_path / "approvals"
    log = _rehearsal_log(base_db.dsn, runbook, tmp_path / "logs")
    for person in ("bob", "carol"):
        assert _approve(log, keys[person], f"{person}@example.com",
                        tmp_path / "out").returncode == 0
        _file_into(approvals, tmp_path / "out", f"{person}-run")

    operator = ScriptedOperator(name="alice", typed=[None])
    with _open(base_db, tmp_path, "enterprise", runbook) as session:
        chosen = session.state.profile
        assert chosen is not None and chosen.approvals_required == 2 and chosen.phase_signoff

        def refused(expect: str) -> None:
            result = session.deploy(operator)
            assert result.outcome == "refused_by_gate", result
            assert expect in (result.message or ""), result.message
            assert not _has_index(base_db)

        refused("signoffs: 0 valid sign-off(s) of phase pre-deployment of 1 required")
        for who, key, name in (("alice@example.com", "alice", "own"),
                               ("carol@example.com", "mallory", "forged")):
            signed = _approve(log, keys[key], who, tmp_path / "out", "--phase",
                              "pre-deployment")
            assert signed.returncode == 0, signed.stderr
            assert "sign-off of phase pre-deployment by" in signed.stdout
            _file_into(approvals, tmp_path / "out", f"{name}-signoff")
        refused("own-signoff.approval.toml: signed by the executor (alice@example.com)")
        refused("forged-signoff.approval.toml: signature: key SHA256:")

        assert _approve(log, keys["bob"], "bob@example.com", tmp_path / "out", "--phase",
                        "pre-deployment").returncode == 0
        _file_into(approvals, tmp_path / "out", "bob-signoff")
        result = session.deploy(operator)
        assert result.outcome == "committed", result.message
        assert operator.override_requests == []

        # Leaving the execution phase needs its own sign-off: the pre-deployment one (or
        # an approval to run) does not count for it.
        reasons = session.leave_phase("execution")
        assert reasons and reasons[0] == "0 valid sign-off(s) of phase execution of 1 required"
        run_log = session.log_path
        assert run_log is not None
        assert _approve(run_log, keys["carol"], "carol@example.com", tmp_path / "out",
                        "--phase", "execution").returncode == 0
        _file_into(approvals, tmp_path / "out", "carol-execution")
        assert session.leave_phase("execution") == []
        session.close(result)
    gates = [(g.gate, g.passed) for g in session.state.gates]
    assert ("sign-off execution", False) in gates and gates[-1] == ("sign-off execution", True)


def test_the_approve_command_names_a_phase_sign_off_file(
    base_db: Any, keys: dict[str, Path], tmp_path: Path
) -> None:
    runbook = _runbook(tmp_path, required=0)
    with _open(base_db, tmp_path, "quick", runbook) as session:  # no rehearsal in this log
        session.check()
        session.close(outcome="ended")
    no_rehearsal = _approve(session.log_path, keys["bob"], "bob@example.com",  # type: ignore[arg-type]
                            tmp_path / "out")
    assert no_rehearsal.returncode == 2 and "no finished rehearsal" in no_rehearsal.stderr
    signed = subprocess.run(
        [sys.executable, "-m", "spfp_console", "approve", str(session.log_path), "--key",
         str(keys["bob"]), "--principal", "bob@example.com", "--phase", "pre-deployment",
         "--out-dir", str(tmp_path / "out")], capture_output=True, text=True, timeout=60,
        check=False)
    assert signed.returncode == 0, signed.stderr
    [document] = (tmp_path / "out").glob("*.approval.toml")
    assert re.search(r"\.bob-example\.com\.pre-deployment-signoff\.approval\.toml$",
                     document.name)
    assert 'phase = "pre-deployment"' in document.read_text()
