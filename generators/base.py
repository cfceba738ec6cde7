"""The one interface every motion source implements: utterance in, MotionClip out.

A generator is any object with a ``name`` and ``generate(utterance) -> MotionClip``. The
clip's metadata (method, emotion, utterance id, seed, audio path and offset) is filled in
by the generator, so a clip always says where it came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from vr_study.errors import InputError
from vr_study.motion import MotionClip

#: Emotion labels the built-in generators know.
EMOTIONS = ("happy", "neutral")


@dataclass
class Utterance:
    """One speech utterance to animate.

    ``audio_path``: speech wav (any rate, mono or stereo; generators resample and mix down).
    ``transcript``: the words, when known. ``emotion``: a label such as 'happy'/'neutral'.
    ``speaker``: speaker/style id for methods that take one: one id for every method, or a
    mapping per method (``{"talkshow": 2, "faceformer": "FaceTalk_170728_03272_TA"}``; a
    method not named uses its configured default). See :meth:`speaker_for`.
    ``seed``: picks one of the many plausible motions for the same speech.
    ``id``: utterance id used in libraries and metrics (default: the wav's file stem).
    """

    audio_path: str | Path
    transcript: str | None = None
    emotion: str = "neutral"
    speaker: str | int | Mapping[str, str | int] | None = None
    seed: int = 0
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def utterance_id(self) -> str:
        return self.id or Path(self.audio_path).stem

    def speaker_for(self, method: str) -> str | int | None:
        """The speaker/style id for ``method``: its entry in a per-method mapping (None when
        the mapping does not name it), or the one id given for every method."""
        if isinstance(self.speaker, Mapping):
            return self.speaker.get(method)
        return self.speaker


@dataclass(frozen=True)
class Conditioning:
    """What a method's motion depends on besides the speech.

    ``emotion_label``: the emotion label given to ``generate`` changes the motion (False:
    the method reads emotion, if at all, from the speech's prosody only). ``seed``: True =
    the seed picks a reproducible sample; "draw" = each run draws a fresh random sample
    the seed cannot reproduce; False = deterministic, the seed changes nothing.
    ``speaker``: a speaker/style id is taken. ``note``: one line for docs and errors.
    """

    emotion_label: bool = True
    seed: bool | str = True
    speaker: bool = False
    note: str = ""


#: assumed for generators that do not say (a lab's own class)
UNKNOWN_CONDITIONING = Conditioning(True, True, True, "not declared by the generator")


def conditioning_of(generator: Any) -> Conditioning:
    """The generator's :class:`Conditioning` (its ``conditioning`` attribute, if any)."""
    c = getattr(generator, "conditioning", None)
    return c if isinstance(c, Conditioning) else UNKNOWN_CONDITIONING


@runtime_checkable
class Generator(Protocol):
    """A motion source. ``emotions`` lists the labels it accepts (None: any label)."""

    name: str
    emotions: tuple[str, ...] | None

    def generate(self, utterance: Utterance) -> MotionClip:
        """Motion for ``utterance`` with full metadata; raise InputError on bad input."""
        ...


def check_emotion(generator: Generator, emotion: str, source: str | None = None) -> None:
    """Raise InputError when ``generator`` does not know ``emotion``."""
    allowed = getattr(generator, "emotions", None)
    if allowed is not None and emotion not in allowed:
        raise InputError(source, "emotion", f"'{emotion}' is not known to method '{generator.name}'",
                         f"use one of {', '.join(allowed)}")


def stamp_meta(clip: MotionClip, method: str, utterance: Utterance, audio_offset_s: float = 0.0,
               **extra: Any) -> MotionClip:
    """Fill ``clip.meta`` from the utterance (method, emotion, id, seed, audio path, offset)."""
    m = clip.meta
    m.method = method
    m.emotion = utterance.emotion
    m.utterance = utterance.utterance_id
    m.seed = int(utterance.seed)
    m.audio_path = str(utterance.audio_path)
    m.audio_offset_s = float(audio_offset_s)
    if utterance.transcript:
        m.extra["transcript"] = utterance.transcript
    speaker = utterance.speaker_for(method)
    if speaker is not None:
        m.extra["speaker"] = speaker
    m.extra.update(extra)
    return clip
