"""Benchmark: rendering a posed clip at 640x480, in-place mesh updates vs a new pyrender.Mesh per frame.

Both loops draw the same scene (default lights, floor, camera framed on the body) with the
same vertices (the clip is posed once, beforehand, with the default body model) and the
same vertex normals, headless through pyrender. Baseline: the straightforward loop that
builds ``pyrender.Mesh.from_trimesh(trimesh.Trimesh(...))`` each frame, swaps it into the
scene and calls ``OffscreenRenderer.render``. Ours: :class:`vr_study.render.dynamic_mesh.DynamicMesh`
(vertex buffer overwritten in place, faces turned away from the camera left out of the
index buffer) and :class:`vr_study.render.offscreen.FrameRenderer` (floor drawn once per
camera and copied, sample for sample, into each frame; colour read back only around the
body; the next frame's vertices prepared while this one is drawn). Both loops run in one GL context and one scene (each shows only its own body). Every frame's pixels must be identical.

The two loops run in alternating blocks so that load from other processes hits both alike.
Usage: ``python benchmarks/render.py [--quick] [--frames N] [--size WxH]``; the last line
printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def make_clip(num_frames: int, fps: float = 30.0):
    """A speaking-like clip: arms, head and jaw moving, a smile coming and going."""
    from vr_study.motion import MotionClip

    clip = MotionClip.zeros(num_frames, fps, method="benchmark")
    t = np.arange(num_frames) / fps
    clip.body_pose[:, 15, 2] = -1.1 + 0.3 * np.sin(2 * np.pi * 0.7 * t)  # left shoulder (arms down)
    clip.body_pose[:, 16, 2] = 1.1 + 0.3 * np.sin(2 * np.pi * 0.5 * t)
    clip.body_pose[:, 17, 1] = -0.6 - 0.4 * np.sin(2 * np.pi * 0.9 * t)  # elbows
    clip.body_pose[:, 11, 0] = 0.15 * np.sin(2 * np.pi * 0.4 * t)  # head nod
    clip.jaw_pose[:, 0] = 0.2 * (1 + np.sin(2 * np.pi * 3.0 * t))
    if clip.num_expression > 1:
        clip.expression[:, 1] = 1.0 + np.sin(2 * np.pi * 0.3 * t)
    return clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 frames (under a minute)")
    ap.add_argument("--frames", type=int, default=None, help="frames to render (default 300)")
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--view", default="full", choices=("full", "upper", "face"))
    ap.add_argument("--block", type=int, default=20, help="frames per alternating block")
    args = ap.parse_args()
    num_frames = args.frames or (60 if args.quick else 300)
    width, height = (int(x) for x in args.size.split("x"))

    from vr_study.render.gl_platform import configure_gl_platform, import_pyrender

    platform = configure_gl_platform()
    pyrender = import_pyrender()
    import trimesh
    from OpenGL import GL

    from vr_study.body import load_body_model
    from vr_study.render.dynamic_mesh import DynamicMesh
    from vr_study.render.framing import frame_camera
    from vr_study.render.gl_scene import build_scene, make_camera_node, make_floor_node, make_material
    from vr_study.render.normals import VertexNormals
    from vr_study.render.offscreen import FrameRenderer
    from vr_study.render.scene import default_scene, floor_height_m

    body = load_body_model()
    clip = make_clip(num_frames)
    posed = body.pose_clip(clip)
    verts = np.asarray(posed.vertices, np.float32)
    faces = np.asarray(body.faces)
    spec = default_scene(floor_height_m(verts[0]))
    camera = frame_camera(args.view, np.asarray(posed.joints), verts, width / height)

    # one scene and one GL context for both loops (llvmpipe may round a pixel differently
    # in another context); each loop shows only its own body
    scene = build_scene(spec)
    floor = make_floor_node(spec.floor)
    scene.add_node(floor)
    camera_node = make_camera_node(camera)
    scene.add_node(camera_node)
    material = make_material(spec.body_material)
    normals = VertexNormals(faces, verts.shape[1])

    # ours: one mesh, vertex buffer overwritten in place, floor drawn once
    dyn = DynamicMesh(faces, verts[0], material)
    scene.add(dyn.mesh)
    eye = np.asarray(camera.position)
    view_proj = camera_node.camera.get_projection_matrix(width, height) @ np.linalg.inv(camera.pose_matrix())
    gl = FrameRenderer(width, height)
    gl_renderer = GL.glGetString(GL.GL_RENDERER).decode()

    prepared = {"frame": -1}  # frame whose vertices the dynamic mesh holds

    def prepare(i: int) -> None:
        dyn.set_vertices(verts[i], eye, view_proj)
        prepared["frame"] = i

    def ours(i: int) -> np.ndarray:
        dyn.mesh.is_visible = True
        if prepared["frame"] != i:
            prepare(i)
        # the next frame is posed while this one is drawn, as ClipRenderer does
        ahead = (lambda: prepare(i + 1)) if i + 1 < num_frames else None
        return gl.render(scene, [dyn], [floor.mesh], while_drawing=ahead)

    # baseline: a new pyrender.Mesh every frame, pyrender's own OffscreenRenderer.render
    def baseline(i: int) -> np.ndarray:
        dyn.mesh.is_visible = False
        tm = trimesh.Trimesh(vertices=verts[i], faces=faces, vertex_normals=normals(verts[i]), process=False)
        node = scene.add(pyrender.Mesh.from_trimesh(tm, material=material))
        color, _depth = gl._offscreen.render(scene)
        scene.remove_node(node)
        return color

    ours(0), baseline(0)  # warm up: shader compilation, first upload
    times = {"ours": 0.0, "baseline": 0.0}
    mismatched = 0
    max_diff = 0
    for start in range(0, num_frames, args.block):
        block = range(start, min(num_frames, start + args.block))
        results = {}
        for name, fn in (("baseline", baseline), ("ours", ours)) if (start // args.block) % 2 else \
                (("ours", ours), ("baseline", baseline)):
            t0 = time.perf_counter()
            results[name] = [fn(i).copy() for i in block]
            times[name] += time.perf_counter() - t0
        for a, b in zip(results["ours"], results["baseline"]):
            if not np.array_equal(a, b):
                mismatched += 1
                max_diff = max(max_diff, int(np.abs(a.astype(int) - b.astype(int)).max()))
    gl.close()

    fps_ours = num_frames / times["ours"]
    fps_base = num_frames / times["baseline"]
    ratio = fps_ours / fps_base
    print(f"platform {platform} ({gl_renderer}), {num_frames} frames at {width}x{height}, {args.view} view, "
          f"{verts.shape[1]} vertices, {len(faces)} faces")
    print(f"baseline (new pyrender.Mesh per frame): {fps_base:.1f} frames/s")
    print(f"ours (in-place buffers, back faces left out, floor drawn once, colour read-back around the body): {fps_ours:.1f} frames/s")
    print(f"ratio {ratio:.2f}x; frames with different pixels: {mismatched}")
    assert mismatched == 0, f"{mismatched} frames differ (max difference {max_diff})"
    print(json.dumps({"benchmark": "render", "frames": num_frames, "width": width, "height": height, "view": args.view,
                      "platform": platform, "gl_renderer": gl_renderer, "vertices": int(verts.shape[1]),
                      "ours_fps": round(fps_ours, 2), "baseline_fps": round(fps_base, 2),
                      "ratio": round(ratio, 3), "identical_pixels": mismatched == 0}))


if __name__ == "__main__":
    main()
