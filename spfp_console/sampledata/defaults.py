"""Defaults the command line needs without importing the generator."""

from __future__ import annotations

DEFAULT_SEED = 20260216
"""The seed of the standard sample data set (the migration's date)."""
