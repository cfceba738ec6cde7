"""Per-frame speech features for the prosody generator (pure functions, numpy only).

Every motion frame i (time t_i = i / fps seconds) gets features from one analysis window
of ``WINDOW`` samples centred on sample round(t_i * sample_rate_hz). A frame therefore
needs audio up to t_i + WINDOW / 2 / sample_rate_hz seconds, and nothing later: the
offline generator and the streaming one compute exactly the same numbers.

Features (all per frame):
- ``level_db``: RMS level of the window, dB re full scale (-100 for digital silence).
- ``flux``: onset strength, the half-wave rectified rise of a log-mel spectrum from the
  previous frame's window (the same idea as librosa's onset_strength), summed over bands.
- ``f0_hz``: pitch from the normalised autocorrelation peak in 70-400 Hz (0 when unvoiced).
- ``voicing``: that peak's height in [0, 1].
- ``centroid_hz``: spectral centroid (bright 'ee' vs dark 'oo' mouth shapes).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.sparse

SAMPLE_RATE_HZ = 16000
WINDOW = 1024  # samples (64 ms at 16 kHz)
N_MELS = 40
F0_MIN_HZ, F0_MAX_HZ = 70.0, 400.0


@dataclass
class FrameFeatures:
    """Features of consecutive frames; each array has shape (n,)."""

    level_db: np.ndarray
    flux: np.ndarray
    f0_hz: np.ndarray
    voicing: np.ndarray
    centroid_hz: np.ndarray

    def __len__(self) -> int:
        return int(self.level_db.shape[0])


@functools.lru_cache(maxsize=4)
def _mel_filters(sample_rate_hz: int) -> scipy.sparse.csr_matrix:
    """(N_MELS, WINDOW/2+1) mel filter bank, sparse: a dense matmul would go through a
    multi-threaded BLAS, which is slow and jittery on a busy machine (about 1000 of the
    20000 weights are non-zero). Cached: it never changes."""
    import librosa

    return scipy.sparse.csr_matrix(librosa.filters.mel(sr=sample_rate_hz, n_fft=WINDOW, n_mels=N_MELS, fmin=60.0,
                                                       fmax=sample_rate_hz / 2).astype(np.float32))


class FeatureExtractor:
    """Computes :class:`FrameFeatures` for frames whose windows are available.

    Holds only constants (window, mel filters) plus the previous frame's log-mel spectrum
    (needed by ``flux``), so offline use (all frames at once) and streaming use (a few
    frames per chunk) give the same numbers.
    """

    def __init__(self, fps: float, sample_rate_hz: int = SAMPLE_RATE_HZ):
        self.fps = float(fps)
        self.sr = int(sample_rate_hz)
        self.window = np.hanning(WINDOW).astype(np.float32)
        self.mel = _mel_filters(self.sr)
        self.freqs = np.fft.rfftfreq(WINDOW, 1.0 / self.sr).astype(np.float32)
        self.lag_min = int(self.sr / F0_MAX_HZ)
        self.lag_max = int(self.sr / F0_MIN_HZ)
        w_acf = np.correlate(self.window, self.window, mode="full")[WINDOW - 1:WINDOW + self.lag_max]
        self.window_acf = (w_acf / w_acf[0]).astype(np.float32)
        self.prev_logmel: np.ndarray | None = None

    def centre_sample(self, frame: np.ndarray | int) -> np.ndarray:
        """Sample index at the centre of frame ``frame``'s window."""
        return np.round(np.asarray(frame, dtype=np.float64) * self.sr / self.fps).astype(np.int64)

    def samples_needed(self, frame: int) -> int:
        """Number of audio samples (from the start) that frame ``frame`` needs."""
        return int(self.centre_sample(frame)) + WINDOW // 2

    def compute(self, audio: np.ndarray, audio_start: int, frames: np.ndarray) -> FrameFeatures:
        """Features of ``frames`` (ascending, consecutive) from ``audio`` whose first sample has
        index ``audio_start``; samples outside ``audio`` count as silence (zeros)."""
        frames = np.asarray(frames, dtype=np.int64)
        n = frames.shape[0]
        if n == 0:
            e = np.zeros(0, np.float32)
            return FrameFeatures(e, e, e, e, e)
        starts = self.centre_sample(frames) - WINDOW // 2 - audio_start
        idx = starts[:, None] + np.arange(WINDOW)[None, :]
        valid = (idx >= 0) & (idx < audio.shape[0])
        win = np.where(valid, audio[np.clip(idx, 0, max(audio.shape[0] - 1, 0))] if audio.shape[0] else 0.0, 0.0)
        win = win.astype(np.float32)
        rms = np.sqrt(np.mean(win * win, axis=1) + 1e-12)
        level_db = np.maximum(20.0 * np.log10(rms + 1e-10), -100.0).astype(np.float32)

        spec = scipy.fft.rfft(win * self.window, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        logmel = 10.0 * np.log10(np.asarray((self.mel @ power.T).T) + 1e-10)
        logmel = np.maximum(logmel, -100.0)
        prev = np.vstack([logmel[:1] if self.prev_logmel is None else self.prev_logmel[None], logmel[:-1]])
        flux = np.maximum(logmel - prev, 0.0).mean(axis=1).astype(np.float32)
        self.prev_logmel = logmel[-1].copy()

        total = power.sum(axis=1) + 1e-12
        centroid = (power @ self.freqs / total).astype(np.float32)

        # autocorrelation of the windowed frame (Wiener-Khinchin on the power spectrum),
        # divided by the window's own autocorrelation (Boersma 1993) so long lags are not
        # penalised; the Hann window's tails make the circular wrap-around negligible
        acf = scipy.fft.irfft(power, axis=1)[:, :self.lag_max + 1]
        r = acf / (acf[:, :1] + 1e-9) / self.window_acf[None, :]
        seg = r[:, self.lag_min:self.lag_max + 1]
        best = np.argmax(seg, axis=1)
        voicing = np.clip(seg[np.arange(n), best], 0.0, 1.0).astype(np.float32)
        f0 = (self.sr / (best + self.lag_min)).astype(np.float32)
        voiced = (voicing > 0.45) & (level_db > -50.0)
        f0 = np.where(voiced, f0, 0.0).astype(np.float32)
        return FrameFeatures(level_db, flux, f0, np.where(voiced, voicing, 0.0).astype(np.float32), centroid)
