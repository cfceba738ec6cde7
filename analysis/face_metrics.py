"""Objective measures of rendered faces: MediaPipe FaceMesh on face-view images.

A face detector trained on photographs of people says what a viewer would see, not what
the blend shapes were meant to do. On each RGB image FaceMesh (legacy
``mp.solutions.face_mesh``, static images, its bundled model: nothing is downloaded) finds
468 landmarks; the measures are in face heights (landmark 10, mid-forehead, to 152, chin;
image rows, so they do not depend on the image size or camera distance):

- ``mouth_corner_lift``: how far the mouth corners (61, 291) sit above the mouth centre
  (mean of the inner-lip mid-points 13, 14); + = corners up (a smile);
- ``eye_aperture``: upper to lower lid (159-145, 386-374), mean of both eyes;
- ``brow_height``: brow mid-points (105, 334) above the eye centres, mean of both sides.

:data:`EMOTIONS` are FACS emotion prototypes on the default body's expression basis.
Used by ``benchmarks/face_expressions.py`` and ``tests/test_face_expressions.py``.
"""
from __future__ import annotations

import numpy as np

#: FaceMesh landmark indices (MediaPipe's canonical face mesh, 468 points).
FOREHEAD, CHIN = 10, 152
MOUTH_CORNERS = (61, 291)
LIP_MIDDLE = (13, 14)  # inner upper and lower lip
EYE_LIDS = ((159, 145), (386, 374))  # (upper, lower) of the subject's right and left eye
BROWS = (105, 334)

#: Expression values (default body's EXPRESSION_NAMES) per emotion: FACS prototypes
#: (happy AU6+12, sad AU1+4+15, angry AU4+5+7+24, surprise AU1+2+5+26, disgust AU9+10+15).
EMOTIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"smile": 1.0, "cheek_raise": 1.0, "mouth_open": 0.2},
    "sad": {"frown": 1.0, "brows_down": 0.5, "brows_up": 0.6},
    "angry": {"brows_down": 1.2, "eye_squint": 0.6, "lips_press": 1.0},
    "surprise": {"brows_up": 1.2, "eyes_wide": 1.0, "mouth_open": 1.2},
    "disgust": {"nose_wrinkle": 1.0, "upper_lip_raise": 1.0, "frown": 0.5},
}

PANEL_PX = (512, 512)


def face_measures(image: np.ndarray, face_mesh) -> dict[str, float] | None:
    """Measures (face heights) of one RGB uint8 image, or None when FaceMesh finds no face."""
    res = face_mesh.process(np.ascontiguousarray(image))
    if not res.multi_face_landmarks:
        return None
    lm = res.multi_face_landmarks[0].landmark
    h, w = image.shape[:2]
    p = np.array([[q.x * w, q.y * h] for q in lm])  # pixels, y down
    fh = float(np.linalg.norm(p[CHIN] - p[FOREHEAD]))
    centre_y = p[list(LIP_MIDDLE), 1].mean()
    lift = (centre_y - p[list(MOUTH_CORNERS), 1].mean()) / fh
    aperture = np.mean([p[lo, 1] - p[up, 1] for up, lo in EYE_LIDS]) / fh
    eye_y = [p[[up, lo], 1].mean() for up, lo in EYE_LIDS]
    brow = np.mean([eye_y[k] - p[BROWS[k], 1] for k in range(2)]) / fh
    return {"mouth_corner_lift": float(lift), "eye_aperture": float(aperture),
            "brow_height": float(brow), "face_height_px": fh}


def open_face_mesh():
    """MediaPipe's legacy FaceMesh for still images (bundled model)."""
    import mediapipe as mp

    return mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                           refine_landmarks=False, min_detection_confidence=0.3)


def render_face_frames(clips, body, frames_per_clip: int, size=PANEL_PX) -> list[list[np.ndarray]]:
    """Face-view images of evenly spaced frames of each clip (one renderer for all)."""
    from vr_study.render.offline import ClipRenderer

    fps = max(c.fps for c in clips)
    r = ClipRenderer(clips, body, "face", size, fps, [""] * len(clips))
    try:
        out = []
        for i, c in enumerate(r.panels):
            n = c.clip.num_frames
            idx = np.unique(np.linspace(0, n - 1, frames_per_clip + 2)[1:-1].astype(int)) if n > 2 else [0]
            out.append([r.render_panel(i, int(k)) for k in idx])
        return out
    finally:
        r.close()


def summarise(images: list[np.ndarray], face_mesh) -> dict[str, float]:
    """Median of each measure over the images where a face was found; ``detected`` counts them."""
    rows = [m for m in (face_measures(im, face_mesh) for im in images) if m is not None]
    out = {"detected": len(rows), "images": len(images)}
    for k in ("mouth_corner_lift", "eye_aperture", "brow_height"):
        out[k] = float(np.median([r[k] for r in rows])) if rows else float("nan")
    return out


def emotion_clips(body) -> dict[str, object]:
    """One still clip per emotion of :data:`EMOTIONS` (the rest pose, the expression set)."""
    from vr_study.motion import MotionClip

    names = list(body.expression_names)
    out = {}
    for emotion, values in EMOTIONS.items():
        c = MotionClip.zeros(1, 30.0, num_expression=len(names))
        for name, value in values.items():
            c.expression[:, names.index(name)] = value
        out[emotion] = c
    return out
