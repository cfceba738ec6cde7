"""Speech audio started at a given CLOCK_MONOTONIC time, in step with the avatar's motion.

The renderer decides when the clip starts (a predicted display time plus a lead) and asks
an :class:`AudioOutput` to make the first sample audible exactly then.

* :class:`SoundDeviceOutput` (PortAudio through the optional ``sounddevice`` package) fills
  each buffer from the sample that its DAC time (``outputBufferDacTime``, converted to the
  monotonic clock) calls for, so the start is placed to the sample (1/48000 s), within the
  accuracy of the latency the audio driver reports.
* :class:`RecordedAudioOutput` plays nothing and records what was scheduled: the backend
  for tests, CI and machines without an audio device.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vr_study.audio import Audio


@dataclass
class AudioSchedule:
    """One scheduled playback: ``start_time_s`` (monotonic s) of sample 0, ``duration_s``."""

    start_time_s: float
    duration_s: float
    sample_rate_hz: int
    backend: str
    scheduled_at_s: float = field(default_factory=time.monotonic)


class AudioOutput(Protocol):
    name: str

    def play_at(self, audio: Audio, start_time_s: float) -> AudioSchedule: ...
    def close(self) -> None: ...


class RecordedAudioOutput:
    """Plays nothing; keeps the list of :class:`AudioSchedule` it was given."""

    name = "recorded"

    def __init__(self) -> None:
        self.schedules: list[AudioSchedule] = []

    def play_at(self, audio: Audio, start_time_s: float) -> AudioSchedule:
        s = AudioSchedule(start_time_s, audio.duration_s, audio.sample_rate_hz, self.name)
        self.schedules.append(s)
        return s

    def close(self) -> None:
        pass


class SoundDeviceOutput:
    """PortAudio output whose first sample reaches the DAC at the scheduled monotonic time."""

    name = "sounddevice"

    def __init__(self) -> None:
        import sounddevice  # optional dependency: pip install sounddevice (needs libportaudio2)

        self._sd = sounddevice
        self._stream = None
        self._samples = np.zeros(0, np.float32)
        self._start_s = 0.0
        self._clock_offset_s = 0.0

    def play_at(self, audio: Audio, start_time_s: float) -> AudioSchedule:
        self.close()
        self._samples = np.ascontiguousarray(audio.samples, np.float32)
        self._start_s = float(start_time_s)
        rate = int(audio.sample_rate_hz)

        def callback(outdata, frames, t, status):  # noqa: ANN001 - PortAudio callback signature
            dac_s = t.outputBufferDacTime + self._clock_offset_s
            first = int(round((dac_s - self._start_s) * rate))
            out = np.zeros(frames, np.float32)
            lo, hi = max(first, 0), min(first + frames, len(self._samples))
            if hi > lo:
                out[lo - first:hi - first] = self._samples[lo:hi]
            outdata[:, 0] = out

        self._stream = self._sd.OutputStream(samplerate=rate, channels=1, dtype="float32", callback=callback,
                                             latency="low")
        # PortAudio's stream clock and CLOCK_MONOTONIC: measure their offset once
        self._clock_offset_s = time.monotonic() - self._stream.time
        self._stream.start()
        return AudioSchedule(start_time_s, audio.duration_s, rate, self.name)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


def open_audio_output(kind: str = "auto") -> AudioOutput:
    """'auto': PortAudio when ``sounddevice`` imports and an output device exists, else recorded."""
    if kind == "recorded":
        return RecordedAudioOutput()
    try:
        out = SoundDeviceOutput()
        out._sd.query_devices(kind="output")
        return out
    except Exception as e:  # noqa: BLE001 - no PortAudio, no device: fall back, say so
        if kind == "sounddevice":
            raise RuntimeError(f"audio output unavailable: {e}") from e
        print(f"note: no audio output ({type(e).__name__}: {e}); audio start times are recorded only",
              file=sys.stderr)
        return RecordedAudioOutput()
