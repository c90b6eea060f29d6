"""The execution engine: connect, split, execute, preflight, rehearse, validate, roll back.

Nothing here imports Textual: the CLI, the journal, the TUI and the tests drive the same
code and consume the same typed events (:mod:`spfp_console.events`).
"""
