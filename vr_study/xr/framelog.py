"""The renderer's frame log: one JSON object per frame (JSON Lines), appended as frames pass.

Fields per frame: ``frame`` index, ``predicted_display_time_s`` (CLOCK_MONOTONIC s, from
xrWaitFrame), ``xr_time_ns`` (the runtime's XrTime), ``period_s``, ``should_render``,
``cpu_ms`` (our work between xrWaitFrame returning and xrEndFrame returning),
``late`` (xrEndFrame returned after the predicted display time), ``missed_vsyncs``
(display periods skipped since the previous frame), ``pose_age_s`` per avatar (how far
the display time lies past the newest pose available: 0 while interpolating),
``session_state``.

Input (OpenXR runs and the simulator; empty/None where not tracked): ``head_pose``: the
head (mean of the two eyes) in STAGE at the predicted display time, ``[x, y, z, qx, qy,
qz, qw]`` (metres; unit quaternion); ``controllers``: per hand (``left``/``right``) the
active interaction ``profile`` path (or null), ``aim`` and ``grip`` poses in STAGE as
``[x, y, z, qx, qy, qz, qw]`` (null while untracked), ``select`` (held) and
``select_pressed`` (went down this frame); ``panel_uv``: per pointer (``left``, ``right``,
``gaze``) where it hit the panel, ``[u, v]`` (0..1, v down).

Latency: ``newest_pose_s`` per avatar (pose streams): the presentation time (CLOCK_MONOTONIC
s, the stream's shared clock) of the newest pose received when the frame was drawn. With a
pose server that publishes each pose when it is due (``stream serve --lead 0``),
``predicted_display_time_s - newest_pose_s`` is the end-to-end latency from the pose
server's publishing to the display (``benchmarks/xr_latency.py``).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class FrameRecord:
    frame: int
    predicted_display_time_s: float
    xr_time_ns: int
    period_s: float
    should_render: bool
    cpu_ms: float
    late: bool
    missed_vsyncs: int
    session_state: str
    pose_age_s: dict[str, float] = field(default_factory=dict)
    head_pose: list[float] | None = None
    controllers: dict[str, dict] = field(default_factory=dict)
    panel_uv: dict[str, list[float]] = field(default_factory=dict)
    newest_pose_s: dict[str, float] = field(default_factory=dict)


@dataclass
class FrameSummary:
    frames: int = 0
    rendered: int = 0
    late: int = 0
    missed_vsyncs: int = 0
    cpu_ms_mean: float = 0.0
    cpu_ms_p99: float = 0.0
    max_pose_age_s: float = 0.0
    frame_rate_hz: float = 0.0


class FrameLog:
    """Collects :class:`FrameRecord` s; writes them to ``path`` (JSONL) when given."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else None
        self._fh: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8")
        self._cpu: list[float] = []
        self._first_t: float | None = None
        self._last_t: float | None = None
        self.summary = FrameSummary()

    def record(self, rec: FrameRecord) -> None:
        s = self.summary
        s.frames += 1
        s.rendered += int(rec.should_render)
        s.late += int(rec.late)
        s.missed_vsyncs += rec.missed_vsyncs
        if rec.should_render:
            self._cpu.append(rec.cpu_ms)
        if rec.pose_age_s:
            s.max_pose_age_s = max(s.max_pose_age_s, max(rec.pose_age_s.values()))
        if self._first_t is None:
            self._first_t = rec.predicted_display_time_s
        self._last_t = rec.predicted_display_time_s
        if self._fh is not None:
            self._fh.write(json.dumps(asdict(rec)) + "\n")
            self._fh.flush()  # readers (monitors, tests) see each frame as it passes

    def close(self) -> FrameSummary:
        s = self.summary
        if self._cpu:
            c = sorted(self._cpu)
            s.cpu_ms_mean = sum(c) / len(c)
            s.cpu_ms_p99 = c[min(len(c) - 1, math.ceil(0.99 * len(c)) - 1)]
        if self._first_t is not None and self._last_t is not None and self._last_t > self._first_t:
            s.frame_rate_hz = (s.frames - 1) / (self._last_t - self._first_t)
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        return s
