"""Colours and marks for the presentation statuses (ok, fail, warn, info ...).

The words come from :mod:`spfp_console.session.presentation`; only the look is chosen here.
"""

from __future__ import annotations

STATUS_STYLE = {
    "ok": "green",
    "fail": "bold red",
    "warn": "yellow",
    "info": "",
    "heading": "bold",
    "progress": "dim",
}

STATEMENT_MARK = {
    "running": ("…", "cyan"),
    "ok": ("✔", "green"),
    "failed": ("✘", "bold red"),
    "skipped": ("-", "dim"),
    "not finished": ("?", "yellow"),
}
"""A statement row's status (see StatementRow.status) as a one-cell mark and its style."""


def style_of(status: str | None) -> str:
    return STATUS_STYLE.get(status or "", "")
