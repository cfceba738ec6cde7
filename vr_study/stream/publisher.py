"""Publisher side of the pose stream: one PUB socket, any number of avatars (topics)."""
from __future__ import annotations

import secrets

import numpy as np
import zmq

from vr_study.stream.endpoint import bind
from vr_study.stream.protocol import AudioCue, encode_audio_cue, encode_pose
from vr_study.stream.security import CurveKeys, make_curve_server


class PosePublisher:
    """Publish SMPL-X poses on ``endpoint`` (bound). ``keys``: CURVE server keys, optional."""

    def __init__(self, endpoint: str, keys: CurveKeys | None = None, context: zmq.Context | None = None):
        self._ctx = context or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.PUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.SNDHWM, 10000)
        if keys is not None:
            make_curve_server(self._sock, keys)
        self.endpoint = bind(self._sock, endpoint, "pose address")
        self.epoch = secrets.randbits(32)
        self._seq: dict[str, int] = {}
        self._cues = 0

    def send(self, avatar: str, time_s: float, fps: float, full_pose: np.ndarray, transl: np.ndarray,
             expression: np.ndarray) -> int:
        """Publish one pose of ``avatar`` for presentation at ``time_s``; return its sequence number."""
        seq = self._seq.get(avatar, -1) + 1
        self._seq[avatar] = seq
        self._sock.send_multipart(encode_pose(avatar, self.epoch, seq, time_s, fps, full_pose, transl, expression),
                                  copy=False)
        return seq

    def send_audio_cue(self, avatar: str, start_s: float, offset_s: float, audio: str,
                       library_path: str | None = None) -> AudioCue:
        """Tell renderers: ``audio`` at position ``offset_s`` (s) plays at monotonic ``start_s``."""
        self._cues += 1
        cue = AudioCue(avatar, self.epoch, self._cues, float(start_s), float(offset_s), str(audio), library_path)
        self._sock.send_multipart(encode_audio_cue(cue))
        return cue

    def send_raw(self, frames: list[bytes]) -> None:
        """Send frames as they are (for tests of malformed input)."""
        self._sock.send_multipart(frames)

    def close(self) -> None:
        self._sock.close(0)

    def __enter__(self) -> "PosePublisher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
