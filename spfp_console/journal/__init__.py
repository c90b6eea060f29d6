"""The deployment journal: a signed, tamper-evident record of a deployment session.

``canonical`` says what the bytes are and how they are hashed, ``record`` writes a log
(the engine's event callback appends to it, signing checkpoints when a key is at hand),
``read`` reads it back incrementally (one reader for verify, export and replay),
``verify`` checks the hash chain and the signatures, ``sign`` picks the key and makes and
checks SSHSIG signatures, ``export`` turns a log into a human report.  Passwords are kept
out of all of them by ``spfp_console.redact``.  Nothing here needs a database or Textual.
"""

from __future__ import annotations

import importlib
from typing import Any

# Names are loaded on first use (PEP 562): the CLI builds its parser without paying for
# cryptography, tomllib and the exporter, which only verify/sign/export need.
_LAZY = {
    "Journal": "read", "JournalEntry": "read", "JournalFormatError": "read",
    "LogReader": "read", "read_journal": "read",
    "DEFAULT_LOG_DIR": "record", "JournalError": "record", "JournalWriter": "record",
    "SessionHeader": "record", "Target": "record",
    "Redactor": "spfp_console.redact", "redact_conninfo": "spfp_console.redact",
    "secrets_in_conninfo": "spfp_console.redact",
    "DEFAULT_NAMESPACE": "constants", "sign_log": "sign", "verify_signature": "sign",
    "Signer": "sign", "SigningError": "sign", "resolve_signer": "sign",
    "VerifyResult": "verify", "verify_chain": "verify", "verify_log": "verify",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    full = module if "." in module else f"{__name__}.{module}"
    return getattr(importlib.import_module(full), name)
