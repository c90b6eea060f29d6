"""The headless front end: argparse commands, the terminal printer, the demo walk-through.

It sits beside ``spfp_console.ui`` (the Textual console): both drive the same session
workflows and render the same events; neither holds a workflow of its own.
"""

from __future__ import annotations

from spfp_console.cli.entrypoint import main

__all__ = ["main"]
