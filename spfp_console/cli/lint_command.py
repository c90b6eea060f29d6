"""``spfp-console lint [FILE]``: what in a migration blocks writes or is unsafe online.

Reads the file only (no database).  The findings depend on how the file will run, so the
default is how ``spfp-console run`` runs it with the runbook's settings (one transaction,
or online mode when the runbook's ``execution_mode`` says so); ``--online`` and ``--psql``
pick the other two.  Plain output, one line per finding; exit 1 when any finding is an
error, 0 otherwise (warnings only, or none), 2 when the file or the runbook cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_lint_subcommand(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from spfp_console.paths import DEFAULT_RUNBOOK

    p = sub.add_parser(
        "lint", help="flag what in a migration blocks writes or is unsafe online (no database)")
    p.add_argument("file", nargs="?", type=Path, default=None,
                   help="SQL file to lint (default: the runbook's migration)")
    p.add_argument("--runbook", type=Path, default=DEFAULT_RUNBOOK,
                   help="runbook TOML file: its settings say how the file will run"
                        " (default: %(default)s)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--online", action="store_true",
                     help="lint the statements as run --online sends them")
    how.add_argument("--psql", action="store_true",
                     help="lint the file as psql -f runs it: its own BEGIN/COMMIT, no"
                          " timeouts set for it")
    p.add_argument("--json", action="store_true", help="print findings as JSON lines")
    p.set_defaults(handler=cmd_lint)


def cmd_lint(args: argparse.Namespace) -> int:
    from spfp_console.engine.lint import errors, lint_for_runbook
    from spfp_console.engine.script import load_script
    from spfp_console.runbook import load_runbook

    runbook = load_runbook(args.runbook)
    path = args.file or runbook.script("migration")
    script = load_script(path, tolerant=True)
    context, findings = lint_for_runbook(
        script, runbook.settings, online=True if args.online else None, psql=args.psql)
    out = sys.stdout
    for finding in findings:
        if args.json:
            out.write(json.dumps({
                "rule": finding.rule, "severity": finding.severity, "file": finding.file,
                "line": finding.line, "index": finding.index,
                "statement": finding.statement, "why": finding.why, "fix": finding.fix,
            }) + "\n")
        else:
            out.write(finding.one_line() + "\n")
    n_errors = len(errors(findings))
    n_warnings = len(findings) - n_errors
    if not args.json:
        verdict = "clean" if not findings else f"{n_errors} error(s), {n_warnings} warning(s)"
        out.write(f"lint: {path} as {context.label} runs it: {verdict}\n")
    return 1 if n_errors else 0
