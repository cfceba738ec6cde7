"""Speech audio: read wav files into mono float32 samples, resample, and check them.

Times in seconds, rates in Hz, samples float32 in [-1, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from vr_study.errors import InputError

MAX_DURATION_S = 600.0


@dataclass
class Audio:
    """Mono speech: ``samples`` (N,) float32 at ``sample_rate_hz``; ``channels`` in the file."""

    samples: np.ndarray
    sample_rate_hz: int
    channels: int = 1
    path: str | None = None

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate_hz)

    def resampled(self, sample_rate_hz: int) -> "Audio":
        """This audio at another rate (polyphase filter, scipy)."""
        from scipy.signal import resample_poly

        if sample_rate_hz == self.sample_rate_hz:
            return self
        g = gcd(int(sample_rate_hz), int(self.sample_rate_hz))
        y = resample_poly(self.samples, int(sample_rate_hz) // g, int(self.sample_rate_hz) // g).astype(np.float32)
        return Audio(y, int(sample_rate_hz), self.channels, self.path)


def read_audio(path: str | Path, max_duration_s: float = MAX_DURATION_S) -> Audio:
    """Read a sound file (wav/flac/ogg) and mix it down to mono.

    Raises :class:`InputError` for a missing or unreadable file, no samples, or a file
    longer than ``max_duration_s`` seconds.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "does not exist", "check the audio path")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises its own LibsndfileError / RuntimeError
        raise InputError(path, None, f"is not readable audio ({str(e).splitlines()[0]})",
                         "give a PCM wav file (16-bit or float)") from None
    if data.shape[0] == 0:
        raise InputError(path, None, "holds no audio samples", "record or synthesise the speech again")
    duration = data.shape[0] / rate
    if duration > max_duration_s:
        raise InputError(path, None, f"lasts {duration:.0f} s, longer than {max_duration_s:.0f} s",
                         "split it into utterances")
    mono = data.mean(axis=1).astype(np.float32)
    if not np.all(np.isfinite(mono)):
        raise InputError(path, None, "contains NaN or Inf samples", "re-export the audio")
    return Audio(mono, int(rate), int(data.shape[1]), str(path))


def write_wav(path: str | Path, audio: Audio) -> None:
    """Write 16-bit PCM wav atomically."""
    import soundfile as sf

    from vr_study.atomic import atomic_path

    with atomic_path(path) as tmp:
        sf.write(str(tmp), audio.samples, audio.sample_rate_hz, subtype="PCM_16", format="WAV")
