"""Input for the desktop simulator: a scripted input file, and the terminal's keys.

The simulator has no controllers, so hands, head turns and key presses come from a JSON
Lines file (``vr-study xr run --simulate --input-script FILE``), one object per change,
frames not decreasing::

    {"frame": 0, "hand": "right", "aim": [0.1, 1.4, -0.2, 0, 0, 0, 1]}
    {"frame": 30, "hand": "right", "select": true}
    {"frame": 33, "hand": "right", "select": false}
    {"frame": 40, "key": "down"}
    {"frame": 50, "head": [0, 1.6, 0, 0, 0.0998, 0, 0.995]}

``hand`` lines set that hand's ``aim`` pose (STAGE, ``[x, y, z]`` or ``[x, y, z, qx, qy,
qz, qw]``, metres and a unit quaternion; ``null``: untracked) and ``select`` (held or not)
from that frame on; ``key`` lines press one of :data:`~vr_study.xr.panel_source.PANEL_KEYS`
at that frame; ``head`` lines move the scripted head from that frame on. When standard
input is a terminal, the arrow keys, Enter (select) and Backspace (back) are read as well
(:class:`TerminalKeys`).
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vr_study.errors import InputError
from vr_study.xr.input import HANDS, HandInput, InputSnapshot
from vr_study.xr.panel_source import PANEL_KEYS
from vr_study.xr.viewmath import Pose

SIMULATED_PROFILE = "simulator"
"""The ``profile`` a scripted simulator hand reports (there is no OpenXR profile)."""


@dataclass(frozen=True)
class ScriptLine:
    """One line of an input script: at ``frame``, set ``hand``'s fields, press ``key``, or
    move the ``head``. ``fields`` holds the hand fields the line gives."""

    frame: int
    hand: str | None = None
    fields: dict = field(default_factory=dict)
    key: str | None = None
    head: Pose | None = None


def _pose(value, path: Path, lineno: int, name: str) -> Pose | None:
    if value is None:
        return None
    try:
        v = [float(x) for x in value]
        if len(v) not in (3, 7):
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(path, name, f"on line {lineno} is {value!r}",
                         "give [x, y, z] or [x, y, z, qx, qy, qz, qw] (metres, unit quaternion)") from None
    q = np.asarray(v[3:] if len(v) == 7 else (0.0, 0.0, 0.0, 1.0))
    n = float(np.linalg.norm(q))
    if n < 1e-6 or not np.all(np.isfinite(v)):
        raise InputError(path, name, f"on line {lineno} has a zero or non-finite quaternion", "give a unit quaternion")
    return Pose(tuple(v[:3]), tuple(float(x) for x in q / n))


def read_input_script(path: str | Path) -> list[ScriptLine]:
    """Parse an input script (see the module docstring); bad lines raise InputError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, None, f"cannot be read ({type(e).__name__})", "give a JSON Lines input script") from None
    lines: list[ScriptLine] = []
    last = -1
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            raise InputError(path, None, f"line {lineno} is not JSON", "one JSON object per line") from None
        if not isinstance(obj, dict):
            raise InputError(path, None, f"line {lineno} is not a JSON object", "one JSON object per line")
        frame = obj.get("frame")
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
            raise InputError(path, "frame", f"on line {lineno} is {frame!r}", "give a frame index >= 0")
        if frame < last:
            raise InputError(path, "frame", f"on line {lineno} is {frame}, before {last}", "keep frames in order")
        last = frame
        if "key" in obj:
            if obj["key"] not in PANEL_KEYS:
                raise InputError(path, "key", f"on line {lineno} is {obj['key']!r}",
                                 f"use one of {', '.join(PANEL_KEYS)}")
            lines.append(ScriptLine(frame, key=obj["key"]))
        elif "head" in obj:
            head = _pose(obj["head"], path, lineno, "head")
            if head is None:
                raise InputError(path, "head", f"on line {lineno} is null", "give the head pose")
            lines.append(ScriptLine(frame, head=head))
        elif "hand" in obj:
            if obj["hand"] not in HANDS:
                raise InputError(path, "hand", f"on line {lineno} is {obj['hand']!r}", "use left or right")
            fields = {}
            if "aim" in obj:
                fields["aim"] = _pose(obj["aim"], path, lineno, "aim")
            if "select" in obj:
                if not isinstance(obj["select"], (bool, int, float)):
                    raise InputError(path, "select", f"on line {lineno} is {obj['select']!r}", "give true or false")
                fields["select"] = bool(obj["select"])
            lines.append(ScriptLine(frame, hand=obj["hand"], fields=fields))
        else:
            raise InputError(path, None, f"line {lineno} has none of key, head, hand",
                             'e.g. {"frame": 10, "key": "down"}')
    return lines


class ScriptedInput:
    """Plays an input script frame by frame: :meth:`step` -> (snapshot, keys pressed)."""

    def __init__(self, lines: list[ScriptLine], head: Pose):
        self.lines = lines
        self.head = head
        self._next = 0
        self._hands = {h: {"aim": None, "select": False} for h in HANDS}
        self._prev_select = {h: False for h in HANDS}

    def step(self, frame: int, time_s: float) -> tuple[InputSnapshot, list[str]]:
        keys = []
        while self._next < len(self.lines) and self.lines[self._next].frame <= frame:
            line = self.lines[self._next]
            self._next += 1
            if line.key is not None:
                keys.append(line.key)
            elif line.head is not None:
                self.head = line.head
            elif line.hand is not None:
                self._hands[line.hand].update(line.fields)
        hands = {}
        for h in HANDS:
            st = self._hands[h]
            sel = bool(st["select"]) and st["aim"] is not None
            hands[h] = HandInput(h, SIMULATED_PROFILE if st["aim"] is not None else None, st["aim"], None, sel,
                                 sel and not self._prev_select[h])
            self._prev_select[h] = sel
        return InputSnapshot(time_s, self.head, hands), keys


class TerminalKeys:
    """Arrow keys, Enter and Backspace from a terminal on standard input, without blocking.

    Use as a context manager: the terminal is in cbreak mode (no echo, no line buffering)
    inside and restored afterwards. Where standard input is not a terminal, no keys.
    """

    _SEQUENCES = {b"\x1b[A": "up", b"\x1b[B": "down", b"\x1b[C": "right", b"\x1b[D": "left",
                  b"\r": "select", b"\n": "select", b"\x7f": "back", b"\x08": "back"}

    def __init__(self, stream=None):
        self.stream = stream or sys.stdin
        self._saved = None
        self._buf = b""

    def __enter__(self) -> "TerminalKeys":
        try:
            if self.stream.isatty():
                import termios
                import tty
                fd = self.stream.fileno()
                self._saved = termios.tcgetattr(fd)
                tty.setcbreak(fd)
        except (OSError, ValueError, AttributeError):
            self._saved = None
        return self

    def __exit__(self, *exc) -> None:
        if self._saved is not None:
            import termios
            termios.tcsetattr(self.stream.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

    def read(self) -> list[str]:
        """Keys pressed since the last call (one of PANEL_KEYS each)."""
        if self._saved is None:
            return []
        import select
        fd = self.stream.fileno()
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 64)
            if not chunk:
                break
            self._buf += chunk
        return self.parse()

    def parse(self) -> list[str]:
        """Decode the buffered bytes into keys (an incomplete escape sequence waits)."""
        keys = []
        while self._buf:
            for seq, key in self._SEQUENCES.items():
                if self._buf.startswith(seq):
                    keys.append(key)
                    self._buf = self._buf[len(seq):]
                    break
            else:
                if self._buf.startswith(b"\x1b") and len(self._buf) < 3:
                    break  # the rest of an arrow key has not arrived yet
                self._buf = self._buf[1:]  # a key panels do not use
        return keys
