"""The core never imports Textual, and a headless command never pays for it."""

from __future__ import annotations

import os
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


def test_help_and_verify_import_neither_textual_nor_psycopg(tmp_path):
    """``--help`` and ``verify LOG`` (a reviewer's commands, often on a laptop with no
    database in sight) pay for neither the UI nor the database driver: the real commands,
    run to their end, then sys.modules is read."""
    from spfp_console import events as ev
    from spfp_console.journal.record import JournalWriter, SessionHeader, Target

    header = SessionHeader(
        runbook_id="r", target=Target(host="h", port=5432, database="d", user="u",
                                      server_version="16"),
        runbook_sha256="0" * 64, files={}, operator={"os_user": "alice"})
    writer = JournalWriter.create(header, log_dir=tmp_path, env={})
    writer.record(ev.ServerNotice(severity="NOTICE", message="hello"))
    writer.end("rolled_back")
    code = (
        "import sys\n"
        "from spfp_console.cli import main\n"
        "try:\n"
        "    code = main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'psycopg'})\n"
        "print('exit', code, 'loaded', loaded)\n"
    )
    outputs = {}
    for argv in (["--help"], ["verify", str(writer.path)]):
        proc = subprocess.run([sys.executable, "-c", code, *argv], cwd=REPO,
                              capture_output=True, text=True)
        last = proc.stdout.strip().splitlines()[-1]
        assert last.startswith("exit ") and last.endswith(" loaded []"), (argv, proc.stdout,
                                                                            proc.stderr)
        outputs[argv[0]] = proc.stdout
    assert "usage: spfp-console" in outputs["--help"]
    # verify did its work: it read the whole chain of the log
    assert "2 events, chain intact" in outputs["verify"], outputs["verify"]


def _textual_imports(argv: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``spfp-console ARGV`` headless with ``-X importtime``: (the process, the
    textual modules it imported)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PG") and k not in ("SSH_AUTH_SOCK", "SPFP_CONSOLE_SIGN_KEY")}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "spfp_console", *argv],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    assert "spfp_console.cli" in imported, "-X importtime reported nothing"
    return proc, [name for name in imported if name.split(".")[0] == "textual"]


def test_headless_commands_run_without_importing_textual(base_db, tmp_path):
    """Not just their --help: check, run and verify doing their work on a real database
    never pay for Textual (about 0.25 s of a command's start-up).  ``demo`` without a
    terminal is checked the same way in tests/test_demo.py."""
    proc, textual = _textual_imports(["--help"], tmp_path)
    assert proc.returncode == 0 and not textual, textual
    proc, textual = _textual_imports(["check", "--dsn", base_db.dsn], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not textual, textual
    proc, textual = _textual_imports(["run", "--yes", "--dsn", base_db.dsn,
                                      "--log-dir", str(tmp_path / "logs")], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not textual, textual
    (log,) = (tmp_path / "logs").glob("*.deploy-log.toml")
    proc, textual = _textual_imports(["verify", str(log)], tmp_path)
    assert proc.returncode == 5, proc.stderr[-2000:]  # intact, unsigned: no key here
    assert not textual, textual


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
