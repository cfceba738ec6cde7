"""Jitter buffer: received poses of one avatar, interpolated to the display time.

Pure data structure (no sockets). Rotations are slerped, translation and expression
interpolated linearly. When the display time passes the newest pose the buffer holds it
(no extrapolation) and reports its age, so an avatar whose publisher went quiet stands
still instead of drifting.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from vr_study.rotations import slerp_axis_angle
from vr_study.stream.protocol import PoseHeader, PoseSample


@dataclass
class BufferStats:
    """Counters of one avatar's stream."""

    received: int = 0
    gaps: int = 0          # sequence numbers skipped (frames lost on the way)
    late: int = 0          # poses that arrived after their presentation time had been displayed
    duplicates: int = 0
    restarts: int = 0      # publisher restarts seen (new epoch)


@dataclass
class JitterBuffer:
    """Time-ordered poses of one avatar, at most ``capacity`` of them."""

    capacity: int = 256
    stats: BufferStats = field(default_factory=BufferStats)
    _times: list[float] = field(default_factory=list)
    _samples: list[PoseSample] = field(default_factory=list)
    _epoch: int | None = None
    _last_seq: int | None = None
    _last_display_s: float = -np.inf

    def push(self, header: PoseHeader, sample: PoseSample) -> None:
        """Add a received pose; track gaps, duplicates, late arrivals and restarts."""
        st = self.stats
        if self._epoch is not None and header.epoch != self._epoch:
            st.restarts += 1
            self._times.clear()
            self._samples.clear()
            self._last_seq = None
        self._epoch = header.epoch
        if self._last_seq is not None:
            if header.seq <= self._last_seq:
                st.duplicates += 1
                return
            st.gaps += header.seq - self._last_seq - 1
        self._last_seq = header.seq
        st.received += 1
        if sample.time_s < self._last_display_s:
            st.late += 1
        i = bisect.bisect_right(self._times, sample.time_s)
        self._times.insert(i, sample.time_s)
        self._samples.insert(i, sample)
        if len(self._times) > self.capacity:
            del self._times[0], self._samples[0]

    def __len__(self) -> int:
        return len(self._times)

    @property
    def newest_time_s(self) -> float | None:
        return self._times[-1] if self._times else None

    def pose_at(self, display_time_s: float) -> PoseSample | None:
        """The pose to show at ``display_time_s`` (seconds, shared clock), or None if empty."""
        if not self._times:
            return None
        self._last_display_s = max(self._last_display_s, display_time_s)
        times = self._times
        if display_time_s >= times[-1]:
            s = self._samples[-1]
            return PoseSample(s.full_pose, s.transl, s.expression, s.time_s, s.seq, display_time_s - s.time_s)
        if display_time_s <= times[0]:
            s = self._samples[0]
            return PoseSample(s.full_pose, s.transl, s.expression, s.time_s, s.seq, 0.0)
        j = bisect.bisect_right(times, display_time_s)
        a, b = self._samples[j - 1], self._samples[j]
        w = (display_time_s - a.time_s) / (b.time_s - a.time_s)
        pose = slerp_axis_angle(a.full_pose, b.full_pose, w).astype(np.float32)
        transl = ((1 - w) * a.transl + w * b.transl).astype(np.float32)
        if a.expression.shape == b.expression.shape:
            expr = ((1 - w) * a.expression + w * b.expression).astype(np.float32)
        else:
            expr = b.expression
        # drop poses older than the one we interpolate from: they can no longer be shown
        if j - 1 > 0:
            del self._times[:j - 1], self._samples[:j - 1]
        return PoseSample(pose, transl, expr, display_time_s, a.seq, 0.0)
