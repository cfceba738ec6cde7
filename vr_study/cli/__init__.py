"""The ``vr-study`` command line: the one place that wires the packages together.

Each submodule registers its subcommands with ``register(subparsers)`` and imports heavy
libraries inside its command functions, so that ``vr-study --help`` stays fast.
Bad input (:class:`vr_study.errors.InputError`) becomes one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from vr_study.errors import EXIT_BAD_INPUT, InputError

#: Submodules of vr_study.cli, in the order their commands appear in --help.
COMMAND_MODULES = ("demo", "motion", "body", "render", "generate", "reconstruct", "library", "metrics",
                   "stream", "xr", "study", "tablet", "analyze")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vr-study",
        description="VR user studies of emotional, speech-driven SMPL-X avatar animation.")
    parser.add_argument("--version", action="version", version="vr-study 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"vr_study.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT if args.command is None else 0
    try:
        rc = args.func(args)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
