"""MotionClip: per-frame SMPL-X parameters at a frame rate, plus what produced them.

Units: rotations are axis-angle in radians (SMPL-X's parent-relative joint rotations),
translation in metres, time in seconds, frame rate in Hz. All per-frame arrays are
float32 with T = number of frames on the first axis.

The 55 SMPL-X joints in the BEAT2 ``poses`` (T, 165) order are: pelvis (global_orient),
21 body joints, jaw, left eye, right eye, 15 left-hand joints, 15 right-hand joints.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vr_study.errors import InputError
from vr_study.rotations import slerp_axis_angle

NUM_BODY_JOINTS = 21
NUM_HAND_JOINTS = 15
NUM_JOINTS = 55
POSE_DIM = NUM_JOINTS * 3  # 165
MIN_FPS, MAX_FPS = 1.0, 1000.0

#: (name, shape after T) of every per-frame rotation field, in BEAT2 ``poses`` order.
POSE_FIELDS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("global_orient", (3,)),
    ("body_pose", (NUM_BODY_JOINTS, 3)),
    ("jaw_pose", (3,)),
    ("leye_pose", (3,)),
    ("reye_pose", (3,)),
    ("left_hand_pose", (NUM_HAND_JOINTS, 3)),
    ("right_hand_pose", (NUM_HAND_JOINTS, 3)),
)

#: Column slices of each field in the (T, 165) BEAT2 ``poses`` array.
POSE_SLICES: dict[str, slice] = {}
_start = 0
for _name, _shape in POSE_FIELDS:
    _n = int(np.prod(_shape))
    POSE_SLICES[_name] = slice(_start, _start + _n)
    _start += _n
del _start, _name, _shape, _n

#: Named groups of the body used when asking "which parts move".
PART_JOINTS: dict[str, list[int]] = {
    "root": [0],
    "legs": [1, 2, 4, 5, 7, 8, 10, 11],
    "spine": [3, 6, 9],
    "head": [12, 15],
    "arms": [13, 14, 16, 17, 18, 19, 20, 21],
    "jaw": [22],
    "eyes": [23, 24],
    "left_hand": list(range(25, 40)),
    "right_hand": list(range(40, 55)),
}


@dataclass
class MotionMeta:
    """Where a clip came from. Strings are free text except ``emotion`` (a label)."""

    method: str = "unknown"
    emotion: str | None = None
    utterance: str | None = None
    seed: int | None = None
    audio_path: str | None = None
    audio_offset_s: float = 0.0  # seconds into the audio at which frame 0 plays
    source_format: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MotionMeta":
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in d.items() if k in names}
        extra = dict(known.pop("extra", {}) or {})
        extra.update({k: v for k, v in d.items() if k not in names})
        return cls(**known, extra=extra)


@dataclass
class MotionClip:
    """SMPL-X motion: T frames of parameters at ``fps`` Hz.

    Shapes: ``global_orient`` (T,3), ``body_pose`` (T,21,3), ``jaw_pose``/``leye_pose``/
    ``reye_pose`` (T,3), ``left_hand_pose``/``right_hand_pose`` (T,15,3) axis-angle radians
    (full hand pose, not PCA, with SMPL-X's flat-hand convention: zero = flat hand);
    ``transl`` (T,3) metres; ``expression`` (T,E) coefficients; ``betas`` (B,).
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    jaw_pose: np.ndarray
    leye_pose: np.ndarray
    reye_pose: np.ndarray
    left_hand_pose: np.ndarray
    right_hand_pose: np.ndarray
    transl: np.ndarray
    expression: np.ndarray
    betas: np.ndarray
    fps: float
    gender: str = "neutral"
    meta: MotionMeta = field(default_factory=MotionMeta)

    # ------------------------------------------------------------------ construction
    @classmethod
    def zeros(cls, num_frames: int, fps: float = 30.0, num_expression: int = 100,
              num_betas: int = 300, **meta: Any) -> "MotionClip":
        """A clip of ``num_frames`` frames in the rest pose (A zero pose = T-pose)."""
        T = int(num_frames)
        z = lambda *s: np.zeros((T, *s), np.float32)  # noqa: E731
        return cls(global_orient=z(3), body_pose=z(21, 3), jaw_pose=z(3), leye_pose=z(3),
                   reye_pose=z(3), left_hand_pose=z(15, 3), right_hand_pose=z(15, 3),
                   transl=z(3), expression=z(num_expression),
                   betas=np.zeros(num_betas, np.float32), fps=float(fps),
                   meta=MotionMeta(**meta))

    @classmethod
    def from_poses(cls, poses: np.ndarray, transl: np.ndarray, expression: np.ndarray | None,
                   betas: np.ndarray | None, fps: float, gender: str = "neutral",
                   meta: MotionMeta | None = None) -> "MotionClip":
        """Build from a BEAT2-ordered (T, 165) axis-angle array (see module docstring)."""
        poses = np.asarray(poses, np.float32).reshape(len(poses), POSE_DIM)
        T = poses.shape[0]
        parts = {name: poses[:, POSE_SLICES[name]].reshape((T, *shape))
                 for name, shape in POSE_FIELDS}
        expr = np.zeros((T, 0), np.float32) if expression is None else np.asarray(expression, np.float32)
        return cls(**parts, transl=np.asarray(transl, np.float32).reshape(T, 3),
                   expression=expr.reshape(T, -1),
                   betas=np.zeros(10, np.float32) if betas is None else np.asarray(betas, np.float32).ravel(),
                   fps=float(fps), gender=str(gender), meta=meta or MotionMeta())

    # ------------------------------------------------------------------ views
    @property
    def num_frames(self) -> int:
        return int(self.global_orient.shape[0])

    @property
    def duration_s(self) -> float:
        """Duration in seconds (num_frames / fps)."""
        return self.num_frames / self.fps

    @property
    def num_expression(self) -> int:
        return int(self.expression.shape[1])

    def poses(self) -> np.ndarray:
        """(T, 165) float32 axis-angle in BEAT2 order."""
        T = self.num_frames
        return np.concatenate([getattr(self, n).reshape(T, int(np.prod(shape))) for n, shape in POSE_FIELDS],
                              axis=1).astype(np.float32)

    def full_pose(self) -> np.ndarray:
        """(T, 55, 3) float32 axis-angle of all 55 joints."""
        return self.poses().reshape(self.num_frames, NUM_JOINTS, 3)

    def times_s(self) -> np.ndarray:
        """(T,) presentation time of each frame in seconds from the clip start."""
        return np.arange(self.num_frames, dtype=np.float64) / self.fps

    def replace(self, **changes: Any) -> "MotionClip":
        return dataclasses.replace(self, **changes)

    def copy(self) -> "MotionClip":
        arrays = {f.name: getattr(self, f.name).copy() for f in dataclasses.fields(self)
                  if isinstance(getattr(self, f.name), np.ndarray)}
        return dataclasses.replace(self, **arrays, meta=MotionMeta.from_dict(self.meta.to_dict()))

    # ------------------------------------------------------------------ checks
    def validate(self, source: str = "motion clip") -> "MotionClip":
        """Check shapes, dtypes and values; raise :class:`InputError` naming the field."""
        if not (MIN_FPS <= float(self.fps) <= MAX_FPS) or not np.isfinite(self.fps):
            raise InputError(source, "fps", f"is {self.fps!r}",
                             f"give a frame rate between {MIN_FPS:g} and {MAX_FPS:g} Hz")
        T = self.num_frames
        if T == 0:
            raise InputError(source, "poses", "has zero frames", "give a clip with at least one frame")
        expected = dict(POSE_FIELDS) | {"transl": (3,)}
        for name, shape in expected.items():
            arr = getattr(self, name)
            if arr.shape != (T, *shape):
                raise InputError(source, name, f"has shape {arr.shape}", f"expected {(T, *shape)}")
        if self.expression.ndim != 2 or self.expression.shape[0] != T:
            raise InputError(source, "expression", f"has shape {self.expression.shape}", f"expected ({T}, E)")
        for f in dataclasses.fields(self):
            arr = getattr(self, f.name)
            if isinstance(arr, np.ndarray):
                if not np.issubdtype(arr.dtype, np.floating):
                    raise InputError(source, f.name, f"has dtype {arr.dtype}", "expected floating point numbers")
                if not np.all(np.isfinite(arr)):
                    bad = int(np.argwhere(~np.isfinite(arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr))[0][0])
                    where = f"frame {bad}" if arr.ndim > 1 else f"index {bad}"
                    raise InputError(source, f.name, f"contains NaN or Inf (first at {where})",
                                     "fix or drop those frames before loading")
        return self

    # ------------------------------------------------------------------ edits
    def resample(self, fps: float) -> "MotionClip":
        """Resample to ``fps`` Hz: slerp for rotations, linear for translation and expression.

        The new clip covers the same time span [0, (T-1)/fps_old] seconds.
        """
        fps = float(fps)
        if not (MIN_FPS <= fps <= MAX_FPS):
            raise InputError(None, "fps", f"{fps!r} is out of range", f"use {MIN_FPS:g}..{MAX_FPS:g} Hz")
        T = self.num_frames
        if T == 1 or abs(fps - self.fps) < 1e-9:
            return self.replace(fps=fps) if T == 1 else self.copy()
        span = (T - 1) / self.fps
        n_new = int(np.floor(span * fps + 1e-6)) + 1
        src = np.arange(n_new) * (self.fps / fps)  # fractional source frame index
        i0 = np.clip(np.floor(src).astype(int), 0, T - 1)
        i1 = np.clip(i0 + 1, 0, T - 1)
        w = (src - i0).astype(np.float64)

        poses = self.full_pose()
        rot = slerp_axis_angle(poses[i0], poses[i1], w[:, None]).astype(np.float32)

        def lerp(a: np.ndarray) -> np.ndarray:
            ww = w.reshape((-1,) + (1,) * (a.ndim - 1))
            return ((1 - ww) * a[i0] + ww * a[i1]).astype(np.float32)

        out = MotionClip.from_poses(rot.reshape(n_new, POSE_DIM), lerp(self.transl), lerp(self.expression),
                                    self.betas.copy(), fps, self.gender,
                                    MotionMeta.from_dict(self.meta.to_dict()))
        return out

    def trim(self, start_s: float = 0.0, end_s: float | None = None) -> "MotionClip":
        """Frames whose time lies in [start_s, end_s) seconds; audio offset moves along."""
        t = self.times_s()
        end = t[-1] + 1.0 / self.fps if end_s is None else end_s
        keep = (t >= start_s - 1e-9) & (t < end - 1e-9)
        if not keep.any():
            raise InputError(None, "trim", f"[{start_s}, {end_s}) s keeps no frame of a {self.duration_s:.3f} s clip",
                             "choose times inside the clip")
        idx = np.nonzero(keep)[0]
        out = self.copy()
        for f in dataclasses.fields(self):
            arr = getattr(out, f.name)
            if isinstance(arr, np.ndarray) and f.name != "betas":
                setattr(out, f.name, arr[idx])
        out.meta.audio_offset_s = self.meta.audio_offset_s + float(idx[0]) / self.fps
        return out

    # ------------------------------------------------------------------ summary
    def moving_parts(self, threshold_rad: float = 1e-3) -> dict[str, float]:
        """Range of motion (max over joints of max-min angle, radians) per body part."""
        pose = self.full_pose()
        spread = np.linalg.norm(pose.max(axis=0) - pose.min(axis=0), axis=-1)  # (55,)
        out = {part: float(spread[j].max()) for part, j in PART_JOINTS.items()}
        out["transl_m"] = float(np.linalg.norm(self.transl.max(0) - self.transl.min(0)))
        out["expression"] = float(np.abs(self.expression.max(0) - self.expression.min(0)).max()) if self.num_expression else 0.0
        return out


def check_audio_length(clip: MotionClip, audio_duration_s: float, tolerance_s: float = 0.1) -> float:
    """Difference (s) between the clip's end and the audio's end; raise if beyond tolerance.

    The clip plays from ``clip.meta.audio_offset_s`` seconds into the audio.
    """
    remaining = audio_duration_s - clip.meta.audio_offset_s
    diff = clip.duration_s - remaining
    if abs(diff) > tolerance_s:
        raise InputError(clip.meta.audio_path, "duration",
                         f"motion lasts {clip.duration_s:.3f} s but the audio has {remaining:.3f} s after the offset",
                         "trim or resample the clip, or pass the matching audio")
    return diff


def orientation_warnings(clip: MotionClip) -> list[str]:
    """Lines warning that ``clip`` is upside down, lying or faces away (empty when it is fine).

    The project's convention is Y up, facing +Z (see :mod:`vr_study.orientation`, which
    does the work); ``motion convert``, ``library add`` and ``generate`` print these lines.
    """
    from vr_study.orientation import orientation_warnings as warnings_of

    return warnings_of(clip)
