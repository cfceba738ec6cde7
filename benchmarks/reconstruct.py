"""Benchmark: video -> SMPL-X clip, end-to-end frames per second at 640x480 on the CPU.

Ours: ``generators.reconstruction.pipeline.reconstruct`` (MediaPipe Holistic with tracking,
then one batched L-BFGS fit of the whole sequence through the keypoint-only SMPL-X model).
Baselines, in the same run:
- naive per-frame fit: MediaPipe, then each frame fitted on its own (no batching, no
  temporal term) through ``smplx.SMPLX``'s full mesh forward pass, same objective and
  iteration budget (timed on a few frames and extrapolated);
- MediaPipe landmark extraction alone (the ceiling for any method built on it).

The input is a synthetic 640x480, 30 fps video: scikit-image's astronaut photo sliding
and zooming. Usage: ``python benchmarks/reconstruct.py [--quick]``; the last line printed
is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generators.reconstruction.fit import FitOptions, SequenceFitter  # noqa: E402
from generators.reconstruction.keypoints import load_smplx  # noqa: E402
from generators.reconstruction.landmarks import Landmarks  # noqa: E402
from generators.reconstruction.pipeline import ReconstructOptions, extract_landmarks, reconstruct  # noqa: E402
from vr_study.body import default_body_model_path  # noqa: E402


def make_video(path: Path, frames: int, fps: float = 30.0) -> Path:
    import cv2
    from skimage import data

    src = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    for t in range(frames):
        size = int(440 + 30 * np.sin(t / 20))
        img = cv2.resize(src, (size, size))
        canvas = np.full((480, 640, 3), 40, np.uint8)
        x, y = 100 + int(60 * np.sin(t / 15)), 480 - size
        canvas[y:y + size, x:x + size] = img[: 480 - y, : 640 - x]
        out.write(canvas)
    out.release()
    return path


class SmplxKeypoints:
    """The naive baseline's keypoints: smplx's full forward pass (all 10,475 vertices)."""

    def __init__(self, body):
        self.body = body
        with torch.no_grad():
            self.rest_joints = body().joints[0, :55].clone()
        self.num_expression = int(body.expression.shape[-1])

    def keypoints(self, pose: torch.Tensor, expression: torch.Tensor | None = None) -> torch.Tensor:
        n = pose.shape[0]
        expr = torch.zeros(n, self.num_expression) if expression is None else expression
        return self.body(global_orient=pose[:, 0], body_pose=pose[:, 1:22].reshape(n, -1), jaw_pose=pose[:, 22],
                         leye_pose=pose[:, 23], reye_pose=pose[:, 24],
                         left_hand_pose=pose[:, 25:40].reshape(n, -1), right_hand_pose=pose[:, 40:].reshape(n, -1),
                         expression=expr, betas=torch.zeros(n, 10)).joints


def frame_of(lm: Landmarks, t: int) -> Landmarks:
    fields = {k: (v[t:t + 1] if isinstance(v, np.ndarray) else v) for k, v in vars(lm).items()}
    return Landmarks(**fields)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short video, fewer baseline frames (< 60 s)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    frames = 60 if args.quick else 300
    naive_frames = 1 if args.quick else 6
    model_path = default_body_model_path()
    with tempfile.TemporaryDirectory() as tmp:
        warm = make_video(Path(tmp) / "warm.mp4", 5)
        reconstruct(warm, model_path, options=ReconstructOptions(fit=FitOptions(iterations=5)))  # load models
        video = make_video(Path(tmp) / "person.mp4", frames)
        t0 = time.perf_counter()
        clip = reconstruct(video, model_path, options=ReconstructOptions())
        ours_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        lm = extract_landmarks(video)
        mediapipe_s = time.perf_counter() - t0
    body = load_smplx(model_path, 16)
    naive = SmplxKeypoints(body)
    t0 = time.perf_counter()
    for t in range(naive_frames):
        SequenceFitter(naive, frame_of(lm, t * (frames // naive_frames)), FitOptions()).run()
    naive_fit_per_frame_s = (time.perf_counter() - t0) / naive_frames
    naive_s_per_frame = mediapipe_s / frames + naive_fit_per_frame_s
    result = {
        "benchmark": "reconstruct",
        "video": f"{frames} frames, 640x480, 30 fps",
        "ours_fps": round(frames / ours_s, 2),
        "ours_seconds": round(ours_s, 2),
        "naive_per_frame_fit_fps": round(1.0 / naive_s_per_frame, 3),
        "ratio_vs_naive": round((frames / ours_s) * naive_s_per_frame, 1),
        "mediapipe_only_fps": round(frames / mediapipe_s, 2),
        "ours_share_of_mediapipe_fps": round(mediapipe_s / ours_s, 2),
        "output_frames_30fps": clip.num_frames,
        "target_fps": 5.0,
        "meets_target": frames / ours_s >= 5.0,
        "fit_torch_threads": FitOptions().num_threads,
    }
    print(f"ours (MediaPipe + batched sequence fit): {result['ours_fps']} frames/s")
    print(f"baseline, naive per-frame smplx fit:     {result['naive_per_frame_fit_fps']} frames/s "
          f"(ratio {result['ratio_vs_naive']}x)")
    print(f"MediaPipe landmarks alone:               {result['mediapipe_only_fps']} frames/s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
