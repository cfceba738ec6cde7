"""Measured face size in the headset: how many pixels tall the avatar's face is per eye.

The XR scene (:class:`vr_study.xr.scene.Scene`, the drawing code the OpenXR swapchains get)
renders one eye at a headset's per-eye resolution and field of view, the participant's eye
1.6 m above the floor, the avatar (the default body, GPU-skinned, arms down) at the
conversational distance (1.3 m by default) facing them. Counted in the image:

* ``head_px``: rows from the crown to the chin (the projected head vertices, cross-checked
  with the rows that show avatar pixels in the head's columns);
* ``face_px``: rows of skin between the hairline and the chin (by colour: the default body's
  skin, inside the head's rows and the middle 40 % of its columns).

The headless OpenXR test runtime reports a fixed 90 degree field of view, so the headsets'
figures are drawn through the Scene directly with their own projection (symmetric frustum,
published per-eye field of view): the planar image a runtime's compositor would then warp
for the lenses. Near the lens centre one image pixel is about one display pixel.

    python benchmarks/face_size_xr.py --quick      # Quest 3 and Index at 1.3 m
    python benchmarks/face_size_xr.py --distance 1.0

The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vr_study.xr.graphics import import_gl  # noqa: E402  (must precede any OpenGL import)

import_gl("egl")

#: name -> (per-eye width, height in pixels, horizontal, vertical field of view in degrees);
#: published figures (Meta Quest 3: 2064 x 2208 per eye, 110 x 96 deg; Valve Index:
#: 1440 x 1600 per eye, about 108 x 104 deg).
HEADSETS = {"quest3": (2064, 2208, 110.0, 96.0), "index": (1440, 1600, 108.0, 104.0)}
EYE_HEIGHT_M = 1.6


def measure(body, rig, width: int, height: int, hfov_deg: float, vfov_deg: float, distance_m: float) -> dict:
    from OpenGL import GL

    from vr_study.xr.capture import skin_mask
    from vr_study.xr.gpuskin import joint_transforms
    from vr_study.xr.scene import Scene
    from vr_study.xr.viewmath import Fov, Pose, projection_matrix, view_matrix

    h, v = np.radians(hfov_deg) / 2, np.radians(vfov_deg) / 2
    proj = projection_matrix(Fov(-h, h, v, -v))
    view = view_matrix(Pose((0.0, EYE_HEIGHT_M, 0.0)))
    place = np.eye(4, dtype=np.float32)
    place[2, 3] = -distance_m
    pose = np.zeros((55, 3))
    pose[16, 2], pose[17, 2] = -1.2, 1.2
    tex = int(GL.glGenTextures(1))
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    GL.glTexStorage2D(GL.GL_TEXTURE_2D, 1, GL.GL_SRGB8_ALPHA8, width, height)
    scene = Scene()
    i = scene.add_skinned_avatar(rig, place)
    scene.update_skin(i, joint_transforms(rig, pose), np.zeros(rig.num_expression, np.float32))
    t0 = time.perf_counter()
    scene.draw_to_texture(tex, width, height, view, proj, srgb=True)
    fbo = int(GL.glGenFramebuffers(1))
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, fbo)
    GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
    GL.glDisable(GL.GL_FRAMEBUFFER_SRGB)
    px = GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
    draw_s = time.perf_counter() - t0
    image = np.frombuffer(px, np.uint8).reshape(height, width, 3)[::-1]
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
    GL.glDeleteFramebuffers(1, [fbo])
    GL.glDeleteTextures(1, [tex])
    scene.release()
    # the head's rows and columns from its projected vertices (crown to chin)
    verts = body.pose_frame(pose, None, None) + [0.0, rig.ground_offset_m, -distance_m]
    head = verts[body.regions["head"]]
    c = np.c_[head, np.ones(len(head))] @ (proj @ view).T
    ndc = c[:, :2] / c[:, 3:]
    cols = (ndc[:, 0] + 1) / 2 * width
    rows = (1 - ndc[:, 1]) / 2 * height
    r0, r1, c0, c1 = int(rows.min()), int(np.ceil(rows.max())), int(cols.min()), int(np.ceil(cols.max()))
    box = image[r0:r1 + 1, c0:c1 + 1].astype(int)
    room_like = (np.abs(box[..., 2] - box[..., 0]) < 20) & (box.min(axis=2) > 110)
    avatar_rows = np.flatnonzero((~room_like).sum(axis=1) >= 3)
    mid = slice(c0 + (c1 - c0) * 3 // 10, c1 - (c1 - c0) * 3 // 10 + 1)  # the middle 40 %: forehead to chin
    chin = int(np.ceil(rows[np.isin(body.regions["head"], body.regions["face"])].max()))  # lowest face vertex
    sub = image[r0:chin + 1, mid]
    skin = skin_mask(sub) & (sub.max(axis=2) > 110)  # bright warm skin, not the dark brown hair
    skin_rows = np.flatnonzero(skin.sum(axis=1) >= 3)
    return {"width": width, "height": height, "hfov_deg": hfov_deg, "vfov_deg": vfov_deg,
            "distance_m": distance_m, "head_px_projected": r1 - r0 + 1,
            "head_px_rendered": int(avatar_rows[-1] - avatar_rows[0] + 1) if len(avatar_rows) else 0,
            "face_px": int(skin_rows[-1] - skin_rows[0] + 1) if len(skin_rows) else 0,
            "head_width_px": c1 - c0 + 1,
            "calculated_head_px": round(height / (2 * np.tan(v)) * 2 * np.tan(
                np.arctan2(0.5 * float(head[:, 1].max() - head[:, 1].min()), distance_m)), 1),
            "draw_and_readback_s": round(draw_s, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the two headsets at the default distance")
    ap.add_argument("--distance", type=float, default=None, help="metres (default: 1.3, the presenter's)")
    ap.add_argument("--headset", choices=sorted(HEADSETS), action="append", help="default: all")
    args = ap.parse_args()
    from vr_study.body import load_body_model
    from vr_study.xr.avatar import conversational_placements
    from vr_study.xr.graphics import create_egl_context
    from vr_study.xr.gpuskin import build_rig

    distance = args.distance
    if distance is None:  # the presenter's default conversational distance
        p = conversational_placements(1)[0]
        distance = float(-p.position[2])
    ctx = create_egl_context()
    from OpenGL import GL
    renderer = GL.glGetString(GL.GL_RENDERER).decode()
    body = load_body_model()
    rig = build_rig(body)
    out = {"gl_renderer": renderer, "body": "default", "eye_height_m": EYE_HEIGHT_M, "headsets": {}}
    for name in args.headset or sorted(HEADSETS):
        w, h, hf, vf = HEADSETS[name]
        out["headsets"][name] = m = measure(body, rig, w, h, hf, vf, distance)
        print(f"{name}: {w}x{h} per eye, {hf:g}x{vf:g} deg, {distance:g} m: head {m['head_px_projected']} px "
              f"(rendered {m['head_px_rendered']}), face skin {m['face_px']} px", flush=True)
    ctx.destroy()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
