"""The SMPL-X 55-joint skeleton: names, parents, and the default body's rest joints.

Joint order and parents are SMPL-X's (``smplx.joint_names.JOINT_NAMES[:55]``): pelvis, 21
body joints, jaw, left eye, right eye, 15 left-hand joints, 15 right-hand joints. Each hand
lists index, middle, pinky, ring, thumb (3 joints each, from the knuckle outwards).

Coordinates are SMPL-X's: metres, Y up, the body faces +Z, the subject's left is +X, and
the pelvis joint sits near the origin (the feet are about 1.3 m below it).
"""
from __future__ import annotations

import numpy as np

NUM_JOINTS = 55

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw", "left_eye", "right_eye",
    "left_index1", "left_index2", "left_index3", "left_middle1", "left_middle2",
    "left_middle3", "left_pinky1", "left_pinky2", "left_pinky3", "left_ring1", "left_ring2",
    "left_ring3", "left_thumb1", "left_thumb2", "left_thumb3",
    "right_index1", "right_index2", "right_index3", "right_middle1", "right_middle2",
    "right_middle3", "right_pinky1", "right_pinky2", "right_pinky3", "right_ring1",
    "right_ring2", "right_ring3", "right_thumb1", "right_thumb2", "right_thumb3",
)

#: Parent of each joint (-1 for the pelvis), SMPL-X's kinematic tree.
PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
     20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
     21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53], dtype=np.int64)

JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}

#: Finger names in SMPL-X's hand joint order.
FINGERS = ("index", "middle", "pinky", "ring", "thumb")

FLOOR_Y_M = -1.30  # the soles of the default body's feet, metres


def _hand(side: float) -> dict[str, np.ndarray]:
    """Rest joints of one hand (side = +1 left, -1 right), plus each finger's tip point."""
    s = side
    out: dict[str, np.ndarray] = {}
    # knuckle x (along the arm), z (thumb side is +Z), and phalanx lengths in metres
    fingers = {
        "index": (0.792, 0.026, (0.038, 0.024, 0.022)),
        "middle": (0.797, 0.006, (0.042, 0.027, 0.024)),
        "ring": (0.792, -0.014, (0.039, 0.025, 0.022)),
        "pinky": (0.783, -0.032, (0.030, 0.019, 0.019)),
    }
    y = 0.088
    for name, (x0, z0, lengths) in fingers.items():
        # fingers fan out slightly from the middle finger
        spread = {"index": 0.10, "middle": 0.0, "ring": -0.10, "pinky": -0.20}[name]
        d = np.array([np.cos(spread) * s, -0.02, np.sin(spread)])
        d /= np.linalg.norm(d)
        p = np.array([x0 * s, y, z0])
        pts = [p]
        for L in lengths:
            p = p + d * L
            pts.append(p)
        for k in range(3):
            out[f"{name}{k + 1}"] = pts[k]
        out[f"{name}_tip"] = pts[3]
    t1 = np.array([0.722 * s, 0.078, 0.024])
    t2 = np.array([0.752 * s, 0.070, 0.048])
    t3 = np.array([0.779 * s, 0.066, 0.064])
    tip = np.array([0.806 * s, 0.063, 0.077])
    out.update(thumb1=t1, thumb2=t2, thumb3=t3, thumb_tip=tip)
    return out


def default_rest_joints() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rest (T-pose) joint positions (55, 3) of the default body, metres, and named extra points.

    The extra points are bone ends that are not joints (finger tips, toe tips, head top)
    and face landmarks used to build the mesh.
    """
    J = {}
    J["pelvis"] = (0.0, -0.355, 0.010)
    J["left_hip"] = (0.075, -0.445, -0.005)
    J["left_knee"] = (0.100, -0.820, -0.010)
    J["left_ankle"] = (0.090, -1.215, -0.050)
    J["left_foot"] = (0.112, -1.272, 0.080)
    J["spine1"] = (0.0, -0.240, -0.012)
    J["spine2"] = (0.0, -0.105, -0.010)
    J["spine3"] = (0.0, -0.050, 0.010)
    J["neck"] = (0.0, 0.135, -0.020)
    J["left_collar"] = (0.075, 0.100, -0.010)
    J["head"] = (0.0, 0.235, 0.005)
    J["left_shoulder"] = (0.180, 0.098, -0.025)
    J["left_elbow"] = (0.440, 0.092, -0.035)
    J["left_wrist"] = (0.695, 0.088, -0.030)
    J["jaw"] = (0.0, 0.245, 0.030)
    J["left_eye"] = (0.032, 0.292, 0.078)
    joints = np.zeros((NUM_JOINTS, 3))
    extras: dict[str, np.ndarray] = {}
    for name, p in J.items():
        p = np.asarray(p, dtype=np.float64)
        joints[JOINT_INDEX[name]] = p
        if name.startswith("left_"):
            joints[JOINT_INDEX["right_" + name[5:]]] = p * np.array([-1.0, 1.0, 1.0])
    for side, prefix in ((1.0, "left_"), (-1.0, "right_")):
        hand = _hand(side)
        for name, p in hand.items():
            if name.endswith("_tip"):
                extras[prefix + name] = p
            else:
                joints[JOINT_INDEX[prefix + name]] = p
        extras[prefix + "toe_tip"] = np.array([0.118 * side, -1.280, 0.165])
        extras[prefix + "heel"] = np.array([0.088 * side, -1.285, -0.095])
    extras["head_top"] = np.array([0.0, 0.405, 0.0])
    extras["nose_tip"] = np.array([0.0, 0.252, 0.118])
    extras["mouth"] = np.array([0.0, 0.207, 0.094])
    extras["chin"] = np.array([0.0, 0.168, 0.080])
    return joints, extras
