"""Motion file formats: read any supported SMPL-X motion file into a MotionClip, write BEAT2.

Each format lives in its own module with ``read(path, **options) -> MotionClip``; this
module detects the format and dispatches. The canonical on-disk layout is BEAT2/EMAGE
``.npz`` (see :mod:`vr_study.formats.beat2`).
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Callable

from vr_study.errors import InputError
from vr_study.npy_header import check_npy_headers
from vr_study.motion import MotionClip

from . import amass, amuse, beat2, pixie, talkshow
from ._npz import load_arrays

Reader = Callable[..., MotionClip]

#: format name -> reader. ``pixie`` reads a folder (or .npz) of per-frame PIXIE parameters.
READERS: dict[str, Reader] = {
    "beat2": beat2.read,
    "amass": amass.read,
    "amuse": amuse.read,
    "talkshow": talkshow.read,
    "pixie": pixie.read,
}
FORMATS = tuple(READERS)


def detect_format(path: str | Path) -> str:
    """Name the format of ``path`` from its extension and keys; raise if ambiguous."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "does not exist", "check the path")
    if path.is_dir():
        return "pixie"
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return "talkshow"
    if suffix == ".pkl":
        return "pixie"
    if suffix != ".npz":
        raise InputError(path, None, f"has an unknown extension '{suffix}'",
                         f"give a .npz/.npy file or name the format with --from ({', '.join(FORMATS)})")
    try:
        with zipfile.ZipFile(path) as zf:
            keys = {n[:-4] if n.endswith(".npy") else n for n in zf.namelist()}
    except zipfile.BadZipFile:
        raise InputError(path, None, "is not a readable .npz archive", "re-export the file") from None
    check_npy_headers(path)  # before any reader lets numpy allocate what a header claims
    for fmt, mod in (("pixie", pixie), ("amuse", amuse), ("amass", amass), ("beat2", beat2)):
        if mod.matches(path, keys):
            return fmt
    raise InputError(path, None, f"has keys {sorted(keys)} that match no known motion format",
                     f"name the format with --from ({', '.join(FORMATS)})")


def read_motion(path: str | Path, fmt: str | None = None, **options: Any) -> MotionClip:
    """Read a motion file (format detected unless ``fmt`` is given) and validate it."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt not in READERS:
        raise InputError(path, "--from", f"names unknown format '{fmt}'", f"use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise InputError(path, None, "does not exist", "check the path")
    clip = READERS[fmt](path, **options)
    clip.meta.source_format = fmt
    return clip.validate(str(path))


def write_motion(clip: MotionClip, path: str | Path) -> None:
    """Write ``clip`` as BEAT2 ``.npz`` (atomically)."""
    beat2.write(clip, path)


__all__ = ["FORMATS", "READERS", "detect_format", "read_motion", "write_motion", "load_arrays"]
