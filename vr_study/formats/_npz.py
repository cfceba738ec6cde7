"""Safe array loading shared by the readers: never unpickles, reports problems per field."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from vr_study.errors import InputError
from vr_study.npy_header import check_npy_headers


def load_arrays(path: Path, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Load the arrays of an ``.npz`` (or the one of an ``.npy``) without pickle.

    ``keys``: load only these (those absent from the file are left out), so that a file
    holding object arrays a reader does not need (AMASS's ``markers_latent_vids``) still
    reads; an object array among the loaded keys is refused, never unpickled. An ``.npy``
    file comes back as ``{"array": ...}``.
    """
    check_npy_headers(path)  # before numpy allocates what a (crafted) header claims
    try:
        if path.suffix.lower() == ".npy":
            return {"array": np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as z:
            out = {}
            wanted = z.files if keys is None else [k for k in keys if k in z.files]
            for k in wanted:
                try:
                    out[k] = z[k]
                except ValueError as e:
                    if "pickle" in str(e).lower():
                        raise InputError(path, k, "is an object array that would need pickle to load",
                                         "save it as a plain numeric or string array") from None
                    raise
            return out
    except InputError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise InputError(path, None, "holds an object array that would need pickle to load",
                             "save it as a plain numeric array") from None
        raise InputError(path, None, f"cannot be read ({e})", "re-export the file") from None
    except (OSError, EOFError) as e:
        raise InputError(path, None, f"cannot be read ({e.__class__.__name__}: {e})",
                         "check that it is a complete numpy file") from None


def text(arrays: dict[str, np.ndarray], keys: Iterable[str], default: str) -> str:
    """First present key among ``keys`` as text (str or bytes arrays, as numpy saves them)."""
    v = scalar(arrays, keys, None)
    if v is None:
        return default
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def require(arrays: dict[str, np.ndarray], path: Path, key: str, fix: str) -> np.ndarray:
    """Return ``arrays[key]`` as a float array or raise an error naming the missing key."""
    if key not in arrays:
        raise InputError(path, key, "is missing", fix)
    arr = arrays[key]
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(path, key, f"has dtype {arr.dtype}", "expected numbers")
    return arr.astype(np.float32)


def scalar(arrays: dict[str, np.ndarray], keys: Iterable[str], default=None):
    """First present key among ``keys`` as a Python scalar/str, else ``default``."""
    for k in keys:
        if k in arrays:
            v = arrays[k]
            return v.item() if v.ndim == 0 else (v.ravel()[0].item() if v.size else default)
    return default


def check_shape(arr: np.ndarray, path: Path, key: str, expected: tuple, fix: str | None = None) -> None:
    """Raise if ``arr.shape`` differs from ``expected`` (None entries match anything)."""
    ok = arr.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape))
    if not ok:
        shown = "(" + ", ".join("T" if e is None else str(e) for e in expected) + ")"
        raise InputError(path, key, f"has shape {arr.shape}", fix or f"expected {shown}")


def fps_value(arrays: dict[str, np.ndarray], path: Path, keys: Iterable[str], default: float | None) -> float:
    """Frame rate in Hz from the first present key, checked to be sane."""
    keys = list(keys)
    v = scalar(arrays, keys, default)
    if v is None:
        raise InputError(path, keys[0], "is missing", "add the frame rate in Hz")
    try:
        fps = float(v)
    except (TypeError, ValueError):
        raise InputError(path, keys[0], f"is {v!r}, not a number", "store the frame rate in Hz") from None
    from vr_study.motion import MAX_FPS, MIN_FPS

    if not np.isfinite(fps) or not (MIN_FPS <= fps <= MAX_FPS):
        raise InputError(path, keys[0], f"is {fps!r} Hz", f"give a frame rate between {MIN_FPS:g} and {MAX_FPS:g} Hz")
    return fps
