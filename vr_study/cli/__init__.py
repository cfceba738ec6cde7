"""The ``vr-study`` command line: the one place that wires the packages together.

Each submodule registers its subcommands with ``register(subparsers)`` and imports heavy
libraries inside its command functions, so that ``vr-study --help`` stays fast.

Bad input becomes one ``error: ...`` line on stderr and exit code 2, never a traceback:
:class:`vr_study.errors.InputError` from any command; a bad command line (argparse's
usage errors, and numbers that are not finite or out of range, see
:mod:`vr_study.cli._numbers`); and operating-system errors that name a path (an output
folder that is read-only, a directory given as a file, a missing parent folder), which
are the user's environment, not a bug. Every other exception keeps its traceback.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import sys
from typing import Sequence

from vr_study.errors import EXIT_BAD_INPUT, InputError

#: Submodules of vr_study.cli, in the order their commands appear in --help.
COMMAND_MODULES = ("demo", "motion", "body", "render", "generate", "reconstruct", "library", "metrics",
                   "stream", "xr", "study", "tablet", "analyze",
                   "web")


class UsageError(Exception):
    """A bad command line (raised instead of argparse's usage text and exit)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    from vr_study.cli._numbers import check_numbers

    parser = _Parser(
        prog="vr-study",
        description="VR user studies of emotional, speech-driven SMPL-X avatar animation.")
    parser.add_argument("--version", action="version", version="vr-study 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"vr_study.cli.{name}").register(sub)
    check_numbers(parser)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _os_error_line(e: OSError) -> str | None:
    """``path: reason`` for an OS error about a named file, else None (then it is no user error)."""
    if e.filename is None:
        return None
    where = f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 is not None else "")
    reason = e.strerror or type(e).__name__
    fix = {errno.EACCES: "choose a folder you may write to, or fix its permissions",
           errno.EPERM: "choose a folder you may write to, or fix its permissions",
           errno.EROFS: "the file system is read-only; choose another folder",
           errno.ENOENT: "check the path (its folder must exist)",
           errno.ENOTDIR: "a part of the path is a file, not a folder",
           errno.EISDIR: "give a file name, not a folder",
           errno.ENOSPC: "free some disk space",
           errno.EEXIST: "choose another name or remove the existing file"}.get(e.errno or 0, "check the path")
    return _one_line(f"{where}: {reason}; {fix}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT if args.command is None else 0
    try:
        rc = args.func(args)
    except InputError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:
        line = _os_error_line(e)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
