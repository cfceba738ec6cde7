"""Find a generator by name: built-ins, configured external methods, or a lab's own class.

Names:
- ``prosody``: the built-in speech-driven generator (no weights).
- ``emage``, ``talkshow``, ``amuse``, ``faceformer``: runners for the methods' own
  installations; they need a methods config (YAML, see :mod:`generators.external`).
- ``package.module:ClassName``: a lab's own generator class, constructed with keyword
  options; it must have ``generate(utterance) -> MotionClip``.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from vr_study.errors import InputError

from .base import Generator


def _prosody(**options: Any) -> Generator:
    from .prosody import ProsodyGenerator

    return ProsodyGenerator(**options)


def _external(name: str) -> Callable[..., Generator]:
    def make(config: str | Path | dict | None = None, **options: Any) -> Generator:
        from .external import load_runner

        return load_runner(name, config, **options)
    return make


#: built-in names that run a lab's installation (they take ``config=`` a methods config)
EXTERNAL_METHODS = ("emage", "talkshow", "amuse", "faceformer")

#: built-in name -> factory(**options)
BUILTINS: dict[str, Callable[..., Generator]] = {
    "prosody": _prosody,
    "emage": _external("emage"),
    "talkshow": _external("talkshow"),
    "amuse": _external("amuse"),
    "faceformer": _external("faceformer"),
}


def available() -> list[str]:
    """Built-in generator names."""
    return sorted(BUILTINS)


def get_generator(name: str, **options: Any) -> Generator:
    """The generator called ``name`` (a built-in, or ``package.module:ClassName``)."""
    if name in BUILTINS:
        return BUILTINS[name](**options)
    if ":" not in name:
        raise InputError(None, "method", f"'{name}' is not a known generator",
                         f"use one of {', '.join(available())} or name a class as package.module:ClassName")
    module_name, _, class_name = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise InputError(None, "method", f"'{name}': cannot import module '{module_name}' ({e})",
                         "install the package or put it on PYTHONPATH") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise InputError(None, "method", f"'{name}': module '{module_name}' has no '{class_name}'",
                         "check the class name")
    try:
        gen = cls(**options)
    except TypeError as e:
        raise InputError(None, "method", f"'{name}' cannot be constructed ({e})",
                         "check the options given to it") from None
    if not callable(getattr(gen, "generate", None)):
        raise InputError(None, "method", f"'{name}' has no generate(utterance) method",
                         "implement generators.base.Generator")
    if not getattr(gen, "name", None):
        try:
            gen.name = name
        except AttributeError:
            pass
    if not hasattr(gen, "emotions"):
        try:
            gen.emotions = None
        except AttributeError:
            pass
    return gen
