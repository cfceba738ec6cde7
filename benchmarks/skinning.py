"""Benchmark: pose -> vertices on the default body, ours vs ``smplx.SMPLX.forward``.

Two cases, both with expression coefficients:
- one frame (batch 1), the real-time path ``BodyModel.pose_frame`` vs smplx at batch 1;
- a 300-frame clip batched, ``BodyModel.pose_batch`` vs smplx with batch_size=300.
Both results are checked equal within 1e-5 m in the same run. Timings are medians of
repeated runs (wall clock, seconds). The last line printed is one JSON object.

    .venv/bin/python benchmarks/skinning.py [--quick] [--model PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _threads_from_argv() -> int:
    """--threads must act before numpy and torch start their thread pools."""
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


_THREADS = _threads_from_argv()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(_THREADS)

import numpy as np  # noqa: E402
import torch  # noqa: E402

TOLERANCE_M = 1e-5


def _median_time(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _smplx_inputs(pose, transl, expr, betas):
    T = len(pose)
    t = lambda x: torch.tensor(np.ascontiguousarray(x), dtype=torch.float32)  # noqa: E731
    return dict(betas=t(np.broadcast_to(betas, (T, len(betas)))), global_orient=t(pose[:, 0]),
                body_pose=t(pose[:, 1:22].reshape(T, -1)), jaw_pose=t(pose[:, 22]),
                leye_pose=t(pose[:, 23]), reye_pose=t(pose[:, 24]),
                left_hand_pose=t(pose[:, 25:40].reshape(T, -1)),
                right_hand_pose=t(pose[:, 40:55].reshape(T, -1)), transl=t(transl), expression=t(expr))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (finishes in well under 60 s)")
    ap.add_argument("--model", help="SMPL-X model file (default: the project's default body)")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads for both numpy (BLAS) and torch (default 1: a fair, stable comparison)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import smplx

    from vr_study.body import load_body_model

    model = load_body_model(args.model)
    E, B = model.num_expression, model.num_betas
    rng = np.random.default_rng(0)
    T = args.frames
    pose = rng.normal(0.0, 0.25, (T, 55, 3))
    transl = rng.normal(0.0, 0.1, (T, 3))
    expr = rng.normal(0.0, 1.0, (T, E))
    betas = rng.normal(0.0, 1.0, B)
    reps_1, reps_b = (60, 3) if args.quick else (400, 10)

    with contextlib_quiet():
        ref1 = smplx.SMPLX(str(model.path), use_pca=False, flat_hand_mean=True, num_expression_coeffs=E,
                           num_betas=B, batch_size=1)
        refb = smplx.SMPLX(str(model.path), use_pca=False, flat_hand_mean=True, num_expression_coeffs=E,
                           num_betas=B, batch_size=T)
    in1 = _smplx_inputs(pose[:1], transl[:1], expr[:1], betas)
    inb = _smplx_inputs(pose, transl, expr, betas)

    def smplx_one():
        with torch.no_grad():
            return ref1(**in1).vertices

    def smplx_batch():
        with torch.no_grad():
            return refb(**inb).vertices

    def ours_one():
        return model.pose_frame(pose[0], transl[0], expr[0], betas)

    def ours_batch():
        return model.pose_batch(pose, transl, expr, betas)

    err_1 = float(np.abs(ours_one() - smplx_one()[0].numpy()).max())
    ours_b = ours_batch()
    err_b = float(np.abs(ours_b.vertices - smplx_batch().numpy()).max())
    t_ours_1 = _median_time(ours_one, reps_1)
    t_smplx_1 = _median_time(smplx_one, reps_1)
    t_ours_b = _median_time(ours_batch, reps_b, warmup=1)
    t_smplx_b = _median_time(smplx_batch, reps_b, warmup=1)
    result = {
        "benchmark": "skinning",
        "model": str(model.path.name),
        "vertices": model.num_vertices,
        "expression": E,
        "frames": T,
        "quick": args.quick,
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "threads": args.threads,
        "frame_ours_ms": round(t_ours_1 * 1e3, 3),
        "frame_smplx_ms": round(t_smplx_1 * 1e3, 3),
        "frame_speedup": round(t_smplx_1 / t_ours_1, 2),
        "clip_ours_ms": round(t_ours_b * 1e3, 1),
        "clip_smplx_ms": round(t_smplx_b * 1e3, 1),
        "clip_speedup": round(t_smplx_b / t_ours_b, 2),
        "max_error_frame_m": err_1,
        "max_error_clip_m": err_b,
        "equal_within_1e-5_m": bool(err_1 <= TOLERANCE_M and err_b <= TOLERANCE_M),
        "targets": {"frame_speedup": 5.0, "clip_speedup": 2.0},
    }
    print(f"one frame : ours {result['frame_ours_ms']} ms, smplx {result['frame_smplx_ms']} ms, "
          f"x{result['frame_speedup']}")
    print(f"{T}-frame clip: ours {result['clip_ours_ms']} ms, smplx {result['clip_smplx_ms']} ms, "
          f"x{result['clip_speedup']}")
    print(f"max |ours - smplx|: {err_1:.2e} m (frame), {err_b:.2e} m (clip)")
    print(json.dumps(result))
    return 0 if result["equal_within_1e-5_m"] else 1


class contextlib_quiet:
    """Silence smplx's constructor prints (its short-shapedirs warning)."""

    def __enter__(self):
        import io

        self._old = sys.stdout
        sys.stdout = io.StringIO()

    def __exit__(self, *exc):
        sys.stdout = self._old
        return False


if __name__ == "__main__":
    sys.exit(main())
