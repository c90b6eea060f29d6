"""sha256 of a file's bytes: the log header's file hashes, the witness record's script
hashes, an approval's rehearsal log.

A module of its own (hashlib only) so that a command without a log (``run --no-log``)
hashes its scripts for the witness record without importing the journal writer and its
TOML serializer (start-up, issue 11)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
