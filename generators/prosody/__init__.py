"""``prosody``: the built-in speech-driven generator (numpy/scipy/librosa, no weights).

Offline: :class:`ProsodyGenerator` (``generate(utterance) -> MotionClip``).
Live: :class:`ProsodyStream` (``feed(chunk) -> MotionClip`` of the frames that became
ready, then ``flush()``). Both run the same causal :class:`~.engine.ProsodyEngine`, so a
stream gives the same motion as the offline generator for the same speech and seed.
Latency of the stream: ``lookahead_s`` (default 0.25 s) + 32 ms (half an analysis
window) of audio, plus the compute time per chunk (about a millisecond, see
docs/performance.md).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from vr_study.errors import InputError
from vr_study.motion import MotionClip

from ..base import EMOTIONS, Conditioning, Utterance, check_emotion, stamp_meta
from .engine import DEFAULT_LOOKAHEAD_S, ProsodyEngine
from .features import SAMPLE_RATE_HZ
from .limits import clamp_pose, limit_table, within_limits
from .style import STYLES, Style, Traits


def concat_clips(parts: Sequence[MotionClip]) -> MotionClip:
    """Join consecutive clip pieces (same fps and layout) along time."""
    parts = [p for p in parts if p.num_frames]
    if not parts:
        raise InputError(None, "motion", "has no frames", "give longer speech")
    first = parts[0]
    if len(parts) == 1:
        return first
    poses = np.concatenate([p.poses() for p in parts])
    out = MotionClip.from_poses(poses, np.concatenate([p.transl for p in parts]),
                                np.concatenate([p.expression for p in parts]), first.betas, first.fps,
                                first.gender, first.meta)
    return out


class ProsodyGenerator:
    """Offline prosody generator: ``generate(Utterance) -> MotionClip`` at ``fps`` Hz."""

    name = "prosody"
    emotions: tuple[str, ...] = tuple(STYLES)
    conditioning = Conditioning(emotion_label=True, seed=True, speaker=False,
                                note="emotion label sets the gesture style; seed sets the speaker traits")

    def __init__(self, fps: float = 30.0, lookahead_s: float = DEFAULT_LOOKAHEAD_S,
                 allow_clipped: bool = False, num_expression: int = 100):
        self.fps = float(fps)
        self.lookahead_s = float(lookahead_s)
        self.allow_clipped = allow_clipped
        self.num_expression = int(num_expression)

    def generate_samples(self, samples: np.ndarray, emotion: str, seed: int = 0) -> MotionClip:
        """Motion for mono 16 kHz float32 ``samples`` (no metadata beyond method/emotion/seed)."""
        engine = ProsodyEngine(emotion, seed, self.fps, self.lookahead_s, self.num_expression)
        num_frames = max(1, int(round(len(samples) / SAMPLE_RATE_HZ * self.fps)))
        clip = concat_clips([engine.feed(samples), engine.flush(num_frames)])
        clip.meta.extra["onset_frames"] = list(engine.onsets)
        return clip

    def generate(self, utterance: Utterance) -> MotionClip:
        from ..speech import load_speech

        check_emotion(self, utterance.emotion, str(utterance.audio_path))
        speech = load_speech(utterance.audio_path, SAMPLE_RATE_HZ, allow_clipped=self.allow_clipped)
        clip = self.generate_samples(speech.audio.samples, utterance.emotion, utterance.seed)
        stamp_meta(clip, self.name, utterance, 0.0, notes=speech.notes, lookahead_s=self.lookahead_s)
        return clip.validate(f"prosody motion for {utterance.audio_path}")


class ProsodyStream:
    """Live prosody motion: feed 16 kHz mono chunks (any length), get frames as they are ready.

    Each returned :class:`MotionClip` holds the new frames; ``meta.audio_offset_s`` is the
    time (seconds from the stream start) of its first frame. Frames lag the audio by
    :attr:`latency_s`; play the audio that much later to stay in sync.
    """

    def __init__(self, emotion: str = "neutral", seed: int = 0, fps: float = 30.0,
                 lookahead_s: float = DEFAULT_LOOKAHEAD_S, sample_rate_hz: int = SAMPLE_RATE_HZ,
                 num_expression: int = 100):
        if int(sample_rate_hz) != SAMPLE_RATE_HZ:
            raise InputError(None, "sample_rate_hz", f"is {sample_rate_hz} Hz",
                             f"send {SAMPLE_RATE_HZ} Hz mono chunks (resample with vr_study.audio.Audio.resampled)")
        self.engine = ProsodyEngine(emotion, seed, fps, lookahead_s, num_expression)
        self.frames_out = 0

    @property
    def latency_s(self) -> float:
        return self.engine.latency_s

    def feed(self, chunk: np.ndarray) -> MotionClip:
        out = self.engine.feed(chunk)
        self.frames_out += out.num_frames
        return out

    def flush(self, num_frames: int | None = None) -> MotionClip:
        out = self.engine.flush(num_frames)
        self.frames_out += out.num_frames
        return out


__all__ = ["EMOTIONS", "ProsodyEngine", "ProsodyGenerator", "ProsodyStream", "STYLES", "Style", "Traits",
           "clamp_pose", "concat_clips", "limit_table", "within_limits"]
