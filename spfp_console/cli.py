"""Placeholder; the real CLI lands with the engine."""
from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    return 0
