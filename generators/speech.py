"""Load and check the speech a generator is given: mono, the rate the method expects.

Bad input becomes :class:`InputError` (silent audio, heavy clipping, too long, unreadable);
fixable input is fixed and a note says what was done (stereo mixed down, resampled).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vr_study.audio import Audio, read_audio
from vr_study.errors import InputError

SILENCE_DBFS = -60.0        # whole-file RMS below this is "silent"
CLIP_LEVEL = 0.999          # |sample| at or above this counts as clipped
MAX_CLIPPED_FRACTION = 0.01
MAX_DURATION_S = 600.0


@dataclass
class Speech:
    """Checked speech: ``audio`` mono at the requested rate; ``notes`` on what was changed."""

    audio: Audio
    notes: list[str] = field(default_factory=list)
    original_rate_hz: int = 0
    original_channels: int = 1


def load_speech(path: str | Path, sample_rate_hz: int = 16000, allow_clipped: bool = False,
                max_duration_s: float = MAX_DURATION_S) -> Speech:
    """Read ``path``, mix to mono, check level and clipping, resample to ``sample_rate_hz``."""
    audio = read_audio(path, max_duration_s=max_duration_s)
    notes = []
    x = audio.samples
    rms_db = 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)
    if rms_db < SILENCE_DBFS:
        raise InputError(path, None, f"is silent (RMS level {rms_db:.0f} dBFS)",
                         "give a recording that contains speech")
    clipped = float(np.mean(np.abs(x) >= CLIP_LEVEL))
    if clipped > MAX_CLIPPED_FRACTION and not allow_clipped:
        raise InputError(path, None, f"is clipped ({100 * clipped:.1f}% of samples at full scale)",
                         "record again at a lower gain, or pass --allow-clipped to use it anyway")
    if clipped > MAX_CLIPPED_FRACTION:
        notes.append(f"{100 * clipped:.1f}% of samples are clipped (used anyway)")
    if audio.channels > 1:
        notes.append(f"mixed {audio.channels} channels down to mono")
    if audio.sample_rate_hz != sample_rate_hz:
        notes.append(f"resampled from {audio.sample_rate_hz} Hz to {sample_rate_hz} Hz")
        audio = audio.resampled(sample_rate_hz)
    return Speech(audio, notes, int(read_rate(audio, path)), int(audio.channels))


def read_rate(audio: Audio, path: str | Path) -> int:
    """The sample rate stored in the file (Hz)."""
    import soundfile as sf

    try:
        return int(sf.info(str(path)).samplerate)
    except Exception:  # pragma: no cover - the file was just read successfully
        return int(audio.sample_rate_hz)
