"""`COMMAND --help` is where an operator on a bastion host looks before running it: what
the command does, what it changes, and what its exit codes mean."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from clikit import Cli, clean_env

from spfp_console.cli.entrypoint import build_parser

REPO = Path(__file__).resolve().parents[2]
EXIT_OK = 0

# command: (a phrase saying what it does, a phrase saying what it changes)
SAYS = {
    "check": ("read-only checks of the target", "Changes nothing in the database"),
    "rehearse": ("then rolls the transaction back", "Changes no schema or rows, but holds"
                                                    " the locks a real run takes"),
    "run": ("executes the migration on the target in one transaction",
            "Changes the schema when it commits"),
    "validate": ("checks every object of the migration", "Changes nothing in the database"),
    "rollback": ("runs\nthe runbook's rollback script", "DESTROYS the data"),
}


def _help(cli: Cli, command: str) -> str:
    result = cli(command, "--help", env=clean_env(cli.cwd, COLUMNS="80"))
    assert result.rc == EXIT_OK, str(result)
    return result.out


@pytest.mark.parametrize("command", sorted(SAYS))
def test_help_describes_the_command_and_its_exit_codes(cli: Cli, command: str) -> None:
    text = _help(cli, command)
    description = text.split("\n\n", 1)[1].split("\noptions:", 1)[0]
    does, changes = SAYS[command]
    assert does in description, description
    assert changes in description, description
    assert "deployment log" in description, description
    epilog = text.split("\nexit codes:\n", 1)[1]
    codes = re.findall(r"(?m)^  (\d+)\s+\S", epilog)
    confirmed = ["3", "4"] if command in ("run", "rollback") else []
    assert codes == ["0", "1", "2", *confirmed, "130"], epilog
    assert all(len(line) <= 80 for line in text.splitlines()), text


@pytest.mark.parametrize("command", sorted(SAYS))
def test_log_dir_help_promises_no_signature(cli: Cli, command: str) -> None:
    """A log is unsigned unless a key is given: --log-dir must not say "signed"."""
    text = _help(cli, command)
    option = re.search(r"(?ms)^  --log-dir LOG_DIR(.*?)^  --", text)
    assert option, text
    assert "deployment log" in option.group(1)
    assert "sign" not in option.group(1)


def test_readme_says_the_speedups_need_run_performance() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "spfp-console run --performance" in readme
    before_screenshot = readme.split("![run: the paper's claims, measured]", 1)[0]
    claims = before_screenshot.rstrip().rsplit("\n\n", 1)[1]
    assert "run --performance" in claims, claims


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _defaults(parser: argparse.ArgumentParser) -> dict[str, object]:
    return {a.dest: a.default for a in parser._actions}


def test_a_command_line_builds_only_its_command_with_the_same_options_and_help() -> None:
    """``build_parser(command)`` (what ``main`` builds for ``spfp-console COMMAND ...``)
    must be the full parser's COMMAND: the same --help, options and defaults."""
    full = _subcommands(build_parser())
    assert {"check", "run", "console", "replay", "demo", "sample-data", "verify", "approve",
            "lint", "resume"} <= set(full)
    for name, whole in full.items():
        alone = _subcommands(build_parser(name))
        assert name in alone and len(alone) < len(full), (name, sorted(alone))
        assert alone[name].format_help() == whole.format_help(), name
        assert _defaults(alone[name]) == _defaults(whole), name
    # anything else (an option first, a typo) gets every command, for the usage error
    assert set(_subcommands(build_parser("--version"))) == set(full)
    assert set(_subcommands(build_parser("rnu"))) == set(full)
