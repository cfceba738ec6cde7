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
                                          ("seed", e.seed), ("transcript", e.transcript),
                                          ("audio_sha256", e.audio_sha256)) if v is not None}
        clips.append(Clip(e.id, lib.root / e.file, (lib.root / e.audio) if e.audio else None,
                          float(e.duration_s) if e.duration_s else None, fields))
    return clips


def clips_by_cell(spec, clips: list[Clip] | None = None) -> dict[tuple[str, ...], list[Clip]]:
    """Map every cell of ``spec`` (levels in factor order) to its clips, sorted by id.

    Raises InputError (with the spec's line) for the first of :func:`library_problems`.
    """
    from vr_study.study.spec import _field, spec_line  # local: spec imports nothing from here

    if clips is None:
        clips = read_library(spec.library_dir)
    out = _by_cell(spec, clips)
    problems = library_problems(spec, out)
    if problems:
        loc, msg, fix = problems[0]
        raise InputError(f"{spec.source}:{spec_line(spec, loc)}", _field(loc), msg, fix)
    return out


def _by_cell(spec, clips: list[Clip]) -> dict[tuple[str, ...], list[Clip]]:
    names = list(spec.factors)
    match = {f: spec.stimuli.match.get(f, f) for f in names}
    out: dict[tuple[str, ...], list[Clip]] = {}
    for cell in spec.cells:
        key = tuple(cell[f] for f in names)
        out[key] = sorted((c for c in clips if all(str(c.fields.get(match[f], "")).lower() == cell[f].lower()
                                                   for f in names)), key=lambda c: c.clip_id)
    return out


def _norm_text(text: str | None) -> str:
    return " ".join(str(text or "").split()).lower()


def library_problems(spec, by_cell: dict[tuple[str, ...], list[Clip]]) -> list[tuple[tuple, str, str]]:
    """Everything in the library that would break the spec's trials: ``(spec location, problem, fix)``.

    Checked: every cell has clips and every listed file exists (and audio with
    ``require_audio``); practice trials have dedicated practice clips; with
    ``selection: balanced`` every cell has a clip of every main utterance; for interaction
    trials every cell has, for every agent turn, a clip generated from that turn's own speech
    (the clip's audio is the wav the turn plays, or its transcript is the turn's text).
    """
    from vr_study.library import sha256_file

    names = list(spec.factors)
    problems: list[tuple[tuple, str, str]] = []
    empty = [key for key, found in by_cell.items() if not found]
    if empty:
        desc = "; ".join(", ".join(f"{f}={v}" for f, v in zip(names, key)) for key in empty)
        problems.append((("stimuli",), f"no clip in {spec.library_dir / MANIFEST} for the cell(s) {desc}",
                         "generate clips for them or change the factors"))
    for found in by_cell.values():
        for c in found:
            if not c.path.is_file():
                problems.append((("stimuli",), f"clip {c.clip_id}: {c.path} is listed in the manifest but missing",
                                 "regenerate the library or restore the file"))
            if spec.stimuli.require_audio and (c.audio is None or not c.audio.is_file()):
                problems.append((("stimuli", "require_audio"), f"clip {c.clip_id} has no audio file",
                                 "regenerate the clip with audio or set stimuli.require_audio: false"))
    pr = spec.trials.practice
    practice = set(pr.utterance_ids)
    all_utts = {c.fields.get("utterance", "") for found in by_cell.values() for c in found}
    if pr.trials and not practice:
        problems.append((("trials", "practice"), f"{pr.trials} practice trial(s) but no practice.utterances (or practice.agent): the "
                         "practice would show a main-trial stimulus", "list utterances reserved for practice, "
                         "e.g. 'utterances: [practice]', and generate their clips"))
    for i, u in enumerate(pr.utterance_ids):
        if u not in all_utts:
            problems.append((("trials", "practice", "utterances", i), f"no clip of practice utterance '{u}' in the "
                             "library", "generate it or fix the id"))
    only_practice = [key for key, found in by_cell.items()
                     if found and all(c.fields.get("utterance", "") in practice for c in found)]
    if only_practice:
        desc = "; ".join(", ".join(f"{f}={v}" for f, v in zip(names, key)) for key in only_practice)
        problems.append((("trials", "practice", "utterances"), f"the cell(s) {desc} have only practice clips, "
                         "none for main trials", "generate main-trial clips for them"))
    interaction = spec.trials.kind == "interaction" and spec.interaction.turns
    if interaction:
        for i, uid, turn in spec.interaction.agent_turn_ids():
            if uid in practice:
                problems.append((("interaction", "turns", i), f"agent turn '{uid}' is also a practice utterance",
                                 "give practice its own utterances"))
            want_sha = sha256_file(spec.resolve(turn.wav)) if turn.wav and spec.resolve(turn.wav).is_file() else None
            for key, found in by_cell.items():
                cell = ", ".join(f"{f}={v}" for f, v in zip(names, key))
                mine = [c for c in found if c.fields.get("utterance") == uid]
                if not mine:
                    problems.append((("interaction", "turns", i), f"no clip generated from agent turn '{uid}' for "
                                     f"{cell}: the agent's body would move to other speech",
                                     "generate them: vr-study generate batch STUDY.yaml --methods ... -o LIBRARY"))
                    continue
                for c in mine:
                    if c.audio is None:
                        problems.append((("interaction", "turns", i), f"clip {c.clip_id} has no audio, so its "
                                         f"motion cannot be checked against turn '{uid}'", "regenerate it with audio"))
                    elif want_sha is not None and c.fields.get("audio_sha256") not in (None, want_sha):
                        problems.append((("interaction", "turns", i, "wav"), f"clip {c.clip_id} was generated from "
                                         f"other audio than {turn.wav}", "regenerate it from this turn's wav"))
                    elif turn.agent and _norm_text(c.fields.get("transcript")) != _norm_text(turn.agent):
                        problems.append((("interaction", "turns", i, "agent"), f"clip {c.clip_id} was generated "
                                         f"from speech of {c.fields.get('transcript')!r}, not this turn's text",
                                         "regenerate the turn clips: vr-study generate batch STUDY.yaml ..."))
    elif spec.stimuli.selection == "balanced":
        per_cell = {key: {c.fields.get("utterance", "") for c in found} - practice for key, found in by_cell.items()
                    if found}
        union = set().union(*per_cell.values()) if per_cell else set()
        for key, have in per_cell.items():
            missing = sorted(union - have)
            if missing:
                cell = ", ".join(f"{f}={v}" for f, v in zip(names, key))
                problems.append((("stimuli", "selection"), f"balanced selection needs every utterance in every cell; "
                                 f"{cell} lacks {missing}", "generate those clips or set selection: rotate"))
    return problems
