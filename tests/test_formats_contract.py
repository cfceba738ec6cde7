"""Contract tests: every reader, fed a file in its method's real layout (tests/motion_fixtures.py,
which cites the upstream code each layout comes from), returns a body that is upright and
faces the viewer (+Z) once skinned with the default body model.

The checks are geometric and independent of :mod:`vr_study.orientation`: the head joint
must be more than 0.3 m above the pelvis joint, the body's front (left hip minus right
hip, crossed with pelvis-to-head) must point along +Z, and the nose must be in front of
the head (larger z) in every frame.
"""
from __future__ import annotations

import numpy as np
import pytest

import motion_fixtures as fx
from vr_study.body import load_body_model
from vr_study.errors import InputError
from vr_study.formats import detect_format, read_motion
from vr_study.motion import MotionClip, orientation_warnings
from vr_study.orientation import Z_UP_TO_Y_UP

NOSE_VERTEX = 9120  # smplx/vertex_ids.py 'nose'; the default body keeps it on the nose


@pytest.fixture(scope="module")
def body():
    return load_body_model()


def skinned_checks(body, clip: MotionClip) -> dict:
    """Head height above the pelvis (m), the front's z component and the nose's lead (m), per frame."""
    sk = body.pose_clip(clip)
    J = sk.joints.astype(np.float64)
    head_up = J[:, 15, 1] - J[:, 0, 1]
    front = np.cross(J[:, 1] - J[:, 2], J[:, 15] - J[:, 0])
    front /= np.linalg.norm(front, axis=1, keepdims=True)
    nose_lead = sk.vertices[:, NOSE_VERTEX, 2] - J[:, 15, 2]
    return {"head_up": head_up, "front_z": front[:, 2], "nose_lead": nose_lead}


def assert_upright_facing_viewer(body, clip: MotionClip) -> None:
    c = skinned_checks(body, clip)
    assert c["head_up"].min() > 0.3, f"head only {c['head_up'].min():.3f} m above the pelvis"
    assert c["front_z"].min() > 0.8, f"the body's front points {c['front_z'].min():.2f} along +Z"
    assert c["nose_lead"].min() > 0.0, "the nose is behind the head"
    assert orientation_warnings(clip) == []


WRITERS = {
    "talkshow": fx.write_talkshow,
    "amuse": fx.write_amuse,
    "beat2": fx.write_emage,
    "amass-smplx": fx.write_amass_smplx,
    "amass-smplh": fx.write_amass_smplh,
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_import_is_upright_and_faces_the_viewer(tmp_path, body, name):
    path = WRITERS[name](tmp_path)
    assert detect_format(path) == name.split("-")[0]
    clip = read_motion(path)
    assert_upright_facing_viewer(body, clip)


def test_pixie_import_is_upright_and_faces_the_viewer(tmp_path, body):
    fx.write_pixie(tmp_path / "results")
    clip = read_motion(tmp_path / "results")
    assert clip.num_frames == 5
    assert_upright_facing_viewer(body, clip)


def test_the_checks_catch_a_camera_frame_body(body):
    """TalkSHOW's orientation imported as is: upside down (head ~0.59 m below the pelvis,
    as the issue measured) and facing away. The checks above would fail on it."""
    clip = MotionClip.zeros(3, num_expression=10, num_betas=10)
    clip.global_orient[:] = fx.TALKSHOW_GLOBAL_ORIENT
    c = skinned_checks(body, clip)
    assert c["head_up"].max() < -0.5 and c["front_z"].max() < -0.9
    w = " ".join(orientation_warnings(clip))
    assert "upside down" in w and "faces away" in w


# ---------------------------------------------------------------- TalkSHOW
def test_talkshow_real_path_stacked_samples_and_seated_legs(tmp_path):
    """scripts/demo.py:243-245 saves visualise/video/body-pixel2/<stem>.npy with the samples
    stacked (demo.py:242); the face repeats in each, so the count is found from the file."""
    path = fx.write_talkshow(tmp_path, stem="greeting", T=40, num_sample=3)
    assert path.relative_to(tmp_path).as_posix() == "visualise/video/body-pixel2/greeting.npy"
    raw = np.load(path)
    clips = [read_motion(path, sample=s) for s in range(3)]
    for s, clip in enumerate(clips):
        assert clip.num_frames == 40 and clip.meta.extra["num_samples"] == 3
        np.testing.assert_allclose(clip.body_pose[:, 15], raw[40 * s:40 * (s + 1), 12 + 45:12 + 48], atol=1e-6)
        np.testing.assert_allclose(clip.jaw_pose, raw[:40, 0:3], atol=1e-6)
        assert clip.meta.extra["legs"].startswith("seated")
        # after the camera fix the root is within 4 degrees of identity (pi - 3.0747 = 0.067 rad)
        assert np.linalg.norm(clip.global_orient, axis=1).max() < 0.07
    assert not np.allclose(clips[0].body_pose, clips[1].body_pose)
    with pytest.raises(InputError, match="choose 0..2"):
        read_motion(path, sample=3)
    with pytest.raises(InputError, match="does not divide"):
        read_motion(path, num_samples=7)
    one = read_motion(path, num_samples=1)  # told explicitly: all rows as one clip
    assert one.num_frames == 120
    stand = read_motion(fx.write_talkshow(tmp_path / "s", num_sample=1, stand=True))
    assert stand.num_frames == 40 and stand.meta.extra["legs"] == "as generated"


def test_talkshow_constant_face_cannot_tell_samples_apart(tmp_path):
    arr = np.zeros((30, 265), np.float32)
    arr[:, 9:12] = fx.TALKSHOW_GLOBAL_ORIENT
    np.save(tmp_path / "still.npy", arr)
    clip = read_motion(tmp_path / "still.npy")
    assert clip.num_frames == 30 and clip.meta.extra["num_samples"] == 1


# ---------------------------------------------------------------- AMASS
def test_amass_smplx_object_arrays_skipped_and_z_up_converted(tmp_path, body):
    """A real SMPL-X release file holds markers_latent_vids as an object array: the reader
    loads only what it needs (nothing unpickled). Z-up becomes Y-up with the world rotated
    about the origin: the skinned joints equal the Z-up ones rotated by -pi/2 about x."""
    path = fx.write_amass_smplx(tmp_path, T=48)
    with pytest.raises(ValueError, match="pickle"):
        np.load(path, allow_pickle=False)["markers_latent_vids"]
    clip = read_motion(path)
    assert clip.fps == 120.0 and clip.meta.extra["amass_model"] == "smplx" and clip.betas.shape == (16,)
    z = np.load(path, allow_pickle=False)
    raw = MotionClip.from_poses(z["poses"], z["trans"], None, z["betas"], 120.0)
    j_zup = body.pose_clip(raw).joints.astype(np.float64)
    j_yup = body.pose_clip(clip).joints.astype(np.float64)
    np.testing.assert_allclose(j_yup, j_zup @ Z_UP_TO_Y_UP.T, atol=2e-4)
    # walking towards the viewer (-Y in AMASS) is walking towards +Z here
    assert clip.transl[-1, 2] - clip.transl[0, 2] == pytest.approx(0.2, abs=1e-4)
    np.testing.assert_allclose(clip.body_pose, raw.body_pose, atol=1e-6)


def test_amass_smplh_layout_and_frame_rate_key(tmp_path):
    path = fx.write_amass_smplh(tmp_path, T=24)
    clip = read_motion(path)
    z = np.load(path)
    assert clip.fps == 60.0 and clip.gender == "female" and clip.meta.extra["amass_model"] == "smplh"
    np.testing.assert_allclose(clip.left_hand_pose.reshape(24, 45), z["poses"][:, 66:111], atol=1e-6)
    np.testing.assert_allclose(clip.right_hand_pose.reshape(24, 45), z["poses"][:, 111:156], atol=1e-6)
    assert not clip.jaw_pose.any() and not clip.leye_pose.any()


def test_amass_object_array_in_a_needed_key_is_refused(tmp_path):
    T = 4
    poses = np.empty(T, dtype=object)
    for i in range(T):
        poses[i] = np.zeros(165)
    np.savez(tmp_path / "bad.npz", poses=poses, trans=np.zeros((T, 3)), mocap_framerate=60.0)
    with pytest.raises(InputError, match="field 'poses' is an object array"):
        read_motion(tmp_path / "bad.npz", "amass")


# ---------------------------------------------------------------- AMUSE, PIXIE
def test_amuse_real_layout(tmp_path):
    path = fx.write_amuse(tmp_path, T=40)
    assert path.name.endswith("_motion_smplx.npz")
    clip = read_motion(path)
    z = np.load(path)
    assert clip.betas.shape == (300,) and clip.gender == "male" and clip.fps == 30.0
    np.testing.assert_allclose(clip.full_pose(), z["poses"], atol=1e-7)
    assert not clip.expression.any() and not clip.transl.any()


def test_pixie_camera_frame_becomes_y_up(tmp_path):
    """global_pose = diag(1,-1,-1) @ sway (camera frame, y down) reads as the sway alone."""
    from scipy.spatial.transform import Rotation

    truth = fx.write_pixie(tmp_path / "r", frames=(0, 1, 2))
    clip = read_motion(tmp_path / "r")
    for t, (aa, d) in enumerate(truth):
        sway = fx.PIXIE_FACING_CAMERA @ d["global_pose"][0].astype(np.float64)
        np.testing.assert_allclose(Rotation.from_rotvec(clip.global_orient[t]).as_matrix(), sway, atol=1e-5)
        np.testing.assert_allclose(clip.body_pose[t], aa["body_pose"], atol=1e-4)
    assert clip.meta.extra["orientation_fix"].startswith("camera frame")


def test_cli_converts_a_stacked_talkshow_file_without_being_told_the_count(tmp_path):
    import subprocess
    import sys

    path = fx.write_talkshow(tmp_path, T=40, num_sample=3)
    r = subprocess.run([sys.executable, "-m", "vr_study.cli", "motion", "convert", str(path), str(tmp_path / "o.npz"),
                        "--sample", "2"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    clip = read_motion(tmp_path / "o.npz")
    assert clip.num_frames == 40 and clip.meta.extra["sample"] == 2 and clip.meta.method == "talkshow"
