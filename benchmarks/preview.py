"""Benchmark: `vr-study library preview` on a library of speaking-like clips.

Builds a library of N clips (arms, head, jaw and a smile moving; 2 s of silent speech
each), then times (a) the checks alone (``--no-media``: reading, forward kinematics, every
warning) and (b) the whole contact sheet with the default media (160x160 face and body
stills and animated-WebP loops at 10 Hz), through :func:`vr_study.preview.write_preview`
in this process. Reports seconds per clip.

Usage: ``python benchmarks/preview.py [--quick] [--clips N] [--seconds S]``; the last line
printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def make_clip(num_frames: int, fps: float = 30.0):
    """A speaking-like clip: arms, elbows, head and jaw moving, a smile coming and going."""
    from vr_study.motion import MotionClip

    clip = MotionClip.zeros(num_frames, fps, method="benchmark")
    t = np.arange(num_frames) / fps
    clip.body_pose[:, 15, 2] = -1.1 + 0.3 * np.sin(2 * np.pi * 0.7 * t)
    clip.body_pose[:, 16, 2] = 1.1 + 0.3 * np.sin(2 * np.pi * 0.5 * t)
    clip.body_pose[:, 17, 1] = -0.6 - 0.4 * np.sin(2 * np.pi * 0.9 * t)
    clip.body_pose[:, 11, 0] = 0.15 * np.sin(2 * np.pi * 0.4 * t)
    clip.jaw_pose[:, 0] = 0.2 * (1 + np.sin(2 * np.pi * 3.0 * t))
    clip.expression[:, 1] = 0.5 * (1 + np.sin(2 * np.pi * 0.3 * t))
    return clip


def build_library(root: Path, clips: int, seconds: float) -> Path:
    import soundfile as sf

    from vr_study.library import StimulusLibrary

    wav = root / "speech.wav"
    sf.write(wav, np.zeros(int(16000 * seconds), np.float32), 16000)
    lib = StimulusLibrary.open(root / "lib", create=True)
    for i in range(clips):
        clip = make_clip(int(round(30 * seconds)))
        clip.meta.method, clip.meta.emotion = ("prosody", "emage")[i % 2], ("happy", "neutral", "sad")[i % 3]
        clip.meta.utterance, clip.meta.seed = "greeting", i
        lib.add_clip(clip, wav)
    return root / "lib"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 clips of 2 s (under a minute)")
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=4.0, help="length of each clip")
    a = ap.parse_args()
    if a.quick:
        a.clips, a.seconds = 4, 2.0
    from vr_study.preview import write_preview

    with tempfile.TemporaryDirectory() as tmp:
        lib = build_library(Path(tmp), a.clips, a.seconds)
        t0 = time.perf_counter()
        write_preview(lib, Path(tmp) / "checks", media=False)
        checks_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_preview(lib, Path(tmp) / "full")
        full_s = time.perf_counter() - t0
        size_kb = sum(p.stat().st_size for p in (Path(tmp) / "full").rglob("*") if p.is_file()) / 1024
    result = {"benchmark": "preview", "clips": a.clips, "clip_seconds": a.seconds,
              "checks_s_per_clip": round(checks_s / a.clips, 4), "full_s_per_clip": round(full_s / a.clips, 3),
              "full_s": round(full_s, 2), "output_kib": round(size_kb, 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
