"""Fitting SMPL-X to landmarks: known poses projected into MediaPipe-style landmarks and recovered.

The body model here is a small SMPL-X-layout file built by the test (human-like joint
positions, vertices at the keypoints smplx reads), loaded by unmodified ``smplx``; the
landmarks are made with ``smplx``'s own forward pass, so the fit's keypoint model is
checked against smplx as well.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from generators.reconstruction import correspondence as C
from generators.reconstruction.fit import FitOptions, fit_landmarks, result_to_clip
from generators.reconstruction.keypoints import KeypointModel, load_smplx
from generators.reconstruction.landmarks import Landmarks
from generators.reconstruction.limits import LOWER_RAD, UPPER_RAD, within_limits

# approximate SMPL-X rest joints (metres, y up, facing +z); left = +x
_REST = {
    0: (0, 0, 0), 1: (0.06, -0.09, 0), 2: (-0.06, -0.09, 0), 3: (0, 0.11, -0.01),
    4: (0.11, -0.47, 0), 5: (-0.11, -0.47, 0), 6: (0, 0.24, 0), 7: (0.07, -0.87, -0.04),
    8: (-0.07, -0.87, -0.04), 9: (0, 0.30, 0.02), 10: (0.12, -0.93, 0.08), 11: (-0.12, -0.93, 0.08),
    12: (0, 0.52, -0.01), 13: (0.07, 0.42, 0), 14: (-0.07, 0.42, 0), 15: (0, 0.61, 0.03),
    16: (0.17, 0.45, -0.01), 17: (-0.17, 0.45, -0.01), 18: (0.43, 0.43, -0.03), 19: (-0.43, 0.43, -0.03),
    20: (0.69, 0.44, -0.03), 21: (-0.69, 0.44, -0.03), 22: (0, 0.57, 0.05), 23: (0.03, 0.66, 0.08),
    24: (-0.03, 0.66, 0.08),
}
# hand joints relative to the left wrist: index, middle, pinky, ring (3 each), thumb (3)
_FINGERS = {"index": (0.09, 0.03), "middle": (0.095, 0.005), "pinky": (0.075, -0.045), "ring": (0.09, -0.02)}
_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15]


def _hand_joints(sign: float) -> list[tuple[float, float, float]]:
    wx, wy, wz = _REST[20]
    out = []
    for name in ("index", "middle", "pinky", "ring"):
        dx, dz = _FINGERS[name]
        for k in range(3):
            out.append((sign * (abs(wx) + dx + 0.03 * k), wy, wz + dz))
    for k in range(3):
        out.append((sign * (abs(wx) + 0.025 + 0.025 * k), wy - 0.01 - 0.005 * k, wz + 0.025 + 0.02 * k))
    return out


def build_test_model(path: Path, num_expression: int = 10) -> Path:
    """Write an SMPL-X-layout .npz (10475 vertices) whose skeleton is human-like."""
    from smplx.vertex_ids import vertex_ids

    rng = np.random.default_rng(0)
    joints = np.zeros((55, 3))
    for j, p in _REST.items():
        joints[j] = p
    joints[25:40] = _hand_joints(1.0)
    joints[40:55] = _hand_joints(-1.0)
    parents = list(_PARENTS)
    for base, wrist in ((25, 20), (40, 21)):
        for f in range(5):
            for k in range(3):
                parents.append(wrist if k == 0 else base + 3 * f + k - 1)
    V = 10475
    owner = rng.integers(0, 55, V)
    verts = joints[owner] + rng.normal(0, 0.01, (V, 3))
    weights = np.zeros((V, 55))
    weights[np.arange(V), owner] = 1.0
    vid = vertex_ids["smplx"]
    special = {  # vertex keypoint -> (position, owning joint)
        "nose": ((0, 0.64, 0.12), 15), "reye": ((-0.03, 0.67, 0.09), 15), "leye": ((0.03, 0.67, 0.09), 15),
        "rear": ((-0.075, 0.64, 0.0), 15), "lear": ((0.075, 0.64, 0.0), 15),
        "LBigToe": ((0.1, -0.95, 0.17), 10), "LSmallToe": ((0.15, -0.95, 0.14), 10), "LHeel": ((0.07, -0.95, -0.08), 7),
        "RBigToe": ((-0.1, -0.95, 0.17), 11), "RSmallToe": ((-0.15, -0.95, 0.14), 11), "RHeel": ((-0.07, -0.95, -0.08), 8),
    }
    tip_base = {"thumb": 37, "index": 27, "middle": 30, "ring": 36, "pinky": 33}
    for side, sign, off in (("l", 1.0, 0), ("r", -1.0, 15)):
        for name, last in tip_base.items():
            j = last + off
            special[side + name] = (tuple(joints[j] + np.array([sign * 0.025, 0, 0])), j)
    for name, (pos, j) in special.items():
        verts[vid[name]] = pos
        weights[vid[name]] = 0
        weights[vid[name], j] = 1
    # 51 face landmarks: small triangles on the face, lower lip ones follow the jaw
    lmk_verts = np.arange(200, 200 + 51 * 3).reshape(51, 3)
    ys = np.linspace(0.70, 0.55, 51)
    xs = 0.035 * np.sin(np.arange(51) * 0.9)
    for i in range(51):
        base_pos = np.array([xs[i], ys[i], 0.10])
        owner_j = 22 if i >= 40 else 15
        for k in range(3):
            v = lmk_verts[i, k]
            verts[v] = base_pos + 0.002 * np.array([k == 1, k == 2, 0])
            weights[v] = 0
            weights[v, owner_j] = 1
    faces = np.concatenate([lmk_verts, rng.integers(0, V, (2000, 3))]).astype(np.int64)
    # joints regressed exactly: one vertex per joint placed on it
    jreg = np.zeros((55, V))
    for j in range(55):
        v = 1000 + j
        verts[v] = joints[j]
        jreg[j, v] = 1.0
    shapedirs = np.zeros((V, 3, 10 + num_expression))
    shapedirs[:, 1, 0] = verts[:, 1] * 0.05  # beta 0: taller
    for e in range(num_expression):  # expressions move the mouth landmarks
        shapedirs[lmk_verts[40:].ravel(), (e % 3), 10 + e] = 0.01 * (1 + e % 2)
    np.savez_compressed(
        path, v_template=verts.astype(np.float32), f=faces, shapedirs=shapedirs.astype(np.float32),
        posedirs=np.zeros((V, 3, 486), np.float32), J_regressor=jreg.astype(np.float32),
        weights=weights.astype(np.float32), kintree_table=np.stack([np.array(parents), np.arange(55)]).astype(np.int64),
        hands_componentsl=np.eye(45, dtype=np.float32), hands_componentsr=np.eye(45, dtype=np.float32),
        hands_meanl=np.zeros(45, np.float32), hands_meanr=np.zeros(45, np.float32),
        lmk_faces_idx=np.arange(51, dtype=np.int64), lmk_bary_coords=np.full((51, 3), 1 / 3, np.float32))
    return path


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    path = build_test_model(tmp_path_factory.mktemp("body") / "SMPLX_NEUTRAL.npz")
    return load_smplx(path)


def random_poses(T: int, seed: int = 0) -> np.ndarray:
    """(T,55,3) smooth, plausible poses inside the joint limits (radians)."""
    rng = np.random.default_rng(seed)
    lo, hi = LOWER_RAD.astype(np.float64), UPPER_RAD.astype(np.float64)
    span = np.minimum(hi - lo, 2.0)
    centre = np.clip(0.0, lo, hi)
    t = np.linspace(0, 1, T)[:, None, None]
    a = rng.uniform(-0.35, 0.35, (1, 55, 3)) * span
    b = rng.uniform(-0.2, 0.2, (1, 55, 3)) * span
    pose = centre + a + b * np.sin(2 * np.pi * t + rng.uniform(0, 6, (1, 55, 3)))
    pose[:, [1, 2, 4, 5, 7, 8, 10, 11]] *= 0.4          # legs move little
    pose[:, 16, 2] = -1.0 + 0.3 * np.sin(2 * np.pi * t[:, 0, 0])   # arms down-ish, not T-pose
    pose[:, 17, 2] = 1.0 - 0.3 * np.cos(2 * np.pi * t[:, 0, 0])
    # twists about a limb's own axis are barely visible in landmarks: keep them human-small
    pose[:, [16, 17, 18, 19], 0] *= 0.3
    pose[:, [18, 19], 2] *= 0.3
    pose[:, 0] = [0.1, 0.3, 0.05]                        # turned slightly to one side
    pose[:, 23:25] = 0                                   # eyes are not observed
    return np.clip(pose, lo, hi).astype(np.float32)


def synthetic_landmarks(body, pose: np.ndarray, expr: np.ndarray, scale: float = 0.6,
                        offset=(0.5, 0.5), H: int = 480, W: int = 640) -> tuple[Landmarks, np.ndarray]:
    """Project smplx keypoints of known poses into MediaPipe-style landmarks (+ return them)."""
    T = pose.shape[0]
    with torch.no_grad():
        out = body(global_orient=torch.from_numpy(pose[:, 0]), body_pose=torch.from_numpy(pose[:, 1:22].reshape(T, -1)),
                   jaw_pose=torch.from_numpy(pose[:, 22]), leye_pose=torch.from_numpy(pose[:, 23]),
                   reye_pose=torch.from_numpy(pose[:, 24]),
                   left_hand_pose=torch.from_numpy(pose[:, 25:40].reshape(T, -1)),
                   right_hand_pose=torch.from_numpy(pose[:, 40:55].reshape(T, -1)),
                   expression=torch.from_numpy(expr), betas=torch.zeros(T, 10))
    kp = out.joints.numpy().astype(np.float64)
    cam = kp * np.array([1.0, -1.0, -1.0])
    img = (scale * cam[..., :2] + np.array(offset)) * H
    lm = Landmarks.empty(T, 30.0, W, H)
    lm.pose_xy[:, C.POSE_MP] = img[:, C.POSE_SMPLX]
    lm.pose_vis[:, C.POSE_MP] = 0.99
    hips = (cam[:, 1] + cam[:, 2]) / 2
    lm.pose_world[:, C.POSE_MP] = cam[:, C.POSE_SMPLX]
    lm.pose_world[:, 23] = cam[:, 1]
    lm.pose_world[:, 24] = cam[:, 2]
    lm.pose_world[:, 11] = cam[:, 16]
    lm.pose_world[:, 12] = cam[:, 17]
    lm.pose_world -= hips[:, None]
    lm.pose_ok[:] = True
    for arr, ok, idx in ((lm.left_hand, lm.left_ok, C.LEFT_HAND_SMPLX), (lm.right_hand, lm.right_ok, C.RIGHT_HAND_SMPLX)):
        arr[..., :2] = img[:, idx]
        arr[..., 2] = scale * cam[:, idx, 2] * H
        ok[:] = True
    lm.face_xy[:] = img[:, C.FACE_SMPLX]
    lm.face_ok[:] = True
    return lm, kp


def geodesic_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (degrees) of the rotation between axis-angle arrays a and b (..., 3)."""
    from scipy.spatial.transform import Rotation

    ra = Rotation.from_rotvec(a.reshape(-1, 3))
    rb = Rotation.from_rotvec(b.reshape(-1, 3))
    return np.degrees((ra.inv() * rb).magnitude()).reshape(a.shape[:-1])


JOINT_NAMES = ["pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
               "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
               "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw"]


def test_keypoint_model_equals_smplx(body):
    pose = random_poses(6, seed=3)
    kpm = KeypointModel.from_smplx(body)
    lm, kp = synthetic_landmarks(body, pose, np.zeros((6, 10), np.float32))
    ours = kpm.keypoints(torch.from_numpy(pose), torch.zeros(6, 10)).numpy()
    assert np.abs(ours - kp).max() < 1e-5


def test_fit_recovers_known_poses(body, capsys):
    T = 24
    pose = random_poses(T, seed=1)
    expr = np.zeros((T, 10), np.float32)
    lm, kp = synthetic_landmarks(body, pose, expr)
    kpm = KeypointModel.from_smplx(body)
    fit = fit_landmarks(kpm, lm, FitOptions(iterations=400))
    err = geodesic_deg(fit.full_pose, pose)                     # (T,55)
    per_joint = np.median(err, axis=0)
    hand_err = float(np.median(err[:, 25:]))
    with capsys.disabled():
        print("\nper-joint median rotation error (degrees):")
        print("  " + ", ".join(f"{n} {per_joint[j]:.1f}" for j, n in enumerate(JOINT_NAMES)))
        print(f"  hand joints (30) median {hand_err:.1f}")
    # keypoints land where the landmarks put them
    fitted_kp = kpm.keypoints(torch.from_numpy(fit.full_pose), torch.from_numpy(fit.expression)).numpy()
    used = np.concatenate([C.POSE_SMPLX, C.LEFT_HAND_SMPLX, C.RIGHT_HAND_SMPLX])
    rel = lambda k: k[:, used] - k[:, :1]  # noqa: E731
    kp_err = np.linalg.norm(rel(fitted_kp) - rel(kp), axis=-1)
    with capsys.disabled():
        print(f"  keypoints (63 observed) median error {1000 * np.median(kp_err):.1f} mm")
    assert np.median(kp_err) < 0.03  # metres
    # the legs and pelvis, which the landmarks pin down, come back within a few degrees; arms
    # within the twist ambiguity of a shoulder-elbow-wrist chain; fingers roughly
    for joints, limit_deg in (((0, 1, 2, 4, 5), 10.0), ((16, 17, 18, 19, 20, 21), 25.0)):
        for j in joints:
            assert per_joint[j] < limit_deg, (JOINT_NAMES[j], per_joint[j])
    assert hand_err < 30.0
    assert within_limits(fit.full_pose).all()
    clip = result_to_clip(fit, 30.0, method="reconstruction")
    clip.validate()
    assert clip.num_frames == T
