"""End-to-end latency from the pose server to the display (OpenXR renderer and simulator).

Ours: `vr-study stream serve` runs in its own process (as in a lab) and plays a looping
clip with ``--lead 0``: every pose is published when it is due, stamped with that time, so
a pose's presentation time is its publish time (CLOCK_MONOTONIC, the shared clock). The
renderer subscribes (`StreamPoseSource`) and runs paced at 90 Hz, through the real Khronos
loader and the project's headless OpenXR runtime (the ``openxr`` row), or in the desktop
simulator (``simulator`` row). Its frame log records, per frame, the predicted display
time and ``newest_pose_s`` (the presentation = publish time of the newest pose it had when
drawing); the latency of a frame is ``predicted_display_time_s - newest_pose_s``: how old
the newest published pose is when the frame showing it reaches the display.

Baseline: the clip played directly (`ClipPoseSource`, no stream, same runtime and pacing):
the pose is computed from the clip while the frame is prepared; its latency is the
predicted display time minus the moment the pose was computed.

    python benchmarks/xr_latency.py --quick     # 3 s per run (under 60 s)
    python benchmarks/xr_latency.py --seconds 20

The last line printed is one JSON object (latencies in milliseconds).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vr_study.xr.graphics import import_gl  # noqa: E402  (must precede any OpenGL import)

import_gl("egl")

from vr_study.formats import write_motion  # noqa: E402
from vr_study.motion import MotionClip  # noqa: E402
from vr_study.xr.avatar import load_avatar_body_model  # noqa: E402
from vr_study.xr.framelog import FrameLog  # noqa: E402
from vr_study.xr.posesource import ClipPoseSource, StreamPoseSource  # noqa: E402
from vr_study.xr.presenter import Presenter  # noqa: E402
from vr_study.xr.session import XrRunConfig, run_xr  # noqa: E402
from vr_study.xr.simulator import SimulatorConfig, run_simulator  # noqa: E402
from vr_study.xr.testruntime import build_test_runtime, runtime_env  # noqa: E402

EYE = (160, 180)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gesture_clip(seconds: float = 4.0, fps: float = 30.0) -> MotionClip:
    n = int(seconds * fps)
    clip = MotionClip.zeros(n, fps=fps)
    t = clip.times_s()
    clip.body_pose[:, 15, 2] = -1.2 + 0.3 * np.sin(2 * np.pi * 0.5 * t)
    clip.body_pose[:, 16, 2] = 1.2
    return clip


class Recorder(FrameLog):
    """A frame log kept in memory."""

    def __init__(self):
        super().__init__(None)
        self.records = []

    def record(self, rec) -> None:
        super().record(rec)
        self.records.append(rec)


def stats_ms(values: list[float]) -> dict:
    a = np.asarray(values) * 1e3
    return {"n": int(a.size), "p50_ms": round(float(np.median(a)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "mean_ms": round(float(a.mean()), 2)}


def start_server(clip_path: Path, seconds: float) -> tuple[subprocess.Popen, str]:
    pub, ctl = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([sys.executable, "-m", "vr_study.cli", "stream", "serve", "--pub", pub, "--control", ctl,
                             "--clip", f"agent={clip_path}", "--play", "--loop", "--lead", "0",
                             "--duration", str(seconds + 30)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "pose server" not in line:
        proc.kill()
        raise RuntimeError(f"the pose server did not start: {line} {proc.stderr.read()[-500:]}")
    return proc, pub


def run_stream(mode: str, pub: str, frames: int, body) -> dict:
    source = StreamPoseSource(pub, ["agent"])
    log = Recorder()
    make = lambda scene: Presenter(scene, source, body, lead_s=0.0)  # noqa: E731
    deadline = time.monotonic() + 10
    while not source.avatar_ids() and time.monotonic() < deadline:  # the subscription is connected
        source.poll()
        time.sleep(0.01)
    try:
        if mode == "openxr":
            run_xr(XrRunConfig(binding="egl", frames=frames), make, log)
        else:
            run_simulator(SimulatorConfig(eye_size=EYE, frames=frames, paced=True, terminal_keys=False), make, log)
    finally:
        source.close()
    lat = [r.predicted_display_time_s - r.newest_pose_s["agent"] for r in log.records
           if r.should_render and "agent" in r.newest_pose_s][10:]  # after start-up
    return {"mode": mode, **stats_ms(lat), "late_frames": log.summary.late}


def run_baseline(clip: MotionClip, frames: int, body) -> dict:
    source = ClipPoseSource(clip)
    computed: dict[float, float] = {}  # display time -> when its pose was computed
    pose_at = source.pose_at

    def timed(aid, display_time_s):
        computed[display_time_s] = time.monotonic()
        return pose_at(aid, display_time_s)
    source.pose_at = timed  # type: ignore[method-assign]
    log = Recorder()
    run_xr(XrRunConfig(binding="egl", frames=frames),
           lambda scene: Presenter(scene, source, body, lead_s=0.0), log)
    lat = [r.predicted_display_time_s - computed[r.predicted_display_time_s] for r in log.records
           if r.should_render and r.predicted_display_time_s in computed][10:]
    return {"mode": "baseline: clip played directly (openxr)", **stats_ms(lat), "late_frames": log.summary.late}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 s per run (under 60 s on 2 CPU cores)")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds of 90 Hz frames per run")
    args = ap.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    frames = int(seconds * 90)
    t_start = time.perf_counter()
    body, _ = load_avatar_body_model()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = gesture_clip()
        write_motion(clip, tmp / "clip.npz")
        manifest = build_test_runtime(tmp / "runtime")
        os.environ.update(runtime_env(manifest, view_size=EYE, paced=True))
        for k in ("XR_HEADLESS_CAPTURE_DIR", "XR_ENABLE_API_LAYERS", "DISPLAY"):
            os.environ.pop(k, None)
        server, pub = start_server(tmp / "clip.npz", 3 * seconds)
        try:
            rows = [run_stream("openxr", pub, frames, body), run_stream("simulator", pub, frames, body)]
        finally:
            server.terminate()
            server.wait(timeout=10)
        rows.append(run_baseline(clip, frames, body))
    for r in rows:
        print(f"{r['mode']:45s} p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms"
              f"  (n={r['n']}, late frames {r['late_frames']})")
    print(json.dumps({"benchmark": "xr_latency", "quick": args.quick, "seconds_per_run": seconds,
                      "eye_size": list(EYE), "load_1min": round(os.getloadavg()[0], 2), "rows": rows,
                      "wall_s": round(time.perf_counter() - t_start, 1)}))


if __name__ == "__main__":
    main()
