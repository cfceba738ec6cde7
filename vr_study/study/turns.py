"""The participant's turn in an interaction: when did they start and stop speaking?

:func:`energy_vad` is a pure function over audio frames (RMS energy in dBFS against a
threshold, with a hang-over of ``silence_s`` seconds). Turn detectors wait for a turn:
:class:`VadTurn` reads blocks from an audio source (the microphone through ``arecord``, or
a wav file), :class:`KeyTurn` waits for the experimenter's key, :class:`TimedTurn` waits a
fixed time (simulations and tests).
"""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import numpy as np

FRAME_S = 0.02  # analysis frame, seconds


@dataclass(frozen=True)
class TurnResult:
    """Times in seconds from the start of listening; ``ended_by`` says why listening stopped."""
    speech_start_s: float | None
    speech_end_s: float | None
    listened_s: float
    ended_by: str  # silence | max_time | key | timed | stopped


def frame_db(frame: np.ndarray) -> float:
    """RMS level of a float frame in dBFS (-120 for silence)."""
    rms = float(np.sqrt(np.mean(np.square(frame, dtype=np.float64)))) if frame.size else 0.0
    return 20.0 * np.log10(max(rms, 1e-6))


def energy_vad(blocks: Iterable[np.ndarray], sample_rate_hz: int, threshold_db: float = -40.0,
               silence_s: float = 1.0, max_s: float = 20.0, min_speech_s: float = 0.1) -> TurnResult:
    """Detect one spoken turn in a stream of mono float32 blocks.

    Speech starts after ``min_speech_s`` seconds of frames above ``threshold_db``; the turn ends
    after ``silence_s`` seconds below it, or after ``max_s`` seconds of listening.
    """
    frame_n = max(1, int(round(FRAME_S * sample_rate_hz)))
    buf = np.zeros(0, dtype=np.float32)
    t = 0.0
    start = end = None
    run_above = 0.0
    last_voice = None
    for block in blocks:
        buf = np.concatenate([buf, np.asarray(block, dtype=np.float32).reshape(-1)])
        while buf.size >= frame_n:
            frame, buf = buf[:frame_n], buf[frame_n:]
            t += frame_n / sample_rate_hz
            loud = frame_db(frame) > threshold_db
            if loud:
                run_above += frame_n / sample_rate_hz
                last_voice = t
                if start is None and run_above >= min_speech_s:
                    start = t - run_above
            else:
                run_above = 0.0
            if start is not None and last_voice is not None and t - last_voice >= silence_s:
                end = last_voice
                return TurnResult(start, end, t, "silence")
            if t >= max_s:
                return TurnResult(start, last_voice if start is not None else None, t, "max_time")
    return TurnResult(start, last_voice if start is not None else None, t, "stopped")


class TurnDetector(Protocol):
    def wait_turn(self, max_s: float, silence_s: float, threshold_db: float, stop: threading.Event) -> TurnResult: ...


class TimedTurn:
    """Waits ``duration_s`` seconds (scaled by ``speed``): scripted participants."""

    def __init__(self, duration_s: float = 2.0, speed: float = 1.0):
        self.duration_s, self.speed = duration_s, speed

    def wait_turn(self, max_s: float, silence_s: float, threshold_db: float, stop: threading.Event) -> TurnResult:
        wait = min(self.duration_s, max_s) / self.speed
        stopped = stop.wait(wait)
        return TurnResult(0.0, min(self.duration_s, max_s), wait, "stopped" if stopped else "timed")


class KeyTurn:
    """Ends the turn when the experimenter presses the key (an Event set by the keyboard thread)."""

    def __init__(self, key_event: threading.Event):
        self.key_event = key_event

    def wait_turn(self, max_s: float, silence_s: float, threshold_db: float, stop: threading.Event) -> TurnResult:
        self.key_event.clear()
        t0 = time.monotonic()
        while time.monotonic() - t0 < max_s and not stop.is_set():
            if self.key_event.wait(0.05):
                return TurnResult(None, None, time.monotonic() - t0, "key")
        return TurnResult(None, None, time.monotonic() - t0, "max_time")


class VadTurn:
    """Energy VAD on an audio source: a wav file (tests, replays) or the default microphone
    through ALSA's ``arecord`` (16 kHz mono)."""

    def __init__(self, wav: str | Path | None = None, sample_rate_hz: int = 16000, realtime: bool = True):
        self.wav, self.sample_rate_hz, self.realtime = wav, sample_rate_hz, realtime

    def _blocks(self, stop: threading.Event) -> Iterator[np.ndarray]:
        block_n = self.sample_rate_hz // 50
        if self.wav is not None:
            from vr_study.audio import read_audio

            audio = read_audio(self.wav).resampled(self.sample_rate_hz)
            for i in range(0, len(audio.samples), block_n):
                if stop.is_set():
                    return
                if self.realtime:
                    time.sleep(block_n / self.sample_rate_hz)
                yield audio.samples[i:i + block_n]
            return
        exe = shutil.which("arecord")
        if exe is None:
            raise RuntimeError("no microphone: 'arecord' (alsa-utils) is not installed; use --turn key")
        proc = subprocess.Popen([exe, "-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", str(self.sample_rate_hz)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            while not stop.is_set():
                raw = proc.stdout.read(block_n * 2)
                if not raw:
                    return
                yield np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        finally:
            proc.terminate()

    def wait_turn(self, max_s: float, silence_s: float, threshold_db: float, stop: threading.Event) -> TurnResult:
        return energy_vad(self._blocks(stop), self.sample_rate_hz, threshold_db, silence_s, max_s)
