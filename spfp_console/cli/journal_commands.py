"""``spfp-console verify | sign | export | approve``: the journal's command-line face.

``cli.py`` calls ``add_journal_subcommands(subparsers)``; each subcommand stores its
handler in ``args.handler``.  Exit codes of ``verify`` (``VERIFY_EXIT_CODES``): 0 ok
(intact, complete, signed by an allowed signer), 1 failed, 2 usage or I/O error,
5 unsigned, 6 signer not checked, 7 partially signed (3 and 4 mean other things to the
commands that run migrations, see ``spfp_console.errors``).  Failures are one clear line on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from spfp_console.journal.constants import DEFAULT_NAMESPACE

# The handlers import the journal's modules when they run, so that building the parser
# (every command, including the headless run) does not pay for cryptography and the
# exporter.

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_USAGE = 2
EXIT_UNSIGNED = 5
EXIT_SIGNER_NOT_CHECKED = 6
EXIT_PARTIALLY_SIGNED = 7

VERIFY_EXIT_CODES = {
    "ok": EXIT_OK,
    "failed": EXIT_VERIFY_FAILED,
    "unsigned": EXIT_UNSIGNED,
    "unchecked": EXIT_SIGNER_NOT_CHECKED,
    "partial": EXIT_PARTIALLY_SIGNED,
}
"""``VerifyResult.status`` -> exit code: only a log that is intact, complete and signed by
an allowed signer exits 0, so ``verify ... || stop`` never lets a weaker log through."""

_VERIFY_DESCRIPTION = """\
Check a deployment log: its hash chain (every event, in order, up to the session end)
and who signed it (LOG.sig, and the signed checkpoints inside the log).

The hash chain has no secret: anyone who can write the file can edit it and recompute
every hash.  Only a signature by a key you trust says the console wrote it, so give
--allowed-signers FILE (OpenSSH format: "alice@example ssh-ed25519 AAAA...") and
--identity ID; a signature is then required.

exit codes:
  0  ok: intact, complete, signed by an allowed signer (and --identity, if given)
  1  FAILED: edited, missing, reordered, truncated without a signed prefix; a signature
     that does not match or whose key is not allowed; or no signature although
     --allowed-signers asked for one
  2  usage or I/O error (no such log, unreadable allowed_signers)
  5  UNSIGNED: chain intact but nothing signed it (and no signers were asked for)
  6  SIGNER NOT CHECKED: a valid signature, but without --allowed-signers nobody
     said whose key it is
  7  PARTIALLY SIGNED: signed checkpoints cover the log up to some event; what follows
     is not signed (a session that was killed, or a missing LOG.sig)

A resumed session's log (spfp-console resume) also names the log it resumed and that
log's final hash: verify checks that the old log, when found next to this one or at
its recorded path, still ends on that hash (a broken link exits 1).
"""


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"spfp-console: {message}", file=sys.stderr)
    return code


def _io_message(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def _check_log(path: Path) -> str | None:
    if not path.exists():
        return f"{path}: no such log file"
    if not path.is_file():
        return f"{path}: not a file"
    return None


def _check_allowed_signers(path: str | None) -> str | None:
    """Fail early on a mistyped or malformed file, even if the log turns out unsigned."""
    from spfp_console.journal.sign import SignatureFormatError, parse_allowed_signers

    if path is None:
        return None
    try:
        parse_allowed_signers(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        return f"--allowed-signers {_io_message(exc)}"
    except (SignatureFormatError, UnicodeDecodeError) as exc:
        return f"{path}: {exc}"
    return None


def cmd_verify(args: argparse.Namespace) -> int:
    """Check the chain and, when present or required, the signature.  Prints one line."""
    from spfp_console.journal.sign import SignatureFormatError
    from spfp_console.journal.verify import verify_log

    log = Path(args.log)
    if (problem := _check_log(log)) is not None:
        return _fail(problem)
    allowed = getattr(args, "allowed_signers", None)
    if getattr(args, "require_signature", False) and not allowed:
        return _fail("--require-signature needs --allowed-signers FILE to know who may sign")
    if getattr(args, "identity", None) and not allowed:
        return _fail("--identity needs --allowed-signers FILE to look the identity up in")
    if (problem := _check_allowed_signers(allowed)) is not None:
        return _fail(problem)
    try:
        result = verify_log(
            log,
            allowed_signers=allowed,
            identity=getattr(args, "identity", None),
            namespace=getattr(args, "namespace", None) or DEFAULT_NAMESPACE,
            require_signature=getattr(args, "require_signature", False),
        )
    except OSError as exc:
        return _fail(_io_message(exc))
    except SignatureFormatError as exc:
        return _fail(f"{allowed}: {exc}")
    code = VERIFY_EXIT_CODES[result.status]
    code = _verify_link(log, result, code)
    dsn = getattr(args, "dsn", None)
    if dsn is not None and result.chain.ok:
        return _verify_against_witness(log, dsn, result.line(), code)
    print(f"{log}: {result.line()}", file=sys.stderr if code == EXIT_VERIFY_FAILED else sys.stdout)
    return code


def _verify_link(log: Path, result: Any, code: int) -> int:
    """A resumed session's log: its link to the log it resumed (journal/link.py), one
    line; a broken link fails the verification (exit 1)."""
    from spfp_console.journal.link import NONE, check_link

    chain = result.chain
    if not (chain.ok or chain.intact_but_unfinished):
        return code  # the link itself is not to be trusted: the chain line says why
    try:
        link = check_link(log)
    except OSError as exc:
        print(f"{log}: resumed session link not checked: {_io_message(exc)}", file=sys.stderr)
        return code
    if link.status == NONE:
        return code
    print(f"{log}: {link.line()}", file=sys.stderr if link.failed else sys.stdout)
    return EXIT_VERIFY_FAILED if link.failed else code


def _verify_against_witness(log: Path, dsn: str, verified: str, code: int) -> int:
    """The log against the target's own record of its deployments (engine/witness.py).
    A disagreement fails (exit 1); agreement keeps the log's own verdict (``code``)."""
    from spfp_console.engine import witness
    from spfp_console.engine.connect import Target
    from spfp_console.errors import ConsoleError, error_line
    from spfp_console.journal.witness_check import check_against_witness

    try:
        target = Target(dsn)
        with target.connect() as conn:
            if not witness.table_exists(conn):
                return _fail(f"{log}: {target.display} keeps no deployment record"
                             f" ({witness.TABLE} does not exist): the database cannot vouch"
                             " for this log", EXIT_VERIFY_FAILED)
            rows = witness.rows(conn)
    except ConsoleError as exc:
        return _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - psycopg errors become one line
        import psycopg

        if isinstance(exc, psycopg.Error):
            return _fail(f"{log}: reading {witness.TABLE} failed: {error_line(exc)}")
        raise
    check = check_against_witness(log, rows)
    for line in check.missing_lines():
        print(f"{log}: the database also records a deployment whose log is missing: {line}",
              file=sys.stderr)
    if check.ok:
        print(f"{log}: {verified}; {check.line()}",
              file=sys.stderr if code == EXIT_VERIFY_FAILED else sys.stdout)
        return code
    print(f"{log}: {verified}; {check.line()}", file=sys.stderr)
    return EXIT_VERIFY_FAILED


def cmd_sign(args: argparse.Namespace) -> int:
    """Seal a finished log: write ``LOG.sig`` (refuses a log whose chain is broken)."""
    from spfp_console.journal.sign import SigningError, sign_log
    from spfp_console.journal.verify import verify_chain

    log = Path(args.log)
    if (problem := _check_log(log)) is not None:
        return _fail(problem)
    try:
        chain = verify_chain(log)
        if not chain.ok:
            where = "header" if chain.first_bad_seq == 0 else f"seq {chain.first_bad_seq}"
            return _fail(
                f"{log}: refusing to sign: {where} {chain.problem}: {chain.detail}",
                EXIT_VERIFY_FAILED,
            )
        sig = sign_log(
            log,
            key_file=getattr(args, "key", None),
            namespace=getattr(args, "namespace", None) or DEFAULT_NAMESPACE,
        )
    except SigningError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(_io_message(exc))
    print(f"{log}: signed, signature in {sig}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Write the Markdown or HTML report to ``-o FILE`` or stdout."""
    from spfp_console.journal.export import export_log
    from spfp_console.journal.read import JournalFormatError
    from spfp_console.journal.sign import SignatureFormatError
    from spfp_console.journal.verify import verify_log

    log = Path(args.log)
    if (problem := _check_log(log)) is not None:
        return _fail(problem)
    if (problem := _check_allowed_signers(getattr(args, "allowed_signers", None))) is not None:
        return _fail(problem)
    try:
        verification = verify_log(
            log,
            allowed_signers=getattr(args, "allowed_signers", None),
            identity=getattr(args, "identity", None),
            namespace=getattr(args, "namespace", None) or DEFAULT_NAMESPACE,
        )
        text = export_log(log, args.format, verification)
        output = getattr(args, "output", None)
        if output in (None, "-"):
            sys.stdout.write(text)
        else:
            write_private(Path(output), text)
    except OutputError as exc:
        return _fail(str(exc))
    except (JournalFormatError, SignatureFormatError, ValueError) as exc:
        return _fail(f"{log}: {exc}")
    except OSError as exc:
        return _fail(_io_message(exc))
    if not verification.ok:
        print(f"{log}: exported, but {verification.line()}", file=sys.stderr)
    return EXIT_OK


class OutputError(ValueError):
    """The ``-o`` target is not a file we may write."""


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a new 0600 file, never through a symlink.

    A report repeats the log (who, where, every statement): writing it into an existing
    0644 file would keep that mode, and following a symlink would put it wherever the
    link's owner chose.  A temporary file in the same directory, renamed over the target,
    gives a fresh private inode; a symlink at the target is refused outright.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISLNK(st.st_mode):
            raise OutputError(
                f"-o {path} is a symbolic link: refusing to write the report through it; "
                "remove the link or choose another file"
            )
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"-o {path} is a directory: name a file")
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_approve(args: argparse.Namespace) -> int:
    """Sign an approval of the rehearsal in LOG (four eyes); see journal/approval.py."""
    import getpass

    from spfp_console.journal.approval import (
        ApprovalError,
        approval_from_log,
        parse_duration,
        write_approval,
    )
    from spfp_console.journal.read import JournalFormatError
    from spfp_console.journal.sign import SigningError, signature_path

    log = Path(args.log)
    if (problem := _check_log(log)) is not None:
        return _fail(problem)
    try:
        approval = approval_from_log(log, args.principal or getpass.getuser(),
                                     valid_for=parse_duration(args.expires),
                                     phase=args.phase or "")
        path = write_approval(approval, Path(args.out_dir),
                              key_file=Path(args.key) if args.key else None)
    except ApprovalError as exc:
        return _fail(str(exc), EXIT_VERIFY_FAILED if "refusing" in str(exc)
                     or "did not pass" in str(exc) else EXIT_USAGE)
    except SigningError as exc:
        return _fail(str(exc))
    except JournalFormatError as exc:
        return _fail(f"{log}: {exc}")
    except OSError as exc:
        return _fail(_io_message(exc))
    what = f"sign-off of phase {approval.phase}" if approval.phase else "approved"
    print(f"{log}: {what} by {approval.approver} for {approval.target} until"
          f" {approval.expires_at}: {path} (signature {signature_path(path).name})")
    return EXIT_OK


def _add_signer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allowed-signers",
        metavar="FILE",
        help="OpenSSH allowed_signers file (identity [options] ssh-ed25519 AAAA...)",
    )
    parser.add_argument("--identity", metavar="ID", help="who must have signed (a principal)")
    parser.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help=f"SSH signature namespace (default: {DEFAULT_NAMESPACE})",
    )


def add_journal_subcommands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``verify``, ``sign`` and ``export``; each sets ``handler`` to its cmd_*."""
    verify = subparsers.add_parser(
        "verify",
        help="check a deployment log's hash chain and signature",
        description=_VERIFY_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("log", metavar="LOG")
    _add_signer_options(verify)
    verify.add_argument(
        "--dsn", metavar="DSN", default=None,
        help="also check the log against the target's own record of its deployments"
             " (spfp_console.deployments, written in each committed transaction)")
    verify.add_argument(
        "--require-signature",
        action="store_true",
        help="fail an unsigned log (implied by --allowed-signers, which it needs)",
    )
    verify.set_defaults(handler=cmd_verify)

    sign = subparsers.add_parser(
        "sign",
        help="seal a finished deployment log with your SSH key",
        description="Write LOG.sig (SSHSIG), verifiable with ssh-keygen -Y verify.",
    )
    sign.add_argument("log", metavar="LOG")
    sign.add_argument(
        "--key",
        metavar="FILE",
        help="private key file, or a .pub whose key is in ssh-agent (default: ssh-agent)",
    )
    sign.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help=f"SSH signature namespace (default: {DEFAULT_NAMESPACE})",
    )
    sign.set_defaults(handler=cmd_sign)

    export = subparsers.add_parser(
        "export",
        help="write a human deployment report from a log",
        description="Markdown or a single self-contained HTML file.",
    )
    export.add_argument("log", metavar="LOG")
    export.add_argument("--format", choices=("markdown", "html"), required=True)
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    _add_signer_options(export)
    export.set_defaults(handler=cmd_export)

    approve = subparsers.add_parser(
        "approve",
        help="sign an approval of a passed rehearsal (four eyes)",
        description="Write an approval bound to the rehearsal's runbook, script sha256s,"
        " target, outcome and log hash, with an expiry, signed with your SSH key"
        " (namespace spfp-console-approval@spfp).  A runbook with [approvals] required = N"
        " runs only with N valid approvals by allowed signers other than the executor.",
    )
    approve.add_argument("log", metavar="LOG", help="the deployment log of the rehearsal")
    approve.add_argument(
        "--key", metavar="FILE",
        help="private key file, or a .pub whose key is in ssh-agent (default: ssh-agent)")
    approve.add_argument(
        "--principal", metavar="ID", default=None,
        help="who approves, as the allowed_signers file names you (default: your user name)")
    approve.add_argument("--expires", metavar="DURATION", default="24h",
                         help="how long the approval holds: 30m, 12h, 2d (default %(default)s)")
    approve.add_argument(
        "--phase", metavar="ID", default=None,
        help="sign off that this phase may end (profiles with phase sign-offs, e.g."
             " Enterprise) instead of approving a rehearsal")
    approve.add_argument("--out-dir", metavar="DIR", default="approvals",
                         help="where the approval goes (default ./%(default)s)")
    approve.set_defaults(handler=cmd_approve)
