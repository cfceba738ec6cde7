"""Stereo frame loop of the XR renderer (GPU and CPU skinning) vs pyrender with read-back.

Ours: `vr_study.xr.session.run_xr` through the real Khronos loader and the project's headless
OpenXR runtime (pacing off, so frames run back to back): per frame xrWaitFrame/BeginFrame,
each avatar posed, drawn with our OpenGL 3.3 core pipeline straight into each eye's
swapchain image, xrEndFrame; with 1 and 4 avatars, two ways:

* ``gpu``: forward kinematics (55 joint transforms) on the CPU, uploaded into a uniform
  block; blend shapes and skinning in the vertex shader (the default).
* ``cpu``: the body model's numpy skinning + normals, uploaded with glBufferSubData.

Per-frame CPU time is the time from xrWaitFrame returning to xrEndFrame returning (our work,
including GL submission); the sustained rate is frames / wall time. The runtime reads
nothing back (no capture). On llvmpipe the "GPU" is the same CPU cores, so there the shader
work is paid inside glDrawElements / the driver's threads, not saved.

Baseline: the straightforward approach: a pyrender scene (same body meshes, pyrender's
default shaders), each frame the avatar meshes rebuilt with ``pyrender.Mesh.from_trimesh``
and each eye rendered with ``OffscreenRenderer.render`` (colour and depth read back to the
CPU, as an offline renderer does).

    python benchmarks/xr_frame.py --quick                 # small eyes (320x360), CPU
    python benchmarks/xr_frame.py --size 2064x2208        # a headset's resolution (GPU machine)
    python benchmarks/xr_frame.py --quick --real-layout   # a real SMPL-X file's layout: dense posedirs

``--real-layout`` gives the body dense pose-corrective blend shapes (posedirs on every
vertex, 486 features, as a real SMPL-X file has; made up here, since no SMPL-X file may be
shipped), so GPU skinning also runs the pose correctives.

The last line printed is one JSON object. GL_RENDERER is reported: EGL silently falls back
to llvmpipe (the CPU) where no GPU driver is found.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vr_study.xr.graphics import import_gl  # noqa: E402  (must precede any OpenGL import)

import_gl("egl")

from vr_study.body.real_layout import with_dense_posedirs  # noqa: E402
from vr_study.motion import MotionClip  # noqa: E402
from vr_study.stream.protocol import PoseSample  # noqa: E402
from vr_study.xr.avatar import AvatarMesh, conversational_placements, load_avatar_body_model  # noqa: E402
from vr_study.xr.framelog import FrameLog  # noqa: E402
from vr_study.xr.presenter import Presenter  # noqa: E402
from vr_study.xr.session import XrRunConfig, run_xr  # noqa: E402
from vr_study.xr.testruntime import build_test_runtime, runtime_env  # noqa: E402
from vr_study.xr.viewmath import Fov, Pose, stereo_eyes  # noqa: E402


def gesture_clip(seconds: float = 4.0, fps: float = 30.0, phase: float = 0.0) -> MotionClip:
    """Arms and jaw moving every frame, so every frame needs new vertices."""
    n = int(seconds * fps)
    clip = MotionClip.zeros(n, fps=fps)
    t = clip.times_s()
    clip.body_pose[:, 15, 2] = -1.0 + 0.3 * np.sin(2 * np.pi * 0.7 * t + phase)
    clip.body_pose[:, 16, 2] = 1.0 + 0.3 * np.sin(2 * np.pi * 0.9 * t + phase)
    clip.body_pose[:, 2, 0] = 0.1 * np.sin(2 * np.pi * 0.5 * t)
    clip.jaw_pose[:, 0] = 0.2 + 0.2 * np.sin(2 * np.pi * 4 * t + phase)
    return clip


class ClipsSource:
    """Several avatars, each playing its own clip from time zero (looping)."""

    def __init__(self, count: int):
        self.clips = {f"a{i}": gesture_clip(phase=i) for i in range(count)}
        self._full = {k: c.full_pose().astype(np.float32) for k, c in self.clips.items()}
        self.t0 = None

    def avatar_ids(self):
        return list(self.clips)

    def poll(self):
        pass

    def pose_at(self, aid, t):
        if self.t0 is None:
            self.t0 = t
        c = self.clips[aid]
        i = int((t - self.t0) * c.fps) % c.num_frames
        return PoseSample(self._full[aid][i], c.transl[i], c.expression[i], t, i, 0.0)

    def finished(self, t):
        return False

    def stats(self):
        return {}

    def close(self):
        pass


def run_ours(manifest: Path, avatars: int, frames: int, size: tuple[int, int], body, skinning: str) -> dict:
    os.environ.update(runtime_env(manifest, view_size=size, paced=False, exit_after_frames=frames + 2))
    for k in ("XR_HEADLESS_CAPTURE_DIR", "XR_ENABLE_API_LAYERS"):
        os.environ.pop(k, None)
    log = FrameLog(None)
    cpu: list[float] = []
    record = log.record
    log.record = lambda rec: (cpu.append(rec.cpu_ms) if rec.should_render else None, record(rec))  # type: ignore
    source = ClipsSource(avatars)
    update_ms: list[float] = []

    def make_presenter(scene):
        p = Presenter(scene, source, body, lead_s=0.0, skinning=skinning)
        update = p.update

        def timed(display_time_s):  # posing + skinning + uploads, without drawing
            t = time.perf_counter()
            ages = update(display_time_s)
            update_ms.append((time.perf_counter() - t) * 1e3)
            return ages
        p.update = timed  # type: ignore[method-assign]
        return p

    t0 = time.perf_counter()
    result = run_xr(XrRunConfig(binding="egl", frames=None), make_presenter, log)
    wall = time.perf_counter() - t0
    cpu = cpu[2:]  # the first frames build GL objects
    return {"skinning": skinning, "frames": result.summary.frames, "cpu_ms_mean": float(np.mean(cpu)),
            "cpu_ms_p50": float(np.median(cpu)), "cpu_ms_p99": float(np.percentile(cpu, 99)),
            "fps": result.summary.rendered / wall, "gl_renderer": result.gl_renderer,
            "pose_upload_ms_mean": float(np.mean(update_ms[2:])),  # Presenter.update: pose, skin, upload
            "cpu_bound_fps": 1000.0 / float(np.mean(cpu))}  # the rate our CPU work alone would allow


def run_baseline(avatars: int, frames: int, size: tuple[int, int], body) -> dict:
    from vr_study.render.gl_platform import import_pyrender

    pyrender = import_pyrender()
    import trimesh

    w, h = size
    scene = pyrender.Scene(ambient_light=(0.3, 0.3, 0.3), bg_color=(0.02, 0.02, 0.03, 1.0))
    floor = trimesh.creation.box(extents=(5.0, 0.01, 5.0))
    floor.apply_translation((0, -0.005, -0.8))
    scene.add(pyrender.Mesh.from_trimesh(floor))
    scene.add(pyrender.DirectionalLight(intensity=3.0), pose=np.eye(4))
    fov = Fov()
    cam = pyrender.IntrinsicsCamera(fx=(w / 2) / np.tan(fov.angle_right), fy=(h / 2) / np.tan(fov.angle_up),
                                    cx=w / 2, cy=h / 2, znear=0.05, zfar=100.0)
    eyes = stereo_eyes(Pose((0.0, 1.6, 0.0)), 0.063)
    cam_nodes = []
    for e in eyes:
        m = np.eye(4)
        m[:3, 3] = e.position
        cam_nodes.append(scene.add(cam, pose=m))
    source = ClipsSource(avatars)
    meshes = {aid: AvatarMesh(body, pl) for aid, pl in zip(source.avatar_ids(),
                                                          conversational_placements(avatars))}
    nodes: dict[str, object] = {}
    renderer = pyrender.OffscreenRenderer(w, h)
    times = []
    try:
        for f in range(frames + 1):
            t0 = time.perf_counter()
            for aid, mesh in meshes.items():
                s = source.pose_at(aid, f / 90.0)
                v, _ = mesh.pose(s.full_pose, s.transl, s.expression)
                tm = trimesh.Trimesh(v, mesh.faces, process=False)
                if aid in nodes:
                    scene.remove_node(nodes[aid])
                nodes[aid] = scene.add(pyrender.Mesh.from_trimesh(tm), pose=mesh.placement.matrix())
            for node in cam_nodes:
                scene.main_camera_node = node
                color, depth = renderer.render(scene)
            if f > 0:
                times.append((time.perf_counter() - t0) * 1e3)
    finally:
        renderer.delete()
    return {"frames": frames, "cpu_ms_mean": float(np.mean(times)), "cpu_ms_p50": float(np.median(times)),
            "fps": 1000.0 / float(np.mean(times))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few frames (under 60 s on 2 CPU cores)")
    ap.add_argument("--size", default="320x360", help="per-eye size WxH (a headset: 2064x2208)")
    ap.add_argument("--frames", type=int, help="frames per measurement (ours); the baseline runs a third")
    ap.add_argument("--real-layout", action="store_true",
                    help="dense posedirs on every vertex, as a real SMPL-X file (GPU pose correctives)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip pyrender (slow at a headset's size on llvmpipe); the JSON then has no ratio")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    frames = args.frames or (24 if args.quick else 200)
    base_frames = max(4, frames // 3)
    body, body_name = load_avatar_body_model()
    if args.real_layout and hasattr(body, "posedirs"):
        body, body_name = with_dense_posedirs(body), body_name + " + dense posedirs (real layout)"
    manifest = build_test_runtime()
    out: dict = {"eye_size": [w, h], "body_model": body_name,
                 "vertices_per_avatar": int(AvatarMesh(body, conversational_placements(1)[0]).num_vertices)}
    from vr_study.xr.gpuskin import build_rig, resolve_skinning

    gpu_ok = resolve_skinning("auto", body)[0] == "gpu"
    if gpu_ok:
        rig = build_rig(body)
        out.update(weight_mode=rig.weight_mode, top4_error_m=rig.top4_error_m,
                   pose_corrective_vertices=int(rig.pose_basis.shape[0]))
    for n in (1, 4):
        for mode in (("gpu", "cpu") if gpu_ok else ("cpu",)):
            ours = run_ours(manifest, n, frames, (w, h), body, mode)
            out[f"ours_{mode}_{n}"] = ours
            print(f"{n} avatar(s), {mode} skinning: {ours['cpu_ms_mean']:.1f} ms/frame CPU "
                  f"(p99 {ours['cpu_ms_p99']:.1f}; posing+upload {ours['pose_upload_ms_mean']:.2f}), "
                  f"{ours['fps']:.1f} frames/s sustained", file=sys.stderr)
        if args.no_baseline:
            continue
        base = run_baseline(n, base_frames, (w, h), body)
        out[f"baseline_{n}"] = base
        best = out[f"ours_{'gpu' if gpu_ok else 'cpu'}_{n}"]
        out[f"speedup_{n}"] = base["cpu_ms_mean"] / best["cpu_ms_mean"]
        if gpu_ok:
            out[f"gpu_vs_cpu_skinning_{n}"] = out[f"ours_cpu_{n}"]["cpu_ms_mean"] / best["cpu_ms_mean"]
        print(f"{n} avatar(s): pyrender+read-back {base['cpu_ms_mean']:.1f} ms/frame ({base['fps']:.1f} frames/s); "
              f"ours x{out[f'speedup_{n}']:.2f}", file=sys.stderr)
    out["gl_renderer"] = next(v["gl_renderer"] for k, v in out.items() if k.startswith("ours_"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
