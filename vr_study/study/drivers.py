"""Stimulus drivers: what the session orchestrator calls to show a clip or speak a turn.

:class:`SimulatedDriver` only waits the clip's duration (``--simulate``, tests, the demo);
:class:`StreamDriver` tells the pose server (``vr_study.stream``) to load and play the clip
for the renderer, and waits until it has played. Every method returns False when ``stop``
was set before the stimulus finished (skip, abort).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Protocol

from vr_study.storage import TrialRecord

OnOnset = Callable[[], None]


class StimulusDriver(Protocol):
    def present(self, step: TrialRecord, stop: threading.Event, on_onset: OnOnset) -> bool:
        """Show the step's clip (motion + audio); call ``on_onset`` when it starts; block until it ends."""

    def speak(self, step: TrialRecord, wav: Path, stop: threading.Event, on_onset: OnOnset) -> bool:
        """Play agent speech ``wav`` with motion from the step's method; block until it ends."""

    def health(self) -> dict[str, Any]:
        """Stream health for the experimenter page (free-form, JSON-serialisable)."""

    def close(self) -> None: ...


def wav_duration_s(path: str | Path) -> float:
    import soundfile

    info = soundfile.info(str(path))
    return info.frames / float(info.samplerate)


class SimulatedDriver:
    """Waits each clip's duration (seconds from the plan) divided by ``speed``."""

    def __init__(self, speed: float = 1.0, default_duration_s: float = 8.0):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed, self.default_duration_s = speed, default_duration_s
        self.presented = 0

    def _wait(self, duration_s: float, stop: threading.Event, on_onset: OnOnset) -> bool:
        on_onset()
        self.presented += 1
        return not stop.wait(duration_s / self.speed)

    def present(self, step: TrialRecord, stop: threading.Event, on_onset: OnOnset) -> bool:
        return self._wait(float(step.extra.get("duration_s", self.default_duration_s)), stop, on_onset)

    def speak(self, step: TrialRecord, wav: Path, stop: threading.Event, on_onset: OnOnset) -> bool:
        return self._wait(wav_duration_s(wav), stop, on_onset)

    def health(self) -> dict[str, Any]:
        return {"driver": "simulated", "speed": self.speed, "presented": self.presented}

    def close(self) -> None:
        pass


class StreamDriver:
    """Drives the pose server over its control socket (``vr-study stream serve``)."""

    def __init__(self, control_endpoint: str, avatar: str = "agent", lead_s: float = 0.2, timeout_s: float = 2.0,
                 server_public_key: bytes | None = None, client_keys=None):
        from vr_study.stream.control import StreamControl

        self.control = StreamControl(control_endpoint, timeout_s=timeout_s, server_public_key=server_public_key,
                                     client_keys=client_keys)
        self.avatar, self.lead_s = avatar, lead_s
        self.last_error: str | None = None

    def _load(self, step: TrialRecord) -> None:
        """Load the step's clip by library id; fall back to its file path (a server started
        with a motion file rather than the library)."""
        from vr_study.stream.control import ControlError

        names = [n for n in (step.clip_id, step.extra.get("clip_path")) if n]
        for i, name in enumerate(names):
            try:
                self.control.load(self.avatar, name)
                return
            except ControlError as e:
                self.last_error = str(e)
                if i == len(names) - 1:
                    raise

    def _play(self, step: TrialRecord, stop: threading.Event, on_onset: OnOnset,
              duration_s: float | None = None) -> bool:
        self._load(step)
        reply = self.control.play(self.avatar, at_s=time.monotonic() + self.lead_s)
        start = float(reply.get("start_s", time.monotonic()))
        if stop.wait(max(0.0, start - time.monotonic())):
            self.control.stop(self.avatar)
            return False
        on_onset()
        length = duration_s if duration_s is not None else float(reply.get("duration_s", 0.0))
        if stop.wait(max(0.0, length)):
            self.control.stop(self.avatar)
            return False
        if duration_s is not None:
            self.control.stop(self.avatar)
        return True

    def present(self, step: TrialRecord, stop: threading.Event, on_onset: OnOnset) -> bool:
        return self._play(step, stop, on_onset)

    def speak(self, step: TrialRecord, wav: Path, stop: threading.Event, on_onset: OnOnset) -> bool:
        # the clip of the trial's method moves the agent for as long as the speech lasts
        return self._play(step, stop, on_onset, wav_duration_s(wav))

    def health(self) -> dict[str, Any]:
        try:
            return {"driver": "stream", **self.control.status(), "last_error": self.last_error}
        except Exception as e:  # noqa: BLE001 - health is best-effort, reported not raised
            return {"driver": "stream", "ok": False, "error": str(e)}

    def close(self) -> None:
        self.control.close()
