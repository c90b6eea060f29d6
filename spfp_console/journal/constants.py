"""Constants the command line needs before anything heavy is imported."""

from __future__ import annotations

DEFAULT_NAMESPACE = "spfp-console-log@spfp"
"""The SSHSIG namespace deployment logs are signed in (``ssh-keygen -Y ... -n``)."""
