"""The deployment journal: a signed, tamper-evident record of a deployment session.

``record`` writes it (the engine's event callback appends to it), ``read`` parses it back,
``verify`` checks its hash chain and SSH signature, ``sign`` seals it, ``export`` turns it
into a human report, ``redact`` keeps passwords out of all of them.  Nothing here needs a
database or Textual.
"""

from __future__ import annotations

import importlib
from typing import Any

# Names are loaded on first use (PEP 562): the CLI builds its parser without paying for
# cryptography, tomllib and the exporter, which only verify/sign/export need.
_LAZY = {
    "Journal": "read", "JournalEntry": "read", "JournalFormatError": "read",
    "read_journal": "read",
    "DEFAULT_LOG_DIR": "record", "JournalError": "record", "JournalWriter": "record",
    "SessionHeader": "record", "Target": "record",
    "Redactor": "redact", "redact_conninfo": "redact", "secrets_in_conninfo": "redact",
    "DEFAULT_NAMESPACE": "constants", "sign_log": "sign", "verify_signature": "sign",
    "VerifyResult": "verify", "verify_chain": "verify", "verify_log": "verify",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
