"""`bash .ci/install` on a stock Debian/Ubuntu machine: with the distribution's Python,
whose global interpreter refuses `pip install` (PEP 668), into a venv of its own.

Run as a user would, in a copy of the checkout with PATH=/usr/bin:/bin, so the
interpreter running these tests (pyenv, a venv) cannot stand in for the system one.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packagingkit import REPO, copy_checkout, readme_setup_commands, stock_env

STOCK_PATH = "/usr/bin:/bin"
MIN = (3, 11)


def _version_of(python: str) -> tuple[int, int] | None:
    proc = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                          capture_output=True, text=True, env=stock_env())
    if proc.returncode != 0:
        return None
    major, minor = proc.stdout.split()
    return int(major), int(minor)


def _python_the_script_should_pick() -> str | None:
    """python3.12, python3.11, python3: the first on the stock PATH that is 3.11+."""
    for name in ("python3.12", "python3.11", "python3"):
        exe = shutil.which(name, path=STOCK_PATH)
        if exe:
            version = _version_of(exe)
            if version is not None and version >= MIN:
                return exe
    return None


def _install(repo: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", ".ci/install"], cwd=repo, capture_output=True, text=True,
                          env=stock_env(**env), timeout=900)


def _report(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def test_ci_runs_exactly_the_readme_commands() -> None:
    install, run_tests = readme_setup_commands()
    # the installed command is called from the venv the script made, not from PATH
    assert install == "bash .ci/install && .venv/bin/spfp-console demo"
    assert run_tests == ".venv/bin/python -m pytest"
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert ci[-2:] == ["bash .ci/install", run_tests]


@pytest.mark.slow
def test_install_into_a_venv_with_the_distribution_python(tmp_path: Path) -> None:
    expected = _python_the_script_should_pick()
    repo = copy_checkout(tmp_path / "clone")
    first = _install(repo)
    if expected is None:  # a machine without Python 3.11+: refused in one clear line
        assert first.returncode == 2, _report(first)
        assert "needs Python 3.11 or newer" in first.stderr, _report(first)
        return
    assert first.returncode == 0, _report(first)
    assert f"creating the virtual environment .venv with {expected}" in first.stdout

    venv = repo / ".venv"
    cfg = (venv / "pyvenv.cfg").read_text()
    base = re.search(r"(?m)^executable = (.+)$", cfg)
    assert base and os.path.realpath(base.group(1)) == os.path.realpath(expected), cfg
    version = subprocess.run([venv / "bin" / "spfp-console", "--version"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("spfp-console "), version
    where = subprocess.run(
        [venv / "bin" / "python", "-c",
         "import pytest, spfp_console; print(spfp_console.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, env=stock_env())
    assert where.returncode == 0, where.stderr
    # editable: the tests run against the checkout's source
    assert where.stdout.strip() == str(repo / "spfp_console" / "__init__.py")

    # the README's test command on the stock PATH: the checks that call the test extra's
    # tools (ruff, mypy, lint-imports) find them in .venv, not on PATH
    architecture = subprocess.run(
        [venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_architecture.py"],
        capture_output=True, text=True, cwd=repo, env=stock_env(), timeout=600)
    assert architecture.returncode == 0, architecture.stdout[-3000:]

    untouched = subprocess.run([expected, "-c", "import spfp_console"], cwd="/",
                               capture_output=True, text=True, env=stock_env())
    assert untouched.returncode != 0, "the global interpreter got the package"
    assert "No module named 'spfp_console'" in untouched.stderr

    again = _install(repo)
    assert again.returncode == 0, _report(again)
    assert "using the virtual environment .venv" in again.stdout


def _older_python() -> str | None:
    """A real interpreter older than 3.11 on this machine, if there is one."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
    candidates += [f"/usr/bin/python3.{minor}" for minor in (10, 9, 8)]
    for exe in candidates:
        if os.access(exe, os.X_OK):
            version = _version_of(exe)
            if version is not None and (3, 0) <= version < MIN:
                return exe
    return None


def _script_only(tmp_path: Path) -> Path:
    """A directory with just the install script: a refusal must happen before pip."""
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(REPO / ".ci" / "install", repo / ".ci" / "install")
    return repo


def test_install_refuses_a_python_older_than_3_11(tmp_path: Path) -> None:
    old = _older_python()
    if old is None:
        pytest.skip("no Python older than 3.11 on this machine to try")
    repo = _script_only(tmp_path)
    proc = _install(repo, SPFP_PYTHON=old)
    assert proc.returncode == 2, _report(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, _report(proc)
    major, minor = _version_of(old) or (0, 0)
    assert f"SPFP_PYTHON={old} is Python {major}.{minor}." in lines[0]
    assert "spfp-console needs 3.11 or newer" in lines[0]
    assert not (repo / ".venv").exists()


def test_install_refuses_a_missing_interpreter(tmp_path: Path) -> None:
    repo = _script_only(tmp_path)
    proc = _install(repo, SPFP_PYTHON=str(tmp_path / "no-such-python"))
    assert proc.returncode == 2, _report(proc)
    assert proc.stderr.strip() == (
        f".ci/install: SPFP_PYTHON={tmp_path / 'no-such-python'}: no such interpreter;"
        " point it at Python 3.11 or newer"), _report(proc)
    assert not (repo / ".venv").exists()
