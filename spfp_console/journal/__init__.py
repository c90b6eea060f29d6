"""The deployment journal: a signed, tamper-evident record of a deployment session.

``record`` writes it (the engine's event callback appends to it), ``read`` parses it back,
``verify`` checks its hash chain and SSH signature, ``sign`` seals it, ``export`` turns it
into a human report, ``redact`` keeps passwords out of all of them.  Nothing here needs a
database or Textual.
"""

from __future__ import annotations

from spfp_console.journal.read import Journal, JournalEntry, JournalFormatError, read_journal
from spfp_console.journal.record import (
    DEFAULT_LOG_DIR,
    JournalError,
    JournalWriter,
    SessionHeader,
    Target,
)
from spfp_console.journal.redact import Redactor, redact_conninfo, secrets_in_conninfo
from spfp_console.journal.sign import DEFAULT_NAMESPACE, sign_log, verify_signature
from spfp_console.journal.verify import VerifyResult, verify_chain, verify_log

__all__ = [
    "DEFAULT_LOG_DIR",
    "DEFAULT_NAMESPACE",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalFormatError",
    "JournalWriter",
    "Redactor",
    "SessionHeader",
    "Target",
    "VerifyResult",
    "read_journal",
    "redact_conninfo",
    "secrets_in_conninfo",
    "sign_log",
    "verify_chain",
    "verify_log",
    "verify_signature",
]
