"""Fixtures of the CLI tests; the helpers behind them live in ``clikit.py``."""

from __future__ import annotations

from clikit import clean_db, cli, closed_port, dup_db, silent_port

__all__ = ["clean_db", "cli", "closed_port", "dup_db", "silent_port"]
