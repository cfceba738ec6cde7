"""The agent's speech as an utterance list, so motion is generated from the words it speaks.

``vr-study generate batch STUDY.yaml`` (or :func:`write_turn_utterances` followed by the
ordinary batch) synthesises every agent turn of the spec's interaction (TTS, or the turn's
own wav), then generates each method x emotion from that speech. The library clips then
carry the turn's id as their utterance, its audio and its text as transcript, and a session
plays each turn with the clip made from its own audio (see ``vr_study.study.plan``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from vr_study.atomic import atomic_write_text
from vr_study.errors import InputError
from vr_study.study.spec import StudySpec
from vr_study.study.tts import TtsBackend

#: Speaking rate assumed for silent stand-in speech (``tts.backend: none``), words per second.
SILENT_WORDS_PER_S = 2.5


@dataclass(frozen=True)
class TurnSpeech:
    """One agent turn's speech: utterance id, wav file, transcript (None for a recorded wav)."""
    id: str
    wav: Path
    text: str | None


def silent_speech(text: str, out_dir: Path, sample_rate_hz: int = 16000) -> Path:
    """Silence as long as reading ``text`` takes (for ``tts.backend: none``); cached by text."""
    import numpy as np

    from vr_study.audio import Audio, write_wav

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    out = Path(out_dir) / f"silent_{hashlib.sha256(text.encode()).hexdigest()[:16]}.wav"
    if not out.is_file():
        dur_s = max(0.5, len(text.split()) / SILENT_WORDS_PER_S)
        write_wav(out, Audio(np.zeros(int(sample_rate_hz * dur_s), np.float32), sample_rate_hz))
    return out


def turn_speech(spec: StudySpec, out_dir: str | Path, tts: TtsBackend | None) -> list[TurnSpeech]:
    """Speech of every agent turn (the turn's wav, or its text synthesised into ``out_dir``), then
    the practice utterance when ``trials.practice.agent`` gives its text."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    speech = []
    for i, uid, turn in spec.interaction.agent_turn_ids():
        if turn.wav:
            wav = spec.resolve(turn.wav)
            if not wav.is_file():
                raise InputError(f"{spec.source}", f"interaction.turns[{i}].wav", f"{wav} does not exist",
                                 "fix the path")
            speech.append(TurnSpeech(uid, wav.resolve(), turn.agent))
        else:
            text = turn.agent or ""
            wav = tts.synthesize(text, out_dir) if tts is not None else silent_speech(text, out_dir)
            speech.append(TurnSpeech(uid, Path(wav).resolve(), text))
    pr = spec.trials.practice
    if pr.agent:
        text = pr.agent
        wav = tts.synthesize(text, out_dir) if tts is not None else silent_speech(text, out_dir)
        speech.append(TurnSpeech(pr.utterance_ids[0], Path(wav).resolve(), text))
    if not speech:
        raise InputError(spec.source, "interaction.turns", "has no agent turn",
                         "add '- agent: ...' turns, or give an utterance list instead of the spec")
    return speech


def write_turn_utterances(spec: StudySpec, out_dir: str | Path, tts: TtsBackend | None) -> Path:
    """Synthesise the agent turns into ``out_dir`` and write ``out_dir/utterances.yaml`` (the
    format ``vr-study generate batch`` reads); returns its path."""
    speech = turn_speech(spec, out_dir, tts)
    rows = [{"id": s.id, "wav": str(s.wav), **({"text": s.text} if s.text else {})} for s in speech]
    path = Path(out_dir) / "utterances.yaml"
    atomic_write_text(path, "# agent turns of " + Path(spec.source).name + " (vr-study generate batch)\n"
                      + yaml.safe_dump({"utterances": rows}, sort_keys=False, allow_unicode=True))
    return path


def is_study_spec(path: str | Path) -> bool:
    """Whether ``path`` is a study spec (a YAML mapping with ``study:`` and ``interaction:`` or
    ``factors:``) rather than an utterance list."""
    p = Path(path)
    if p.suffix.lower() not in (".yaml", ".yml") or not p.is_file():
        return False
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "study" in data and ("interaction" in data or "factors" in data)


def spec_batch_inputs(spec_path: str | Path, methods: list[str] | None, emotions: list[str] | None
                      ) -> tuple[str, list[str] | None, list[str] | None]:
    """``generate batch STUDY.yaml``: synthesise the agent turns into ``<spec folder>/data/agent_speech``
    and return (utterance list path, methods, emotions); methods and emotions default to the
    spec's ``method`` and ``emotion`` factors when not given (emotions: when left at the default)."""
    from vr_study.study.spec import load_spec
    from vr_study.study.tts import make_backend

    spec = load_spec(spec_path)
    path = write_turn_utterances(spec, spec.resolve("data/agent_speech"), make_backend(spec.interaction.tts))
    if not methods and "method" in spec.factors:
        methods = list(spec.factors["method"])
    if "emotion" in spec.factors and (not emotions or list(emotions) == ["happy", "neutral"]):
        emotions = list(spec.factors["emotion"])
    return str(path), methods, emotions
