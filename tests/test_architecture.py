"""The core never imports Textual, and a headless command never pays for it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str | None:
    """A console script of the test extra: first the one installed beside the interpreter
    running the tests (``.venv/bin/python -m pytest`` does not put ``.venv/bin`` on
    PATH), then PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


def test_import_linter_contract_holds():
    lint_imports = _tool("lint-imports")
    if lint_imports is None:
        pytest.fail("lint-imports (import-linter) is not installed: pip install -e '.[test]'")
    proc = subprocess.run([lint_imports], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 1 kept, 0 broken" in proc.stdout


def test_headless_cli_does_not_import_textual():
    code = (
        "import sys\n"
        "from spfp_console.cli import entrypoint as cli\n"
        "parser = cli.build_parser()\n"
        "for argv in (['check', '--help'], ['run', '--help'], ['verify', '--help']):\n"
        "    try:\n"
        "        parser.parse_args(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "import spfp_console.engine, spfp_console.journal, spfp_console.runbook\n"
        "assert 'textual' not in sys.modules, sorted(m for m in sys.modules if 'textual' in m)\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")


def test_every_core_module_is_under_the_contract():
    """A new top-level module must not slip past the Textual contract unnoticed."""
    import pkgutil
    import tomllib

    import spfp_console

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    (contract,) = config["tool"]["importlinter"]["contracts"]
    covered = set(contract["source_modules"])
    modules = {f"spfp_console.{m.name}" for m in pkgutil.iter_modules(spfp_console.__path__)}
    modules -= {"spfp_console.ui", "spfp_console.__main__"}
    assert modules <= covered, sorted(modules - covered)


def test_ruff_finds_no_defects():
    ruff = _tool("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    proc = subprocess.run([ruff, "check", "--no-cache", "."], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_finds_no_type_errors():
    mypy = _tool("mypy")
    if mypy is None:
        pytest.fail("mypy is not installed: pip install -e '.[test]'")
    proc = subprocess.run([mypy, "--no-incremental"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
