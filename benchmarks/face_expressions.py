"""Do the default body's faces read? MediaPipe FaceMesh measured on rendered face views.

Renders the face view (the project's offline renderer, EGL or OSMesa) of

- the default body's expression basis at set values per emotion (FACS action-unit recipes,
  :data:`EMOTIONS`), and
- the built-in prosody generator's happy and neutral clips of a bundled utterance,

runs MediaPipe FaceMesh (legacy ``mp.solutions.face_mesh``, static images, the bundled
model: nothing is downloaded) on every image and reports, normalised by the face height
(FaceMesh landmark 10, mid-forehead, to 152, chin; image rows):

- ``mouth_corner_lift``: how far the mouth corners (61, 291) sit above the mouth centre
  (mean of the inner lip mid-points 13, 14); + = corners up (a smile);
- ``eye_aperture``: upper to lower lid (159-145, 386-374), mean of both eyes;
- ``brow_height``: brow mid-points (105, 334) above the eye centres, mean of both sides.

Baseline: neutral. Target: happy - neutral mouth-corner lift >= 0.04 face heights.

    PYOPENGL_PLATFORM=egl .venv/bin/python benchmarks/face_expressions.py [--quick]

The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

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


def generator_clips(seconds: float | None = None) -> dict[str, object]:
    """The built-in generator's happy and neutral clips of the bundled greeting (seed 0)."""
    from generators.prosody import ProsodyGenerator
    from generators.speech import load_speech

    speech = load_speech(ROOT / "assets" / "speech" / "greeting.wav").audio.samples
    if seconds is not None:
        speech = speech[:int(seconds * 16000)]
    gen = ProsodyGenerator()
    return {e: gen.generate_samples(speech, e, 0) for e in ("happy", "neutral")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer generator frames")
    args = ap.parse_args()
    from vr_study.body import load_body_model
    from vr_study.render.gl_platform import configure_gl_platform

    configure_gl_platform()  # EGL if it works, else OSMesa

    body = load_body_model()
    t0 = time.perf_counter()
    fm = open_face_mesh()
    still = emotion_clips(body)
    images = render_face_frames(list(still.values()), body, 1)
    table = {e: summarise(ims, fm) for e, ims in zip(still, images)}
    gen = generator_clips()
    gimages = render_face_frames(list(gen.values()), body, 6 if args.quick else 20)
    gtable = {f"generator_{e}": summarise(ims, fm) for e, ims in zip(gen, gimages)}
    table.update(gtable)
    fm.close()
    print(f"{'emotion':<20}{'lift':>8}{'eye ap.':>9}{'brow':>8}{'found':>8}   (face heights)")
    for e, m in table.items():
        print(f"{e:<20}{m['mouth_corner_lift']:>8.3f}{m['eye_aperture']:>9.3f}{m['brow_height']:>8.3f}"
              f"{m['detected']:>5}/{m['images']}")
    lift = table["generator_happy"]["mouth_corner_lift"] - table["generator_neutral"]["mouth_corner_lift"]
    print(f"generator happy - neutral mouth-corner lift: {lift:.3f} face heights (target >= 0.04)")
    print(json.dumps({"benchmark": "face_expressions", "platform": os.environ.get("PYOPENGL_PLATFORM"),
                      "seconds": round(time.perf_counter() - t0, 2), "happy_minus_neutral_lift": round(lift, 4),
                      "table": {e: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}
                                for e, m in table.items()}}))


if __name__ == "__main__":
    main()
