"""Per-frame landmarks from MediaPipe Holistic (offline, bundled models, complexity 1).

All image coordinates are in pixels of the (possibly shrunk) frame, x right, y down.
World landmarks are MediaPipe's metric pose estimate (metres, origin between the hips,
x right, y down, z away from the camera). Missing detections are NaN with the ``*_ok``
flag False.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from .correspondence import FACE_MESH_IBUG51
from .quiet import native_stderr_silenced


@dataclass
class Landmarks:
    """Landmarks of T frames. Shapes: ``pose_xy`` (T,33,2) px, ``pose_vis`` (T,33) in [0,1],
    ``pose_world`` (T,33,3) m, ``pose_ok`` (T,); ``left_hand``/``right_hand`` (T,21,3) px
    (z: MediaPipe's relative depth scaled like x, in px), ``left_ok``/``right_ok`` (T,);
    ``face_xy`` (T,51,2) px (iBUG points 17-67), ``face_ok`` (T,); ``fps`` Hz;
    ``width_px``/``height_px`` of the frames.
    """

    pose_xy: np.ndarray
    pose_vis: np.ndarray
    pose_world: np.ndarray
    pose_ok: np.ndarray
    left_hand: np.ndarray
    left_ok: np.ndarray
    right_hand: np.ndarray
    right_ok: np.ndarray
    face_xy: np.ndarray
    face_ok: np.ndarray
    fps: float
    width_px: int
    height_px: int

    @property
    def num_frames(self) -> int:
        return int(self.pose_ok.shape[0])

    @classmethod
    def empty(cls, T: int, fps: float, width_px: int, height_px: int) -> "Landmarks":
        nan = lambda *s: np.full((T, *s), np.nan, np.float32)  # noqa: E731
        no = lambda: np.zeros(T, bool)  # noqa: E731
        return cls(nan(33, 2), np.zeros((T, 33), np.float32), nan(33, 3), no(), nan(21, 3), no(),
                   nan(21, 3), no(), nan(51, 2), no(), float(fps), int(width_px), int(height_px))


def _xy(lms, w: int, h: int) -> np.ndarray:
    return np.array([(p.x * w, p.y * h) for p in lms.landmark], np.float32)


def detect_landmarks(frames: Iterable[np.ndarray], fps: float, static_image_mode: bool = False,
                     progress: Callable[[int], None] | None = None) -> Landmarks:
    """Run MediaPipe Holistic (model_complexity=1) over RGB frames; one result per frame.

    ``static_image_mode=False`` tracks between frames (faster for video); True treats
    every frame as a new photo. ``progress(n)`` is called after each frame.
    """
    with native_stderr_silenced():
        import mediapipe as mp

        holistic = mp.solutions.holistic.Holistic(static_image_mode=static_image_mode, model_complexity=1,
                                                  smooth_landmarks=not static_image_mode,
                                                  refine_face_landmarks=False)
    rows: list[dict] = []
    size = (0, 0)
    with holistic:
        for rgb in frames:
            h, w = rgb.shape[:2]
            size = (w, h)
            if rows:
                r = holistic.process(np.ascontiguousarray(rgb))
            else:  # the graph's models start (and log) on the first frame
                with native_stderr_silenced():
                    r = holistic.process(np.ascontiguousarray(rgb))
            row: dict = {}
            if r.pose_landmarks is not None and r.pose_world_landmarks is not None:
                row["pose_xy"] = _xy(r.pose_landmarks, w, h)
                row["pose_vis"] = np.array([p.visibility for p in r.pose_landmarks.landmark], np.float32)
                row["pose_world"] = np.array([(p.x, p.y, p.z) for p in r.pose_world_landmarks.landmark], np.float32)
            for name, lms in (("left_hand", r.left_hand_landmarks), ("right_hand", r.right_hand_landmarks)):
                if lms is not None:
                    row[name] = np.array([(p.x * w, p.y * h, p.z * w) for p in lms.landmark], np.float32)
            if r.face_landmarks is not None:
                row["face_xy"] = _xy(r.face_landmarks, w, h)[FACE_MESH_IBUG51]
            rows.append(row)
            if progress is not None:
                progress(1)
    out = Landmarks.empty(len(rows), fps, *size)
    for t, row in enumerate(rows):
        if "pose_xy" in row:
            out.pose_xy[t], out.pose_vis[t], out.pose_world[t] = row["pose_xy"], row["pose_vis"], row["pose_world"]
            out.pose_ok[t] = True
        if "left_hand" in row:
            out.left_hand[t], out.left_ok[t] = row["left_hand"], True
        if "right_hand" in row:
            out.right_hand[t], out.right_ok[t] = row["right_hand"], True
        if "face_xy" in row:
            out.face_xy[t], out.face_ok[t] = row["face_xy"], True
    return out
