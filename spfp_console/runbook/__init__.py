"""The runbook: a migration's checklists, scripts, checks and claims, as data."""

from __future__ import annotations

from spfp_console.runbook.loader import RunbookError, load_runbook
from spfp_console.runbook.model import (
    Check,
    ChecklistItem,
    Claim,
    HeadlineQuery,
    Phase,
    Runbook,
    ScriptRef,
    Settings,
)

__all__ = [
    "Check", "ChecklistItem", "Claim", "HeadlineQuery", "Phase", "Runbook", "RunbookError",
    "ScriptRef", "Settings", "load_runbook",
]
