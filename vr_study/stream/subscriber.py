"""Subscriber side of the pose stream: what the renderer uses.

``PoseSubscriber`` drains a SUB socket without blocking, keeps one :class:`JitterBuffer`
per avatar, and answers "which pose at this display time". Malformed messages and
unknown versions are counted and dropped; the subscriber never raises on bad input from
the network. A restarted publisher is picked up again on its own (ZeroMQ reconnects; the
new epoch resets that avatar's buffer).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import zmq

from vr_study.stream.jitter import BufferStats, JitterBuffer
from vr_study.stream.protocol import (AudioCue, MalformedMessage, PoseSample, decode_audio_cue, decode_pose,
                                     is_audio_cue)
from vr_study.stream.endpoint import connect
from vr_study.stream.security import CurveKeys, make_curve_client

log = logging.getLogger(__name__)


@dataclass
class StreamStats:
    """Totals over all avatars plus messages dropped before they reached an avatar."""

    received: int = 0
    gaps: int = 0
    late: int = 0
    restarts: int = 0
    dropped_malformed: int = 0
    dropped_unknown_avatar: int = 0
    per_avatar: dict[str, BufferStats] = field(default_factory=dict)


class PoseSubscriber:
    """Receive poses for ``avatars`` (all avatars when None) from ``endpoint``.

    ``server_public_key``: the pose server's CURVE public key (bytes, Z85); when given,
    only that server is accepted. ``client_keys``: this renderer's own key pair, which a
    server with a client allow-list requires.
    """

    def __init__(self, endpoint: str, avatars: list[str] | None = None, server_public_key: bytes | None = None,
                 context: zmq.Context | None = None, buffer_capacity: int = 256,
                 client_keys: CurveKeys | None = None):
        self._ctx = context or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVHWM, 10000)
        self._sock.setsockopt(zmq.RECONNECT_IVL, 50)
        self._sock.setsockopt(zmq.RECONNECT_IVL_MAX, 500)
        if server_public_key is not None:
            make_curve_client(self._sock, server_public_key, client_keys)
        self._wanted = set(avatars) if avatars else None
        for a in (avatars or [""]):
            self._sock.setsockopt(zmq.SUBSCRIBE, a.encode("utf-8"))
        connect(self._sock, endpoint, "pose address")
        self._buffers: dict[str, JitterBuffer] = {}
        self._capacity = buffer_capacity
        self._dropped_malformed = 0
        self._dropped_unknown = 0
        self._cues: list[AudioCue] = []
        self._cues_seen: set[tuple[int, int]] = set()

    # ------------------------------------------------------------------ receiving
    def poll(self, timeout_ms: int = 0, max_messages: int = 10000) -> int:
        """Receive what has arrived (waiting up to ``timeout_ms`` for the first); return count."""
        n = 0
        if timeout_ms and not self._sock.poll(timeout_ms):
            return 0
        while n < max_messages:
            try:
                frames = self._sock.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                break
            n += 1
            self._handle(frames)
        return n

    def _handle(self, frames: list[bytes]) -> None:
        if is_audio_cue(frames):
            self._handle_cue(frames)
            return
        try:
            avatar, header, sample = decode_pose(frames)
        except MalformedMessage as e:
            self._dropped_malformed += 1
            log.debug("dropped malformed pose message: %s", e)
            return
        if self._wanted is not None and avatar not in self._wanted:
            self._dropped_unknown += 1  # prefix match of a longer id, e.g. 'a1' vs 'a10'
            return
        buf = self._buffers.get(avatar)
        if buf is None:
            buf = self._buffers[avatar] = JitterBuffer(capacity=self._capacity)
        buf.push(header, sample)

    def _handle_cue(self, frames: list[bytes]) -> None:
        try:
            cue = decode_audio_cue(frames)
        except MalformedMessage as e:
            self._dropped_malformed += 1
            log.debug("dropped malformed audio cue: %s", e)
            return
        if self._wanted is not None and cue.avatar not in self._wanted:
            self._dropped_unknown += 1
            return
        key = (cue.epoch, cue.cue_id)
        if key not in self._cues_seen:
            self._cues_seen.add(key)
            self._cues.append(cue)

    # ------------------------------------------------------------------ reading
    def take_audio_cues(self) -> list[AudioCue]:
        """Audio cues received since the last call (each once), oldest first."""
        out, self._cues = self._cues, []
        return out

    def avatars(self) -> list[str]:
        """Avatar ids seen so far."""
        return sorted(self._buffers)

    def pose_at(self, avatar_id: str, display_time_s: float) -> PoseSample | None:
        """Pose of ``avatar_id`` interpolated to ``display_time_s`` (shared monotonic clock)."""
        buf = self._buffers.get(avatar_id)
        return None if buf is None else buf.pose_at(display_time_s)

    def newest_time_s(self, avatar_id: str) -> float | None:
        buf = self._buffers.get(avatar_id)
        return None if buf is None else buf.newest_time_s

    @property
    def stats(self) -> StreamStats:
        st = StreamStats(dropped_malformed=self._dropped_malformed, dropped_unknown_avatar=self._dropped_unknown)
        for a, b in self._buffers.items():
            st.per_avatar[a] = b.stats
            st.received += b.stats.received
            st.gaps += b.stats.gaps
            st.late += b.stats.late
            st.restarts += b.stats.restarts
        return st

    def close(self) -> None:
        self._sock.close(0)

    def __enter__(self) -> "PoseSubscriber":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
