"""Do the default body's faces read? MediaPipe FaceMesh measured on rendered face views.

Renders the face view (the project's offline renderer, EGL or OSMesa) of

- the default body's expression basis at set values per emotion (FACS action-unit recipes,
  :data:`analysis.face_metrics.EMOTIONS`), and
- the built-in prosody generator's happy and neutral clips of a bundled utterance,

runs MediaPipe FaceMesh (legacy ``mp.solutions.face_mesh``, static images, the bundled
model: nothing is downloaded) on every image and reports mouth-corner lift, eye aperture
and brow height in face heights (:mod:`analysis.face_metrics` defines them).

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

from analysis.face_metrics import emotion_clips, open_face_mesh, render_face_frames, summarise  # noqa: E402


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
