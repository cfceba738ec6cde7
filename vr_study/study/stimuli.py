"""The stimulus library as a study sees it: clips found by their factor levels.

A library is a folder with ``manifest.json`` (see :mod:`vr_study.library`). A cell (one
level per factor) matches the clips whose manifest fields equal its levels; a factor maps to
the manifest field of the same name unless ``stimuli.match`` says otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vr_study.errors import InputError

from vr_study.library import MANIFEST_NAME as MANIFEST


@dataclass(frozen=True)
class Clip:
    """One stimulus clip: motion file (+ optional audio), duration in seconds, metadata."""
    clip_id: str
    path: Path
    audio: Path | None
    duration_s: float | None
    fields: dict[str, str] = field(default_factory=dict)  # method, emotion, utterance, seed, ...


def read_library(folder: str | Path) -> list[Clip]:
    """Every clip of a stimulus library (through :class:`vr_study.library.StimulusLibrary`)."""
    from vr_study.library import StimulusLibrary

    lib = StimulusLibrary.open(folder)
    clips = []
    for e in lib.entries.values():
        fields = {k: str(v) for k, v in (("method", e.method), ("emotion", e.emotion), ("utterance", e.utterance),
                                          ("seed", e.seed), ("transcript", e.transcript)) if v is not None}
        clips.append(Clip(e.id, lib.root / e.file, (lib.root / e.audio) if e.audio else None,
                          float(e.duration_s) if e.duration_s else None, fields))
    return clips


def clips_by_cell(spec, clips: list[Clip] | None = None) -> dict[tuple[str, ...], list[Clip]]:
    """Map every cell of ``spec`` (levels in factor order) to its clips, sorted by id.

    Raises InputError (with the spec's line) for a cell without stimuli or a clip whose
    file is missing.
    """
    from vr_study.study.spec import spec_line  # local: spec imports nothing from here

    if clips is None:
        clips = read_library(spec.library_dir)
    names = list(spec.factors)
    match = {f: spec.stimuli.match.get(f, f) for f in names}
    out: dict[tuple[str, ...], list[Clip]] = {}
    for cell in spec.cells:
        key = tuple(cell[f] for f in names)
        out[key] = sorted((c for c in clips if all(str(c.fields.get(match[f], "")).lower() == cell[f].lower()
                                                   for f in names)), key=lambda c: c.clip_id)
    empty = [key for key, found in out.items() if not found]
    if empty:
        desc = "; ".join(", ".join(f"{f}={v}" for f, v in zip(names, key)) for key in empty)
        raise InputError(f"{spec.source}:{spec_line(spec, ('stimuli',))}", "stimuli",
                         f"no clip in {spec.library_dir / MANIFEST} for the cell(s) {desc}",
                         "generate clips for them or change the factors")
    for found in out.values():
        for c in found:
            if not c.path.is_file():
                raise InputError(c.path, None, f"(clip {c.clip_id}) is listed in the manifest but missing",
                                 "regenerate the library or restore the file")
            if spec.stimuli.require_audio and (c.audio is None or not c.audio.is_file()):
                raise InputError(c.audio or c.path, None, f"(clip {c.clip_id}) has no audio file",
                                 "regenerate the clip with audio or set stimuli.require_audio: false")
    return out
