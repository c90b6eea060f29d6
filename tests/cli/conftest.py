"""Fixtures of the CLI tests; the helpers behind them live in ``clikit.py``."""

from __future__ import annotations

from clikit import cli, clean_db, closed_port, dup_db, silent_port

__all__ = ["cli", "clean_db", "closed_port", "dup_db", "silent_port"]
