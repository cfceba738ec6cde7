"""Where the renderer's poses come from: a clip played directly, or the ZeroMQ pose stream.

Both answer "the pose of avatar A at display time t" (t in seconds on CLOCK_MONOTONIC,
the clock of :func:`time.monotonic`) with a :class:`vr_study.stream.PoseSample`
(``full_pose`` (55, 3) rad, ``transl`` (3,) m, ``expression`` (E,), ``age_s``).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from vr_study.motion import MotionClip
from vr_study.rotations import slerp_axis_angle
from vr_study.stream.protocol import PoseSample


class PoseSource(Protocol):
    def avatar_ids(self) -> list[str]: ...
    def poll(self) -> None: ...
    def pose_at(self, avatar_id: str, display_time_s: float) -> PoseSample | None: ...
    def finished(self, display_time_s: float) -> bool: ...
    def stats(self) -> dict: ...
    def close(self) -> None: ...


class ClipPoseSource:
    """Plays one MotionClip as avatar ``avatar_id``, starting at ``start_time_s`` (monotonic s).

    Before the start the first frame is held, after the end the last; in between frames are
    interpolated (slerp for rotations, linear for translation and expression).
    """

    def __init__(self, clip: MotionClip, avatar_id: str = "agent", start_time_s: float | None = None):
        self.clip = clip
        self.avatar_id = avatar_id
        self.start_time_s = start_time_s
        self._full = clip.full_pose().astype(np.float32)
        self._transl = clip.transl.astype(np.float32)
        self._expr = clip.expression.astype(np.float32)

    def start(self, start_time_s: float) -> None:
        self.start_time_s = float(start_time_s)

    def avatar_ids(self) -> list[str]:
        return [self.avatar_id]

    def poll(self) -> None:
        pass

    def pose_at(self, avatar_id: str, display_time_s: float) -> PoseSample | None:
        if avatar_id != self.avatar_id:
            return None
        n = self.clip.num_frames
        t = 0.0 if self.start_time_s is None else display_time_s - self.start_time_s
        f = float(np.clip(t * self.clip.fps, 0.0, n - 1))
        i = min(int(f), n - 1)
        j = min(i + 1, n - 1)
        w = f - i
        if w < 1e-6 or i == j:
            pose, transl, expr = self._full[i], self._transl[i], self._expr[i]
        else:
            pose = slerp_axis_angle(self._full[i], self._full[j], w).astype(np.float32)
            transl = (1 - w) * self._transl[i] + w * self._transl[j]
            expr = (1 - w) * self._expr[i] + w * self._expr[j]
        age = max(0.0, t - (n - 1) / self.clip.fps)  # > 0 once the clip has ended (held)
        return PoseSample(pose, np.asarray(transl, np.float32), np.asarray(expr, np.float32),
                          display_time_s, i, age)

    def finished(self, display_time_s: float) -> bool:
        return (self.start_time_s is not None
                and display_time_s - self.start_time_s > (self.clip.num_frames - 1) / self.clip.fps)

    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        pass


class StreamPoseSource:
    """Avatars from the pose stream (:class:`vr_study.stream.PoseSubscriber`).

    ``avatars``: ids to show (None: every id that appears, up to ``max_avatars``). The
    subscriber holds the last pose while a publisher is quiet and picks up a restarted one.
    """

    def __init__(self, endpoint: str, avatars: list[str] | None = None, server_public_key: bytes | None = None,
                 max_avatars: int = 4, client_keys=None):
        from vr_study.stream import PoseSubscriber

        self._sub = PoseSubscriber(endpoint, avatars=avatars, server_public_key=server_public_key,
                                   client_keys=client_keys)
        self._fixed = list(avatars) if avatars else None
        self._max = max_avatars

    def avatar_ids(self) -> list[str]:
        if self._fixed is not None:
            return self._fixed
        return self._sub.avatars()[: self._max]

    def poll(self) -> None:
        self._sub.poll()

    def pose_at(self, avatar_id: str, display_time_s: float) -> PoseSample | None:
        return self._sub.pose_at(avatar_id, display_time_s)

    def newest_time_s(self, avatar_id: str) -> float | None:
        """Presentation time (shared clock, s) of the newest pose received for ``avatar_id``."""
        return self._sub.newest_time_s(avatar_id)

    def finished(self, display_time_s: float) -> bool:
        return False  # a stream ends when the runtime or the user ends the session

    def take_audio_cues(self) -> list:
        """Audio cues (:class:`vr_study.stream.protocol.AudioCue`) received since the last call."""
        return self._sub.take_audio_cues()

    def stats(self) -> dict:
        st = self._sub.stats
        return {"received": st.received, "gaps": st.gaps, "late": st.late, "restarts": st.restarts,
                "dropped_malformed": st.dropped_malformed, "dropped_unknown_avatar": st.dropped_unknown_avatar}

    def close(self) -> None:
        self._sub.close()
