"""Body models: loading, equality with smplx, the default body's landmarks and expressions."""
from __future__ import annotations

import io
import pickle
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch

from vr_study.body import EXPRESSION_NAMES, load_body_model
from vr_study.body.model import default_body_model_path
from vr_study.errors import InputError
from vr_study.motion import MotionClip

TOL_M = 1e-5


@pytest.fixture(scope="module")
def default_model():
    return load_body_model()


def _smplx(path: Path, E: int, B: int, T: int):
    import smplx

    with redirect_stdout(io.StringIO()):  # smplx prints a warning for short shapedirs
        return smplx.SMPLX(str(path), use_pca=False, flat_hand_mean=True, num_expression_coeffs=E,
                           num_betas=B, batch_size=T)


def _smplx_forward(ref, pose, transl, expr, betas):
    T = len(pose)
    t = lambda x: torch.tensor(np.ascontiguousarray(x), dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        out = ref(betas=t(np.broadcast_to(betas, (T, len(betas)))), global_orient=t(pose[:, 0]),
                  body_pose=t(pose[:, 1:22].reshape(T, -1)), jaw_pose=t(pose[:, 22]),
                  leye_pose=t(pose[:, 23]), reye_pose=t(pose[:, 24]),
                  left_hand_pose=t(pose[:, 25:40].reshape(T, -1)),
                  right_hand_pose=t(pose[:, 40:55].reshape(T, -1)), transl=t(transl), expression=t(expr))
    return out.vertices.numpy(), out.joints.numpy()[:, :55]


def _random_inputs(model, T, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.3, (T, 55, 3)), rng.normal(0, 0.2, (T, 3)),
            rng.normal(0, 1.0, (T, model.num_expression)), rng.normal(0, 1.0, model.num_betas))


def _check_equal(model, T=4, seed=0):
    pose, transl, expr, betas = _random_inputs(model, T, seed)
    ref_v, ref_j = _smplx_forward(_smplx(model.path, model.num_expression, model.num_betas, T),
                                  pose, transl, expr, betas)
    out = model.pose_batch(pose, transl, expr, betas)
    assert out.vertices.shape == (T, model.num_vertices, 3) and out.vertices.dtype == np.float32
    assert np.abs(out.vertices - ref_v).max() < TOL_M
    assert np.abs(out.joints - ref_j).max() < TOL_M
    for t in range(T):  # the real-time single-frame path
        v = model.pose_frame(pose[t], transl[t], expr[t], betas)
        assert np.abs(v - ref_v[t]).max() < TOL_M
    # the posing really moved things (the comparison is not trivially between rest poses)
    assert np.abs(out.vertices[0] - model.v_template).max() > 0.05


def _real_like_file(tmp_path: Path, default_model, short: bool = False, name="SMPLX_NEUTRAL.npz") -> Path:
    """An SMPL-X-layout file with full random shapedirs, non-zero posedirs, dense weights."""
    rng = np.random.default_rng(7)
    src = np.load(default_model.path)
    V = src["v_template"].shape[0]
    n_dirs = 20 if short else 400
    smooth = src["v_template"][:, :, None]  # spatially smooth random directions
    basis = np.concatenate([np.sin(smooth * k) for k in (3, 5, 7)], axis=1)  # (V, 9, 1)
    mix = rng.normal(0, 0.004, (9, 3, n_dirs))
    shapedirs = np.einsum("vk,kcd->vcd", basis[:, :, 0], mix).astype(np.float32)
    posedirs = np.einsum("vk,kcd->vcd", basis[:, :, 0], rng.normal(0, 0.002, (9, 3, 486))).astype(np.float32)
    W = src["weights"] + rng.uniform(0, 0.05, src["weights"].shape) * (src["weights"] > 0)
    W[:, :22] += rng.uniform(0, 0.01, (V, 22))  # dense: every vertex feels the body joints
    W /= W.sum(1, keepdims=True)
    q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    arrays = {k: src[k] for k in src.files}
    arrays.update(shapedirs=shapedirs, posedirs=posedirs, weights=W, hands_componentsl=q,
                  hands_componentsr=q[::-1].copy(), hands_meanl=rng.normal(0, 0.1, 45),
                  hands_meanr=rng.normal(0, 0.1, 45),
                  v_template=src["v_template"] + rng.normal(0, 0.001, (V, 3)))
    arrays.pop("expression_names", None)
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


# ------------------------------------------------------------------ loading

def test_default_model_is_smplx_shaped(default_model):
    m = default_model
    assert m.path == default_body_model_path()
    assert m.num_vertices == 10475 and m.faces.shape[1] == 3 and m.faces.dtype == np.int32
    assert m.parents.shape == (55,) and m.parents[0] == -1
    assert m.num_betas == 10 and m.num_expression == len(EXPRESSION_NAMES) >= 10
    assert m.expression_names == EXPRESSION_NAMES
    left, right = m.hands_mean
    assert left.shape == right.shape == (15, 3)
    height = m.v_template[:, 1].max() - m.v_template[:, 1].min()
    assert 1.6 < height < 1.8
    assert np.abs(m.rest_joints()[0]).max() < 0.4  # pelvis near the origin, as in SMPL-X
    assert np.allclose(m.weights.sum(1), 1.0, atol=1e-5)


def test_smplx_loads_the_default_asset_unmodified(default_model):
    import smplx

    with redirect_stdout(io.StringIO()):
        model = smplx.create(str(default_model.path), model_type="smplx", use_face_contour=True,
                             num_expression_coeffs=default_model.num_expression)
    with torch.no_grad():
        out = model(return_verts=True)
    assert out.vertices.shape == (1, 10475, 3)
    assert torch.isfinite(out.joints).all()
    assert out.joints.shape[1] == 55 + 21 + 51 + 17  # joints, vertex joints, landmarks, contour


def test_env_var_and_folder(tmp_path, monkeypatch, default_model):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "SMPLX_MALE.npz").write_bytes(default_model.path.read_bytes())
    monkeypatch.setenv("VR_STUDY_SMPLX_DIR", str(folder))
    m = load_body_model(gender="male")
    assert m.path == folder / "SMPLX_MALE.npz"
    with pytest.raises(InputError, match="SMPLX_NEUTRAL"):
        load_body_model()


# ------------------------------------------------------------------ equality with smplx

def test_equal_to_smplx_on_the_default_body(default_model):
    _check_equal(default_model, T=3)


def test_equal_to_smplx_on_a_real_like_model(tmp_path, default_model):
    m = load_body_model(_real_like_file(tmp_path, default_model))
    assert m.posedirs is not None and m.num_betas == 300 and m.num_expression == 100
    _check_equal(m, T=3, seed=1)


def test_equal_to_smplx_on_a_short_real_like_model_and_pickle(tmp_path, default_model):
    path = _real_like_file(tmp_path, default_model, short=True)
    m = load_body_model(path)
    assert m.num_betas == 10 and m.num_expression == 10
    _check_equal(m, T=2, seed=2)
    pkl = tmp_path / "SMPLX_FEMALE.pkl"
    with open(pkl, "wb") as fh:
        pickle.dump({k: v for k, v in np.load(path).items()}, fh)
    m2 = load_body_model(tmp_path, gender="female")
    assert m2.path == pkl
    pose, transl, expr, betas = _random_inputs(m, 1, 3)
    assert np.abs(m2.pose_frame(pose[0], transl[0], expr[0], betas)
                  - m.pose_frame(pose[0], transl[0], expr[0], betas)).max() < TOL_M


def test_pose_clip_pads_and_truncates(default_model):
    m = default_model
    clip = MotionClip.zeros(5, fps=30.0, num_expression=100, num_betas=300)
    rng = np.random.default_rng(3)
    clip.body_pose[:] = rng.normal(0, 0.2, clip.body_pose.shape)
    clip.expression[:, :20] = rng.normal(0, 1, (5, 20))
    clip.transl[:] = rng.normal(0, 0.1, (5, 3))
    out = m.pose_clip(clip)
    ref = m.pose_batch(clip.full_pose(), clip.transl, clip.expression[:, :m.num_expression])
    assert out.vertices.shape == (5, 10475, 3) and out.joints.shape == (5, 55, 3)
    assert np.abs(out.vertices - ref.vertices).max() < 1e-6
    short = clip.replace(expression=clip.expression[:, :3])
    part = m.pose_clip(short, frames=slice(1, 3))
    ref3 = m.pose_batch(clip.full_pose()[1:3], clip.transl[1:3], clip.expression[1:3, :3])
    assert part.vertices.shape[0] == 2 and np.abs(part.vertices - ref3.vertices).max() < 1e-6


# ------------------------------------------------------------------ the default body's anatomy

def test_smplx_vertex_ids_land_on_their_body_parts(default_model):
    from smplx.vertex_ids import vertex_ids

    ids = vertex_ids["smplx"]
    v = default_model.v_template
    J = default_model.rest_joints()
    head = J[15]
    nose = v[ids["nose"]]
    assert nose[2] > v[default_model.regions["head"], 2].max() - 0.005  # the front-most head point
    assert abs(nose[0]) < 0.01 and J[12, 1] < nose[1] < v[:, 1].max()
    for side, sx, eye_joint in (("l", 1, 23), ("r", -1, 24)):
        eye = v[ids[f"{side}eye"]]
        assert np.linalg.norm(eye - J[eye_joint]) < 0.02 and np.sign(eye[0]) == sx
        assert abs(eye[1] - J[eye_joint, 1]) < 0.01 and eye[1] > nose[1]
        ear = v[ids[f"{side}ear"]]
        assert np.sign(ear[0]) == sx and abs(ear[0]) > 0.06 and abs(ear[1] - head[1]) < 0.1
        base = 25 if side == "l" else 40
        first = {"index": 0, "middle": 3, "pinky": 6, "ring": 9, "thumb": 12}
        for finger, k in first.items():
            tip = v[ids[f"{side}{finger}"]]
            j2, j3 = J[base + k + 1], J[base + k + 2]
            along = (tip - j3) @ (j3 - j2) / np.linalg.norm(j3 - j2)
            # beyond the last knuckle along its finger, and not on a neighbouring finger
            assert 0.01 < along < 0.035, (finger, along)
            others = [J[base + kk + 2] for ff, kk in first.items() if ff != finger]
            assert np.linalg.norm(tip - j3) < min(np.linalg.norm(tip - o) for o in others)
        S = side.upper()
        big, small, heel = v[ids[f"{S}BigToe"]], v[ids[f"{S}SmallToe"]], v[ids[f"{S}Heel"]]
        ankle = J[7 if side == "l" else 8]
        assert big[2] > ankle[2] + 0.1 and small[2] > ankle[2] + 0.08 and heel[2] < ankle[2] - 0.02
        assert abs(big[0]) < abs(small[0])  # the big toe is on the inside
        for p in (big, small, heel):
            assert p[1] < ankle[1] and np.sign(p[0]) == sx


def test_regions(default_model):
    r = default_model.regions
    v = default_model.v_template
    for name in ("head", "face", "mouth", "jaw", "left_eye", "right_eye", "left_hand", "right_hand"):
        assert len(r[name]) > 20, name
    assert set(r["mouth"]) <= set(r["head"]) and set(r["face"]) <= set(r["head"])
    assert v[r["left_hand"], 0].min() > 0.6 and v[r["right_hand"], 0].max() < -0.6
    assert v[r["head"], 1].min() > 0.1


def _expression_vertices(model, name, amount=1.0):
    e = np.zeros(model.num_expression)
    e[EXPRESSION_NAMES.index(name)] = amount
    return model.pose_frame(np.zeros((55, 3)), None, e)


def test_each_expression_moves_only_the_face(default_model):
    m = default_model
    rest = m.pose_frame(np.zeros((55, 3)))
    face = np.zeros(m.num_vertices, bool)
    face[m.regions["face"]] = True
    below_neck = m.v_template[:, 1] < m.rest_joints()[12, 1]
    for name in EXPRESSION_NAMES:
        d = np.linalg.norm(_expression_vertices(m, name) - rest, axis=1)
        assert d[face].max() > 0.0015, f"{name} barely moves the face"
        assert d[below_neck].max() < 1e-4, f"{name} moves the body"


def test_expressions_do_what_their_names_say(default_model):
    m = default_model
    rest = m.pose_frame(np.zeros((55, 3)))
    lm = lambda v: m.landmarks(v[None])[0]  # noqa: E731 - FLAME landmark order
    L0 = lm(rest)
    corners = [31, 37]  # right and left mouth corners
    upper_lip, lower_lip = 34, 40

    def moved(name):
        return lm(_expression_vertices(m, name)) - L0

    d = moved("smile")
    assert (d[corners, 1] > 0.003).all()  # corners up
    assert d[31, 0] < 0 < d[37, 0]  # and out
    d = moved("frown")
    assert (d[corners, 1] < -0.003).all()
    d = moved("mouth_open")
    assert d[lower_lip, 1] < -0.005 and abs(d[upper_lip, 1]) < 0.002
    d = moved("brows_up")
    assert (d[0:10, 1] > 0.002).all()
    d = moved("brows_down")
    assert (d[[4, 5], 1] < -0.002).all()
    d = moved("eye_squint")
    lower_lids, upper_lids = [23, 24, 29, 30], [20, 21, 26, 27]
    assert (d[lower_lids, 1] > 0.001).all() and (d[upper_lids, 1] < 0).all()
    d = moved("cheek_raise")
    cheeks = [np.argmin(np.linalg.norm(rest - p, axis=1)) for p in ((0.04, 0.255, 0.09), (-0.04, 0.255, 0.09))]
    diff = _expression_vertices(m, "cheek_raise") - rest
    assert (diff[cheeks, 1] > 0.002).all()


def test_jaw_joint_opens_the_mouth(default_model):
    m = default_model
    pose = np.zeros((55, 3))
    L0 = m.landmarks(m.pose_frame(pose)[None])[0]
    pose[22, 0] = 0.3  # jaw rotation about x, radians
    L1 = m.landmarks(m.pose_frame(pose)[None])[0]
    gap0 = L0[34, 1] - L0[40, 1]
    gap1 = L1[34, 1] - L1[40, 1]
    assert gap1 - gap0 > 0.01  # lips part by more than a centimetre
    assert np.abs(L1[:10] - L0[:10]).max() < 1e-4  # brows stay


def test_hand_pca_basis(default_model):
    src = np.load(default_model.path)
    for side in "lr":
        c = src[f"hands_components{side}"]
        assert c.shape == (45, 45)
        assert np.allclose(c @ c.T, np.eye(45), atol=1e-6)
    # component 0 closes the left hand: finger tips go down towards the palm side (-Y)
    from smplx.vertex_ids import vertex_ids

    pose = np.zeros((55, 3))
    pose[25:40] = src["hands_componentsl"][0].reshape(15, 3) * 1.5
    v = default_model.pose_frame(pose)
    tip = vertex_ids["smplx"]["lmiddle"]
    assert v[tip, 1] < default_model.v_template[tip, 1] - 0.03


# ------------------------------------------------------------------ bad files

@pytest.mark.parametrize("problem, match", [
    ("missing_key", "J_regressor"),
    ("bad_shape", "weights"),
    ("nan", "NaN"),
    ("object", "pickle"),
    ("not_zip", "readable"),
    ("bad_faces", "'f'"),
])
def test_bad_model_files(tmp_path, default_model, problem, match):
    src = dict(np.load(default_model.path))
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    if problem == "missing_key":
        src.pop("J_regressor")
    elif problem == "bad_shape":
        src["weights"] = src["weights"][:, :50]
    elif problem == "nan":
        src["v_template"] = src["v_template"].copy()
        src["v_template"][5, 1] = np.nan
    elif problem == "object":
        src["shapedirs"] = np.array([{"a": 1}], dtype=object)
    elif problem == "bad_faces":
        src["f"] = src["f"].astype(np.int64) + 10475
    if problem == "not_zip":
        path.write_bytes(b"this is not a model")
    else:
        np.savez(path, **src, allow_pickle=True) if problem == "object" else np.savez(path, **src)
    with pytest.raises(InputError, match=match) as exc:
        load_body_model(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_missing_paths_and_unknown_extensions(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_body_model(tmp_path / "nope.npz")
    with pytest.raises(InputError, match="SMPLX_NEUTRAL"):
        load_body_model(tmp_path)
    (tmp_path / "model.obj").write_text("v 0 0 0\n")
    with pytest.raises(InputError, match="extension"):
        load_body_model(tmp_path / "model.obj")
    (tmp_path / "SMPLX_MALE.pkl").write_bytes(b"cchumpy.ch\nCh\nq\x00)\x81q\x01.")
    with pytest.raises(InputError, match="chumpy|unpickle|pickle"):
        load_body_model(tmp_path / "SMPLX_MALE.pkl")


def test_cli_info_and_bad_input(tmp_path):
    exe = [sys.executable, "-m", "vr_study.cli"]
    ok = subprocess.run(exe + ["body", "info", "--json"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    import json

    info = json.loads(ok.stdout.strip().splitlines()[-1])
    assert info["vertices"] == 10475 and info["expression"] == len(EXPRESSION_NAMES)
    bad = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(bad, v_template=np.zeros((10, 3)))
    r = subprocess.run(exe + ["body", "info", str(bad)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "error:" in r.stderr and "'f'" in r.stderr
    assert "Traceback" not in r.stderr


def test_default_body_has_materials_as_vertex_colours(default_model):
    """Skin, red lips, a dark pupil in a white eye, dark hair and a blue shirt."""
    m = default_model
    c, v = m.vertex_colors, m.v_template
    assert c.shape == (m.num_vertices, 3) and c.dtype == np.float32 and c.min() >= 0 and c.max() <= 1
    nose = c[9120]  # smplx's nose-tip id: skin
    assert nose[0] > nose[1] > nose[2]
    for pupil_id, side in ((9929, "left_eye"), (9448, "right_eye")):
        assert c[pupil_id].max() < 0.1  # the pupil is black
        eye = c[m.regions[side]]
        assert (eye.min(axis=1) > 0.7).mean() > 0.5  # mostly white sclera
    lips = (np.abs(v[:, 0]) < 0.01) & (np.abs(v[:, 1] - 0.2072 - 0.005) < 0.002) & (v[:, 2] > 0.08)
    assert lips.any() and (c[lips, 0] > 1.8 * c[lips, 1]).all()  # red
    top = v[:, 1] > 0.39
    assert c[top].max() < 0.2  # hair
    chest = (np.abs(v[:, 0]) < 0.05) & (np.abs(v[:, 1]) < 0.05) & (v[:, 2] > 0.05)
    assert (c[chest, 2] > c[chest, 0] + 0.2).all()  # blue shirt


def test_bad_vertex_colours_are_refused(default_model, tmp_path):
    arrays = dict(np.load(default_model.path))
    arrays["vertex_colors"] = arrays["vertex_colors"][:10] * 255
    bad = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(bad, **arrays)
    with pytest.raises(InputError, match="vertex_colors"):
        load_body_model(bad)
