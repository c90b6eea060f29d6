"""Helpers of the packaging tests: a copy of the checkout to build or install from.

The tests never build or install inside the checkout itself: a stale ``build/`` there
would leak into the wheel, and a second ``.venv`` would hide whether the script made
its own.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What a fresh clone does not have (see .gitignore), plus .git itself.
_NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.pyc", "*.egg-info", "build", "dist",
    ".pytest_cache", ".hypothesis", ".mypy_cache", "deploy-logs",
)


def copy_checkout(dst: Path) -> Path:
    """The working tree as a fresh clone would have it (symlinks kept as symlinks)."""
    shutil.copytree(REPO, dst, symlinks=True, ignore=_NOT_IN_A_CLONE)
    return dst


def stock_env(**extra: str) -> dict[str, str]:
    """The caller's environment as on a stock machine: PATH=/usr/bin:/bin and no sign of
    the interpreter that runs the tests (pyenv, an activated venv).  PIP_* and HOME stay:
    they say which package index this machine uses."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("PYENV", "PYTHON", "VIRTUAL_ENV", "CONDA", "PG"))
        and k != "DATABASE_URL"
    }
    env["PATH"] = "/usr/bin:/bin"
    env.update(extra)
    return env


def readme_setup_commands() -> list[str]:
    """The commands of the README's set-up block, without their comments."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Set-up", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README: the set-up section has no ```sh block"
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [c for c in commands if c]
