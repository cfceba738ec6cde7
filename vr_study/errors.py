"""The one error type users see: a bad input, reported as one line with the fix.

The CLI catches :class:`InputError`, prints ``error: <message>`` on stderr and exits with
code 2; it never shows a traceback for bad input.
"""
from __future__ import annotations

from pathlib import Path

EXIT_BAD_INPUT = 2


class InputError(Exception):
    """Bad input from the user: names the file, the field and the fix.

    >>> str(InputError("clip.npz", "poses", "has shape (10, 7)", "expected (T, 165)"))
    "clip.npz: field 'poses' has shape (10, 7); expected (T, 165)"
    """

    def __init__(self, source: str | Path | None, field: str | None, problem: str, fix: str = ""):
        self.source = str(source) if source is not None else None
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = []
        if self.source:
            parts.append(f"{self.source}:")
        if self.field:
            parts.append(f"field '{self.field}'")
        text = " ".join(parts + [self.problem]) if parts else self.problem
        if self.fix:
            text += f"; {self.fix}"
        return " ".join(text.split())  # always one line

    def __str__(self) -> str:
        return self.message
