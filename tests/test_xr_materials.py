"""The XR renderer draws the avatar's materials (vertex colours: skin, sclera/iris/pupil,
brows, lips, hair, clothes) with the offline renderer's lighting model, in both skinning paths.

The same pose is drawn by the offline renderer (pyrender, ``view="face"``) and by the XR
scene (:class:`vr_study.xr.scene.Scene`, GPU- and CPU-skinned) through the same camera; the
median colour of each material's visible vertices must agree within
:data:`TOLERANCE_8BIT` per channel, and the XR eye image must show a dark iris and pupil on
a light sclera and lips redder than the skin.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vr_study.motion import MotionClip
from vr_study.xr.capture import read_ppm

W, H = 400, 400
#: Largest difference (8-bit sRGB, per channel) between the offline and XR medians of one
#: material. The two differ only by pyrender's 1/2.2 power curve vs the exact sRGB curve
#: and by rasterisation details at material borders.
TOLERANCE_8BIT = 10
#: The GPU path shades with the skinned rest normals (expression blend shapes move the lips
#: but do not turn their normals), so the lips of an expressive face differ more there.
GPU_LIPS_TOLERANCE_8BIT = 20

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def body():
    from vr_study.body import default_body_model_path, load_body_model

    if not default_body_model_path().exists():
        pytest.skip("no default body model (run `vr-study body build`)")
    return load_body_model()


def face_clip() -> MotionClip:
    clip = MotionClip.zeros(2, 30.0)
    clip.body_pose[:, 15, 2] = -1.1
    clip.body_pose[:, 16, 2] = 1.1
    clip.jaw_pose[:, 0] = 0.12
    clip.expression[:, 0] = 0.6
    return clip


XR_SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    from vr_study.xr.graphics import import_gl, create_egl_context
    import_gl("egl")
    from OpenGL import GL
    from vr_study.body import load_body_model
    from vr_study.xr.capture import write_ppm
    from vr_study.xr.gpuskin import build_rig, joint_transforms
    from vr_study.xr.avatar import AvatarMesh, Placement
    from vr_study.xr.scene import Scene

    out = sys.argv[1]
    cam = np.load(out + "/camera.npz")
    view, proj, pose, expr = cam["view"], cam["proj"], cam["pose"], cam["expr"]
    ctx = create_egl_context()
    body = load_body_model()
    w, h = int(cam["size"][0]), int(cam["size"][1])
    fbo = int(GL.glGenFramebuffers(1))
    for mode, srgb in (("gpu", True), ("cpu", True), ("cpu_rgba8", False)):
        tex = int(GL.glGenTextures(1)); GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        GL.glTexStorage2D(GL.GL_TEXTURE_2D, 1, GL.GL_SRGB8_ALPHA8 if srgb else GL.GL_RGBA8, w, h)
        scene = Scene()
        if mode == "gpu":
            rig = build_rig(body)
            place = np.eye(4, dtype=np.float32); place[1, 3] = -rig.ground_offset_m
            i = scene.add_skinned_avatar(rig, place)
            scene.update_skin(i, joint_transforms(rig, pose, None, expr), expr)
        else:
            mesh = AvatarMesh(body, Placement(np.zeros(3, np.float32), 0.0))
            place = np.eye(4, dtype=np.float32); place[1, 3] = -mesh.ground_offset_m
            v, n = mesh.pose(pose, np.zeros(3), expr)
            scene.add_avatar(v, n, mesh.faces, place, colors=mesh.colors)
        scene.draw_to_texture(tex, w, h, view, proj, srgb=srgb)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, fbo)
        GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
        GL.glDisable(GL.GL_FRAMEBUFFER_SRGB)  # read the stored (sRGB-encoded) bytes as they are
        px = GL.glReadPixels(0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
        write_ppm(f"{out}/{mode}.ppm", np.frombuffer(px, np.uint8).reshape(h, w, 3)[::-1])
        assert GL.glGetError() == GL.GL_NO_ERROR
        scene.release()
        GL.glDeleteTextures(1, [tex])
    ctx.destroy()
""")


def material_classes(body) -> dict[str, np.ndarray]:
    """Vertex indices whose colour is exactly one of the default body's materials."""
    from vr_study.body.build import COLORS

    out = {}
    for name in ("skin", "lips", "brows", "hair", "sclera", "iris", "pupil", "shirt"):
        d = np.abs(body.vertex_colors - np.asarray(COLORS[name], np.float32)).max(axis=1)
        out[name] = np.nonzero(d < 0.02)[0]
    return out


def sample_medians(image: np.ndarray, pixels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.median(image[p[:, 1], p[:, 0]].astype(float), axis=0) for k, p in pixels.items()}


def test_xr_draws_the_offline_renderers_materials_in_both_skinning_paths(body, tmp_path):
    from vr_study.render import frame_clip, render_frames
    from vr_study.render.gl_platform import import_pyrender
    from vr_study.render.normals import VertexNormals

    clip = face_clip()
    offline = next(iter(render_frames([clip], body_model=body, view="face", size=(W, H), captions=False)))
    camera, _ = frame_clip(clip, body, "face", W / H)
    pyrender = import_pyrender()
    proj = pyrender.PerspectiveCamera(yfov=camera.yfov_rad, znear=camera.znear_m, zfar=camera.zfar_m,
                                      aspectRatio=camera.aspect).get_projection_matrix(W, H)
    view = np.linalg.inv(camera.pose_matrix())
    pose = clip.full_pose()[0]
    expr = np.zeros(body.num_expression, np.float32)
    expr[: clip.expression.shape[1]] = clip.expression[0][: body.num_expression]
    np.savez(tmp_path / "camera.npz", view=view, proj=proj, pose=pose, expr=expr, size=np.array([W, H]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("XR_")}
    env.pop("DISPLAY", None)
    proc = subprocess.run([sys.executable, "-c", XR_SCRIPT, str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]

    # visible vertices of each material (facing the camera, inside the picture), as pixels
    verts = body.pose_frame(pose, None, expr)
    normals = VertexNormals(body.faces, len(verts))(verts)
    to_cam = camera.pose_matrix()[:3, 3] - verts
    facing = np.einsum("vc,vc->v", normals, to_cam / np.linalg.norm(to_cam, axis=1, keepdims=True)) > 0.5
    clip_pos = np.c_[verts, np.ones(len(verts))] @ (proj @ view).T
    ndc = clip_pos[:, :2] / clip_pos[:, 3:]
    px = np.stack([(ndc[:, 0] + 1) / 2 * W, (1 - ndc[:, 1]) / 2 * H], axis=1).astype(int)
    inside = (px[:, 0] >= 1) & (px[:, 0] < W - 1) & (px[:, 1] >= 1) & (px[:, 1] < H - 1)
    pixels = {}
    for name, idx in material_classes(body).items():
        keep = idx[facing[idx] & inside[idx]]
        if len(keep) >= (2 if name in ("pupil", "brows") else 5):
            pixels[name] = px[keep]
    assert {"skin", "lips", "iris", "pupil", "sclera", "brows"} <= set(pixels), sorted(pixels)

    ref = sample_medians(offline, pixels)
    for mode in ("gpu", "cpu", "cpu_rgba8"):
        image = read_ppm(tmp_path / f"{mode}.ppm")
        got = sample_medians(image, pixels)
        for name in pixels:
            diff = np.abs(got[name] - ref[name]).max()
            tol = GPU_LIPS_TOLERANCE_8BIT if (mode, name) == ("gpu", "lips") else TOLERANCE_8BIT
            assert diff <= tol, (mode, name, got[name], ref[name])
        # what a participant sees: a dark brown iris and a black pupil on a light sclera, red lips
        lum = {k: v.mean() for k, v in got.items()}
        assert lum["pupil"] + 20 < lum["iris"] < lum["skin"] - 20, (mode, got)
        sclera = image[pixels["sclera"][:, 1], pixels["sclera"][:, 0]].astype(float).mean(axis=1)
        assert np.percentile(sclera, 90) > lum["skin"] + 15, (mode, np.percentile(sclera, 90))  # eye whites
        assert got["iris"][0] > got["iris"][2] + 20, (mode, got["iris"])  # brown, not grey
        assert got["lips"][0] / got["lips"][1] > 1.2 * got["skin"][0] / got["skin"][1], (mode, got)
