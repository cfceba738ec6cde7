"""A restricted unpickler for third-party data files: arrays in, never code.

Plain :func:`pickle.load` runs whatever a file names (``os.system`` through a ``REDUCE``
opcode is the textbook exploit), so every pickle the project reads from outside (SMPL-X
body-model ``.pkl`` files, PIXIE parameter files) goes through :func:`loads` instead. Its
``find_class`` hands out only:

- numpy's array and scalar reconstructors (``numpy.core.multiarray._reconstruct``,
  ``scalar``, ``numpy.dtype``, ``numpy.ndarray``, ``numpy.core.numeric._frombuffer``, also
  under numpy 2's ``numpy._core``) and ``_codecs.encode`` (Python 2 pickles store bytes
  through it);
- plain containers (``collections.OrderedDict``, ``builtins.set``/``frozenset``/``object``);
- *placeholders* for ``scipy.sparse`` CSC/CSR/COO matrices (the ``J_regressor`` of real
  SMPL/SMPL-X files) and for ``chumpy.ch.Ch`` (SMPL files store some arrays as chumpy
  objects). Neither scipy's nor chumpy's code runs while loading: the placeholder keeps the
  pickled state (chumpy's ``Ch.__getstate__`` is the instance ``__dict__`` holding the
  array in ``x``; scipy's is ``data``/``indices``/``indptr``/``_shape``) and
  :func:`loads` turns it into a dense ``numpy.ndarray`` afterwards.

Anything else (``os.system``, ``builtins.eval``, ``subprocess``, any other chumpy class
such as a lazily evaluated ``Select``) raises :class:`RefusedPickle` before it is called.
"""
from __future__ import annotations

import io
import pickle
from typing import Any

#: (module, name) pairs returned as the real object; all only build arrays or containers.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("collections", "OrderedDict"), ("_codecs", "encode"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "object"),
}

_SPARSE_MODULES = {"scipy.sparse.csc", "scipy.sparse._csc", "scipy.sparse.csr", "scipy.sparse._csr",
                   "scipy.sparse.coo", "scipy.sparse._coo"}
_SPARSE_NAMES = {"csc_matrix", "csr_matrix", "coo_matrix", "csc_array", "csr_array", "coo_array"}


_PY2_MODULES = {"copy_reg": "copyreg", "__builtin__": "builtins"}


class RefusedPickle(pickle.UnpicklingError):
    """The pickle names something other than arrays and plain containers."""


class _Placeholder:
    """Holds the pickled state of an allowed foreign object until it becomes an array."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise RefusedPickle(f"{self.kind} state is a {type(state).__name__}, not a dict")
        self.state = state

    kind = "object"


class _ChumpyCh(_Placeholder):
    kind = "chumpy.ch.Ch"


class _Sparse(_Placeholder):
    kind = "scipy.sparse matrix"
    fmt = ""


def _sparse_class(name: str) -> type:
    return type(f"_Sparse_{name}", (_Sparse,), {"fmt": name[:3]})


_SPARSE_CLASSES = {n: _sparse_class(n) for n in _SPARSE_NAMES}
_PLACEHOLDERS = (_ChumpyCh, *_SPARSE_CLASSES.values())


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    """``copyreg._reconstructor`` (protocol 0/1 objects), for placeholder classes only."""
    if cls not in _PLACEHOLDERS or base is not object or state is not None:
        raise RefusedPickle(f"refusing to reconstruct {getattr(cls, '__name__', cls)!s}")
    return object.__new__(cls)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)  # Python 2 names, as pickle's fix_imports maps them
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if (module, name) == ("copyreg", "_reconstructor"):
            return _reconstructor
        if (module, name) == ("chumpy.ch", "Ch"):
            return _ChumpyCh
        if module in _SPARSE_MODULES and name in _SPARSE_NAMES:
            return _SPARSE_CLASSES[name]
        raise RefusedPickle(f"refusing to load {module}.{name}")


def _to_array(obj: _Placeholder) -> Any:
    import numpy as np

    state = getattr(obj, "state", None)
    if state is None:
        raise RefusedPickle(f"{obj.kind} without state")
    if isinstance(obj, _ChumpyCh):
        if not isinstance(state.get("x"), (np.ndarray, int, float)):
            raise RefusedPickle("chumpy.ch.Ch without an array in 'x'")
        return np.asarray(state["x"])
    import scipy.sparse as sp

    try:
        shape = tuple(int(s) for s in state["_shape"])
        if obj.fmt == "coo":
            coords = state.get("coords") or (state["row"], state["col"])
            m = sp.coo_matrix((state["data"], tuple(coords)), shape=shape)
        else:
            ctor = sp.csc_matrix if obj.fmt == "csc" else sp.csr_matrix
            m = ctor((state["data"], state["indices"], state["indptr"]), shape=shape)
        return m.toarray()
    except (KeyError, TypeError, ValueError) as e:
        raise RefusedPickle(f"{obj.kind} with unusable state ({e.__class__.__name__}: {e})") from None


def _convert(obj: Any, depth: int = 0) -> Any:
    if depth > 50:
        raise RefusedPickle("containers nested deeper than 50 levels")
    if isinstance(obj, _Placeholder):
        return _to_array(obj)
    if isinstance(obj, dict):
        return type(obj)((k, _convert(v, depth + 1)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_convert(v, depth + 1) for v in obj)
    return obj


def loads(data: bytes) -> Any:
    """Unpickle ``data`` allowing only arrays, sparse matrices, chumpy ``Ch`` and containers.

    Python 2 pickles are read with ``encoding="latin1"`` (what numpy arrays need). Sparse
    matrices and ``Ch`` objects come back as dense ``numpy.ndarray``. Raises
    :class:`RefusedPickle` (a :class:`pickle.UnpicklingError`) naming the first global the
    file asks for that is not allowed; other malformed files raise what :mod:`pickle`
    raises (``EOFError``, ``ValueError``, ...).
    """
    return _convert(_RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load())
