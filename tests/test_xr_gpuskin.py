"""GPU skinning in the XR renderer: the numpy twin of the shader against the body model's
own CPU skinning (BodyModel.pose_frame, the reference), and rendered images of the same
pose skinned on the GPU and on the CPU through the simulator."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vr_study.formats import write_motion
from vr_study.motion import MotionClip
from vr_study.xr.capture import read_ppm, skin_mask
from vr_study.xr.gpuskin import (TOP4_TOLERANCE_M, SkinnedAvatar, build_rig, joint_transforms, pose_feature,
                                 resolve_skinning, skin_reference)

EYE = "320x360"


@pytest.fixture(scope="module")
def body():
    from vr_study.body import default_body_model_path, load_body_model

    if not default_body_model_path().exists():
        pytest.skip("no default body model (run `vr-study body build`)")
    return load_body_model()


def random_frame(rng: np.random.Generator, num_expression: int):
    pose = rng.normal(0.0, 0.5, (55, 3))
    transl = rng.normal(0.0, 0.3, 3)
    expression = rng.normal(0.0, 1.0, num_expression)
    return pose, transl, expression


def test_top4_weights_are_within_tolerance_on_the_default_body(body):
    rig = build_rig(body)
    assert rig.weight_mode == "top4"
    assert rig.top4_error_m <= TOP4_TOLERANCE_M
    # a tolerance no compression can meet forces the exact weight lists
    assert build_rig(body, tolerance_m=-1.0).weight_mode == "list"


@pytest.mark.parametrize("weight_mode", ["top4", "list"])
def test_shader_math_matches_the_body_models_cpu_skinning(body, weight_mode):
    rig = build_rig(body, weight_mode=weight_mode)
    rng = np.random.default_rng(7)
    lift = np.array([0.0, rig.ground_offset_m, 0.0], np.float32)
    for _ in range(4):
        pose, transl, expression = random_frame(rng, body.num_expression)
        verts, normals = skin_reference(rig, joint_transforms(rig, pose, transl, expression), expression)
        ref = body.pose_frame(pose, transl, expression)
        verts = verts[: len(ref)]  # the rig's extra vertices after the body's: teeth and mouth cavity
        assert np.max(np.linalg.norm(verts - (ref + lift), axis=1)) < 2e-5  # metres (float32 rounding)
        assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-4)
    # expression moves the face: the same pose with and without it differs by millimetres or more
    pose, transl, expression = random_frame(rng, body.num_expression)
    with_e = skin_reference(rig, joint_transforms(rig, pose, transl, expression), expression)[0]
    without = skin_reference(rig, joint_transforms(rig, pose, transl, None), None)[0]
    assert np.max(np.linalg.norm(with_e - without, axis=1)) > 1e-3


def test_skinned_normals_follow_the_surface(body):
    """Skinned rest normals vs normals recomputed from the posed mesh (the CPU path's)."""
    from vr_study.render.normals import VertexNormals

    rig = build_rig(body)
    pose = np.zeros((55, 3))  # a speaking gesture: arms out and bent, head turned, jaw open
    pose[16, 2], pose[17, 2], pose[18, 1], pose[15, 1], pose[22, 0] = -0.9, 1.1, 0.6, 0.3, 0.35
    verts, normals = skin_reference(rig, joint_transforms(rig, pose), None)
    recomputed = VertexNormals(rig.faces, rig.num_vertices)(verts)
    cos = np.sum(normals * recomputed, axis=1)
    assert np.median(cos) > 0.995
    assert np.mean(cos > 0.9) > 0.97


def test_skinning_mode_falls_back_to_the_cpu_where_the_shader_cannot(body):
    from vr_study.xr.avatar import ProxyBodyModel

    assert resolve_skinning("auto", body) == ("gpu", "")
    assert resolve_skinning("cpu", body)[0] == "cpu"
    with_posedirs = dataclasses.replace(body, posedirs=np.full((486, 3 * body.num_vertices), 1e-4, np.float32))
    assert resolve_skinning("auto", with_posedirs) == ("gpu", "")  # pose correctives run in the shader
    odd = dataclasses.replace(body, posedirs=np.full((207, 3 * body.num_vertices), 1e-4, np.float32))  # SMPL's
    mode, why = resolve_skinning("auto", odd)
    assert mode == "cpu" and "posedirs" in why
    with pytest.raises(ValueError, match="posedirs"):
        resolve_skinning("gpu", odd)
    assert resolve_skinning("auto", ProxyBodyModel())[0] == "cpu"
    with pytest.raises(ValueError):
        resolve_skinning("shader", body)


def real_layout(body, posedirs_vc486: np.ndarray):
    """The default body with SMPL-X pose correctives, as a real SMPL-X file holds them
    ((V, 3, 486) in the file, (486, 3V) in BodyModel)."""
    return dataclasses.replace(body, posedirs=np.ascontiguousarray(
        posedirs_vc486.reshape(body.num_vertices * 3, 486).T, np.float32))


@pytest.mark.parametrize("weight_mode", ["top4", "list"])
def test_pose_correctives_in_the_shader_math_match_cpu_lbs(body, weight_mode):
    """A real-layout model with non-zero posedirs: the shader's math (correctives after the
    expression, before skinning) gives the body model's own CPU vertices within 1e-5 m."""
    rng = np.random.default_rng(3)
    model = real_layout(body, rng.normal(0.0, 1e-3, (body.num_vertices, 3, 486)))
    rig = build_rig(model, weight_mode=weight_mode)
    assert rig.has_pose_correctives and rig.pose_basis.shape == (body.num_vertices, 3, 122, 4)
    lift = np.array([0.0, rig.ground_offset_m, 0.0], np.float32)
    avatar = SkinnedAvatar(rig, placement=None)
    worst = 0.0
    for _ in range(4):
        pose, transl, expression = random_frame(rng, body.num_expression)
        ref = model.pose_frame(pose, transl, expression)
        verts, _ = skin_reference(rig, joint_transforms(rig, pose, transl, expression), expression,
                                  pose_feature(pose))
        verts = verts[: len(ref)]  # (the mouth parts follow)
        worst = max(worst, float(np.max(np.linalg.norm(verts - (ref + lift), axis=1))))
        # without the correctives the same pose is centimetres off: the test can fail
        plain, _ = skin_reference(rig, joint_transforms(rig, pose, transl, expression), expression, None)
        assert np.max(np.linalg.norm(plain[: len(ref)] - (ref + lift), axis=1)) > 1e-2
        transforms, expr, feat = avatar.pose(pose, np.zeros(3), expression)
        assert feat.shape == (488,) and np.array_equal(feat, pose_feature(pose))
    assert worst < 1e-5  # metres
    assert build_rig(body).has_pose_correctives is False  # the default body has none: nothing uploaded


def posed_clip(path: Path) -> Path:
    """One still pose: turned, arms out and bent, jaw open, a smile-like expression."""
    clip = MotionClip.zeros(30, fps=30.0)
    clip.global_orient[:, 1] = 0.4
    clip.body_pose[:, 15, 2] = -0.9
    clip.body_pose[:, 16, 2] = 1.1
    clip.body_pose[:, 17, 1] = 0.6
    clip.body_pose[:, 2, 0] = 0.2
    clip.jaw_pose[:, 0] = 0.35
    clip.expression = np.zeros((30, 16), np.float32)
    clip.expression[:, :4] = [1.5, -1.0, 0.8, 1.2]
    write_motion(clip, path)
    return path


def run_sim(clip: Path, out: Path, skinning: str, extra_env: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XR_")}
    env.pop("DISPLAY", None)
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, "-m", "vr_study.cli", "xr", "run", "--simulate", "--clip", str(clip),
                           "--frames", "2", "--unpaced", "--eye-size", EYE, "--capture-dir", str(out),
                           "--skinning", skinning], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(a: np.ndarray, b: np.ndarray) -> None:
    """Nearly identical: same silhouette, shading differing only where normals are computed
    differently (skinned rest normals vs normals of the posed mesh)."""
    ma, mb = skin_mask(a), skin_mask(b)
    assert ma.sum() > 1000  # the avatar is in view (skin: face, neck, arms, hands; clothes are not counted)
    assert (ma ^ mb).sum() <= 0.01 * ma.sum()
    d = np.abs(a.astype(int) - b.astype(int)).max(axis=2)
    assert d.mean() < 1.0
    assert np.mean(d > 16) < 0.005


@pytest.mark.slow
def test_gpu_and_cpu_skinning_render_the_same_image(body, tmp_path):
    clip = posed_clip(tmp_path / "pose.npz")
    gpu = run_sim(clip, tmp_path / "gpu", "gpu")
    cpu = run_sim(clip, tmp_path / "cpu", "cpu")
    assert (gpu["skinning"], cpu["skinning"]) == ("gpu", "cpu")
    for eye in (0, 1):
        name = f"frame000001_eye{eye}.ppm"
        compare(read_ppm(tmp_path / "gpu" / name), read_ppm(tmp_path / "cpu" / name))
    # and the pose matters: the rest pose looks clearly different
    rest = MotionClip.zeros(30, fps=30.0)
    write_motion(rest, tmp_path / "rest.npz")
    run_sim(tmp_path / "rest.npz", tmp_path / "rest", "gpu")
    a, b = read_ppm(tmp_path / "gpu" / "frame000001_eye0.ppm"), read_ppm(tmp_path / "rest" / "frame000001_eye0.ppm")
    assert (skin_mask(a) ^ skin_mask(b)).sum() > 0.1 * skin_mask(a).sum()


SCENE_SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    from vr_study.xr.graphics import import_gl, create_egl_context
    import_gl("egl")
    from OpenGL import GL
    from vr_study.body import load_body_model
    from vr_study.xr.capture import write_ppm
    from vr_study.xr.gpuskin import build_rig, joint_transforms
    from vr_study.xr.avatar import AvatarMesh, Placement
    from vr_study.xr.scene import Scene
    from vr_study.xr.viewmath import Fov, Pose, projection_matrix, view_matrix

    ctx = create_egl_context()
    body = load_body_model()
    pose = np.zeros((55, 3)); pose[16, 2] = -0.9; pose[17, 2] = 1.1; pose[22, 0] = 0.35; pose[0, 1] = 0.3
    expr = np.zeros(body.num_expression); expr[:3] = [1.5, -1.0, 0.8]
    place = Placement(np.array([0.0, 0.0, -1.3], np.float32), 0.0).matrix()
    w, h = 320, 360
    view, proj = view_matrix(Pose((0.0, 1.6, 0.0))), projection_matrix(Fov())
    tex = int(GL.glGenTextures(1)); GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    GL.glTexStorage2D(GL.GL_TEXTURE_2D, 1, GL.GL_RGBA8, w, h)
    fbo = int(GL.glGenFramebuffers(1))
    for mode in ("top4", "list", "cpu"):
        scene = Scene()
        if mode == "cpu":
            mesh = AvatarMesh(body, Placement(np.zeros(3, np.float32), 0.0))
            v, n = mesh.pose(pose, np.zeros(3), expr)
            scene.add_avatar(v, n, mesh.faces, place, colors=mesh.colors)
        else:
            rig = build_rig(body, weight_mode=mode)
            i = scene.add_skinned_avatar(rig, place)
            scene.update_skin(i, joint_transforms(rig, pose, None, expr), expr)
        scene.draw_to_texture(tex, w, h, view, proj, srgb=False)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, fbo)
        GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
        px = GL.glReadPixels(0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
        write_ppm(f"{sys.argv[1]}/{mode}.ppm", np.frombuffer(px, np.uint8).reshape(h, w, 3)[::-1])
        assert GL.glGetError() == GL.GL_NO_ERROR
        scene.release()
    ctx.destroy()
""")


@pytest.mark.slow
def test_both_weight_layouts_draw_what_the_cpu_path_draws(body, tmp_path):
    """The top-4 attributes and the exact weight lists (texture buffer) through the Scene."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XR_")}
    env.pop("DISPLAY", None)
    proc = subprocess.run([sys.executable, "-c", SCENE_SCRIPT, str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cpu = read_ppm(tmp_path / "cpu.ppm")
    compare(read_ppm(tmp_path / "top4.ppm"), cpu)
    compare(read_ppm(tmp_path / "list.ppm"), cpu)


@pytest.mark.slow
def test_a_body_model_with_posedirs_is_skinned_on_the_gpu_like_the_cpu(body, tmp_path):
    """A real-layout model file with pose correctives: `auto` keeps GPU skinning, and the
    image matches the CPU path's; the correctives visibly change the body."""
    from vr_study.body import default_body_model_path

    with np.load(default_body_model_path()) as src:
        arrays = {k: src[k] for k in src.files}
    # smooth correctives (each pose feature scales the body about its centre by a few per cent),
    # so the shading of GPU (skinned rest normals) and CPU (normals of the posed mesh) agree
    v = arrays["v_template"].astype(np.float64)
    a = np.random.default_rng(5).normal(0.0, 0.05, 486)
    arrays["posedirs"] = ((v - v.mean(axis=0))[:, :, None] * a[None, None, :]).astype(np.float32)
    model = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(model, **arrays)
    clip = posed_clip(tmp_path / "pose.npz")
    extra = {"VR_STUDY_SMPLX_DIR": str(model)}
    gpu = run_sim(clip, tmp_path / "gpu", "auto", extra)
    cpu = run_sim(clip, tmp_path / "cpu", "cpu", extra)
    assert (gpu["skinning"], cpu["skinning"]) == ("gpu", "cpu")
    name = "frame000001_eye0.ppm"
    compare(read_ppm(tmp_path / "gpu" / name), read_ppm(tmp_path / "cpu" / name))
    run_sim(clip, tmp_path / "plain", "gpu")  # the default body: no correctives
    a_img, b_img = read_ppm(tmp_path / "gpu" / name), read_ppm(tmp_path / "plain" / name)
    assert (skin_mask(a_img) ^ skin_mask(b_img)).sum() > 0.02 * skin_mask(a_img).sum()
