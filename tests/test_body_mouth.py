"""Teeth, tongue and mouth cavity: a separate small mesh rigid to the head and jaw (the
default body keeps SMPL-X's 10475 vertices), drawn by the offline and the XR renderer: an
open mouth shows teeth-white, a dark cavity or the tongue, not the background or skin."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from vr_study.body.mouth import HEAD_JOINT, JAW_JOINT, build_mouth, pose_mouth, skinning_transforms
from vr_study.motion import MotionClip

W, H = 400, 400


@pytest.fixture(scope="module")
def body():
    from vr_study.body import default_body_model_path, load_body_model

    if not default_body_model_path().exists():
        pytest.skip("no default body model (run `vr-study body build`)")
    return load_body_model()


def open_mouth_clip(jaw_rad: float) -> MotionClip:
    clip = MotionClip.zeros(2, 30.0)
    clip.body_pose[:, 15, 2] = -1.1
    clip.body_pose[:, 16, 2] = 1.1
    clip.jaw_pose[:, 0] = jaw_rad
    return clip


def test_mouth_parts_are_separate_and_follow_head_and_jaw(body):
    parts = build_mouth(body)
    assert body.num_vertices == 10475  # the body itself is unchanged in size: smplx loads it
    assert set(np.unique(parts.joint)) == {HEAD_JOINT, JAW_JOINT}
    pose = np.zeros((1, 55, 3))
    rest = pose_mouth(parts, skinning_transforms(body, pose))[0]
    assert np.allclose(rest, parts.vertices, atol=1e-6)
    pose[0, 22, 0] = 0.4
    opened = pose_mouth(parts, skinning_transforms(body, pose))[0]
    moved = np.linalg.norm(opened - rest, axis=1)
    assert np.all(moved[parts.joint == HEAD_JOINT] < 1e-6)
    assert np.median(moved[parts.joint == JAW_JOINT]) > 0.01  # the lower teeth drop with the jaw


def mouth_pixels(body, clip: MotionClip, view: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """(K, 2) pixels (x, y) on the line between the inner lips' centres (the open mouth)."""
    pose = clip.full_pose()[0]
    verts = body.pose_frame(pose, None, None)
    lm = body.landmarks(verts[None])[0]
    upper, lower = lm[45], lm[49]  # FLAME order: inner lip, upper and lower centre
    pts = upper + np.linspace(0.15, 0.8, 14)[:, None] * (lower - upper)
    c = np.c_[pts, np.ones(len(pts))] @ (proj @ view).T
    ndc = c[:, :2] / c[:, 3:]
    px = np.stack([(ndc[:, 0] + 1) / 2 * W, (1 - ndc[:, 1]) / 2 * H], 1).astype(int)
    return np.concatenate([px + [dx, 0] for dx in (-4, 0, 4)])


def assert_teeth_or_cavity(image: np.ndarray, px: np.ndarray, what: str) -> None:
    c = image[px[:, 1], px[:, 0]].astype(int)
    teeth = (c.min(axis=1) > 150) & (c.max(axis=1) - c.min(axis=1) < 45)
    dark = c.max(axis=1) < 70
    tongue = (c[:, 0] - c[:, 1] > 50) & (c[:, 0] < 200)
    assert np.mean(teeth | dark | tongue) > 0.85, (what, c.tolist())
    assert teeth.any() and dark.any(), (what, c.tolist())  # both are there


@pytest.mark.slow
def test_open_mouth_shows_teeth_and_cavity_offline_and_in_xr(body, tmp_path):
    from test_xr_materials import XR_SCRIPT
    from vr_study.render import frame_clip, render_frames
    from vr_study.render.gl_platform import import_pyrender
    from vr_study.xr.capture import read_ppm

    clip = open_mouth_clip(0.35)
    offline = next(iter(render_frames([clip], body_model=body, view="face", size=(W, H), captions=False)))
    camera, _ = frame_clip(clip, body, "face", W / H)
    proj = import_pyrender().PerspectiveCamera(yfov=camera.yfov_rad, znear=camera.znear_m, zfar=camera.zfar_m,
                                               aspectRatio=camera.aspect).get_projection_matrix(W, H)
    view = np.linalg.inv(camera.pose_matrix())
    px = mouth_pixels(body, clip, view, proj)
    assert_teeth_or_cavity(offline, px, "offline")
    closed = next(iter(render_frames([open_mouth_clip(0.0)], body_model=body, view="face", size=(W, H),
                                     captions=False)))
    assert np.mean(closed[px[:, 1], px[:, 0]].astype(int).min(axis=1) > 150) < 0.2  # closed: no teeth

    np.savez(tmp_path / "camera.npz", view=view, proj=proj, pose=clip.full_pose()[0],
             expr=np.zeros(body.num_expression, np.float32), size=np.array([W, H]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("XR_")}
    env.pop("DISPLAY", None)
    proc = subprocess.run([sys.executable, "-c", XR_SCRIPT, str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for mode in ("gpu", "cpu"):
        assert_teeth_or_cavity(read_ppm(tmp_path / f"{mode}.ppm"), px, mode)
