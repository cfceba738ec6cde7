"""Check ``.npy`` / ``.npz`` headers before numpy allocates what they claim.

``np.load`` trusts the shape in a ``.npy`` header and allocates it before reading the
data, so a 100-byte file claiming a (10^7, 10^7) float64 array ends in a ``MemoryError``
(or the machine swapping). :func:`check_npy_headers` reads only the headers (of the file,
or of every member of an ``.npz``) and refuses any array whose claimed size is larger than
the bytes actually stored for it.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vr_study.errors import InputError


def _claimed_bytes(fh: BinaryIO) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, bytes of header) of the .npy stream ``fh`` positioned at its start."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(fh)
    else:
        shape, _, dtype = fmt._read_array_header(fh, version)  # noqa: SLF001 - version 3.0 headers
    return tuple(int(s) for s in shape), dtype, fh.tell()


def _check(source: str, fh: BinaryIO, stored: int) -> None:
    try:
        shape, dtype, offset = _claimed_bytes(fh)
    except (ValueError, EOFError, OSError, SyntaxError) as e:
        raise InputError(source, None, f"does not start with a valid .npy header ({e.__class__.__name__})",
                         "re-save the array with numpy") from None
    if dtype.hasobject:
        return  # np.load(allow_pickle=False) refuses object arrays itself, with its own message
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if claimed > stored - offset:
        raise InputError(source, None, f"claims a {dtype} array of shape {shape} ({claimed:,} bytes) but stores "
                         f"only {max(0, stored - offset):,} bytes",
                         "the file is damaged or crafted; re-save the array with numpy")


def check_npy_headers(path: str | Path) -> None:
    """Raise :class:`InputError` if ``path`` (``.npy`` or ``.npz``) claims more data than it holds.

    Other problems (not a zip file, truncated members) are left to ``np.load``, whose errors
    the readers already report.
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            with open(path, "rb") as fh:
                _check(str(path), fh, path.stat().st_size)
        except OSError:
            return
        return
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    with zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            try:
                with zf.open(info) as fh:
                    _check(f"{path} member {info.filename}", fh, info.file_size)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
                continue
