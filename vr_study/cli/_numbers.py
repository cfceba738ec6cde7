"""Number checks for every CLI option, applied once to the whole parser.

Every option declared ``type=float`` refuses ``nan`` and ``inf``; options named in
:data:`RANGES` (by their ``dest``, in any subcommand) must also lie in their range, so that
``--fps 0``, ``--participants 0``, ``--speed nan`` or ``--sigma -1`` end in one ``error:``
line instead of a hang or an empty result. A subcommand that adds an option with one of
these names gets the same check without further code.
"""
from __future__ import annotations

import argparse
import math
from typing import Callable

#: dest -> (lowest, highest, lowest allowed itself?); None = unbounded.
RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    # rates, durations and factors that must be > 0
    **{d: (0.0, None, False) for d in ("fps", "source_fps", "fps_in", "fps_out", "speed", "sigma", "seconds",
                                       "duration", "distance", "chance")},
    # counts that must be >= 1
    **{d: (1, None, True) for d in ("participants", "jobs", "iterations", "frames", "capture_every",
                                    "num_samples")},
    # offsets, indices and seeds that must be >= 0
    **{d: (0, None, True) for d in ("skip_s", "lead", "sample", "seed", "seeds", "redo", "trim")},
    # TCP ports (0 = any free port)
    **{d: (0, 65535, True) for d in ("port", "tablet_port")},
}
#: upper bounds that are not "unbounded" for probabilities
UPPER_OPEN = {"chance": 1.0}


def _checked(base: Callable, dest: str) -> Callable:
    lo, hi, lo_ok = RANGES.get(dest, (None, None, True))
    hi = UPPER_OPEN.get(dest, hi)

    def convert(text: str):
        try:
            value = base(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"'{text}' is not {'an integer' if base is int else 'a number'}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
        if lo is not None and (value < lo or (value == lo and not lo_ok)):
            raise argparse.ArgumentTypeError(f"{text} is out of range; give a number {'>=' if lo_ok else '>'} {lo:g}")
        if hi is not None and (value > hi or (dest in UPPER_OPEN and value >= hi)):
            raise argparse.ArgumentTypeError(f"{text} is out of range; give a number "
                                             f"{'<' if dest in UPPER_OPEN else '<='} {hi:g}")
        return value

    convert.__name__ = base.__name__  # argparse names the type in its messages
    return convert


def check_numbers(parser: argparse.ArgumentParser) -> None:
    """Wrap every int/float option of ``parser`` and its subcommands with the checks above."""
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in set(action.choices.values()):
                check_numbers(sub)
        elif action.type in (int, float):
            action.type = _checked(action.type, action.dest)
