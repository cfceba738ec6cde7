"""PIXIE/DECA per-frame parameters: folders of PIXIE's pickles, one pickle, stacked .npz."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import motion_fixtures as fx
from vr_study.cli import main
from vr_study.errors import InputError
from vr_study.formats import detect_format, read_motion


def _write_pixie_folder(root, n=5, seed=0, deca=False):
    """PIXIE's real output layout and key set (tests/motion_fixtures.py cites the upstream lines)."""
    truth = fx.write_pixie(root, frames=[0, 1, 2, 10, 11][:n], seed=seed)  # natural order: frame2 before frame10
    if deca:
        for t in [0, 1, 2, 10, 11][:n]:
            name = f"clip_frame{t}"
            np.savez(root / name / f"{name}_deca.npz", exp=np.full((1, 50), 0.5 + t, np.float32),
                     pose=np.array([[0, 0, 0, 0.3, 0, 0]], np.float32), cam=np.ones((1, 3), np.float32))
    return truth


def test_folder_of_pixie_results(tmp_path):
    truth = _write_pixie_folder(tmp_path / "results")
    assert detect_format(tmp_path / "results") == "pixie"
    clip = read_motion(tmp_path / "results", fps=25.0)
    assert clip.num_frames == 5 and clip.fps == 25.0 and clip.meta.source_format == "pixie"
    assert clip.meta.extra["frames"] == [f"clip_frame{t}" for t in (0, 1, 2, 10, 11)]
    for t, (aa, d) in enumerate(truth):
        # PIXIE's camera frame is y down: the reader pre-multiplies by diag(1, -1, -1)
        y_up = np.diag([1.0, -1.0, -1.0]) @ d["global_pose"][0].astype(np.float64)
        np.testing.assert_allclose(Rotation.from_rotvec(clip.global_orient[t]).as_matrix(), y_up, atol=1e-5)
        np.testing.assert_allclose(clip.body_pose[t], aa["body_pose"], atol=1e-5)
        np.testing.assert_allclose(clip.jaw_pose[t], aa["jaw_pose"][0], atol=1e-5)
        np.testing.assert_allclose(clip.left_hand_pose[t], aa["left_hand_pose"], atol=1e-5)
        np.testing.assert_allclose(clip.expression[t], d["exp"], atol=1e-6)
    assert clip.betas.shape == (200,)
    assert np.all(clip.transl == 0)


def test_deca_face_replaces_pixie_face(tmp_path):
    _write_pixie_folder(tmp_path / "r", n=3, deca=True)
    clip = read_motion(tmp_path / "r")
    assert clip.fps == 30.0
    np.testing.assert_allclose(clip.expression[:, 0], [0.5, 1.5, 2.5])
    np.testing.assert_allclose(clip.jaw_pose[:, 0], 0.3)
    assert clip.meta.extra["face_from"] == "deca"


def test_single_param_pickle_and_convert_cli(tmp_path):
    _write_pixie_folder(tmp_path / "r", n=2)
    one = tmp_path / "r" / "clip_frame1" / "clip_frame1_param.pkl"
    assert read_motion(one).num_frames == 1
    out = tmp_path / "out.npz"
    assert main(["motion", "convert", str(tmp_path / "r"), str(out), "--from", "pixie"]) == 0
    back = read_motion(out)
    assert back.num_frames == 2 and back.meta.method == "pixie"


def test_stacked_npz_matrices_and_axis_angle(tmp_path):
    truth = _write_pixie_folder(tmp_path / "r", n=4)
    mats = {k: np.stack([d[k] for _, d in truth]) for k in ("global_pose", "body_pose", "jaw_pose",
                                                              "left_hand_pose", "right_hand_pose", "exp", "shape")}
    stacked = tmp_path / "stacked.npz"
    np.savez(stacked, **mats, fps=np.float32(24.0))
    assert detect_format(stacked) == "pixie"
    a = read_motion(stacked)
    assert a.fps == 24.0 and a.num_frames == 4
    aa = {k: np.stack([t[k] for t, _ in truth]) for k in ("global_pose", "body_pose", "jaw_pose",
                                                          "left_hand_pose", "right_hand_pose")}
    stacked_aa = tmp_path / "stacked_aa.npz"
    np.savez(stacked_aa, **aa, exp=mats["exp"], deca_exp=np.ones((4, 50), np.float32),
             deca_pose=np.zeros((4, 6), np.float32))
    b = read_motion(stacked_aa)
    np.testing.assert_allclose(a.body_pose, b.body_pose, atol=1e-5)
    assert np.all(b.expression == 1) and np.all(b.jaw_pose == 0)


def test_bad_pixie_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no PIXIE results"):
        read_motion(tmp_path / "empty", fmt="pixie")
    evil = tmp_path / "evil_param.pkl"
    evil.write_bytes(pickle.dumps({"x": __import__("os").getcwd}))  # refers to a function
    with pytest.raises(InputError, match="refusing to load"):
        read_motion(evil)
    partial = tmp_path / "p_param.pkl"
    partial.write_bytes(pickle.dumps({"global_pose": np.eye(3)[None]}))
    with pytest.raises(InputError, match="body_pose"):
        read_motion(partial)
    bad = tmp_path / "bad.npz"
    np.savez(bad, global_pose=np.zeros((3, 3, 3)), body_pose=np.zeros((3, 21, 3, 3)), jaw_pose=np.zeros((3, 3)),
             left_hand_pose=np.zeros((3, 15, 3)), right_hand_pose=np.zeros((3, 15, 3)), exp=np.zeros((3, 50)))
    with pytest.raises(InputError, match="not rotations"):
        read_motion(bad)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, global_pose=np.zeros((3, 3)), body_pose=np.zeros((3, 20, 3)), jaw_pose=np.zeros((3, 3)),
             left_hand_pose=np.zeros((3, 15, 3)), right_hand_pose=np.zeros((3, 15, 3)), exp=np.zeros((3, 50)))
    with pytest.raises(InputError, match="body_pose"):
        read_motion(wrong)
