"""The default body's implicit shape: a smooth union of ellipsoids, tapered capsules and boxes.

Each primitive names the joints whose bones it may be skinned to. Positions come from
:func:`vr_study.body.skeleton.default_rest_joints` (metres, Y up, facing +Z).
"""
from __future__ import annotations

import numpy as np

from vr_study.body.sdf import Primitive
from vr_study.body.skeleton import FINGERS, JOINT_INDEX as JI

EYEBALL_RADIUS_M = 0.0118
MOUTH_HALF_WIDTH_M = 0.024


def _t(p) -> tuple[float, float, float]:
    return tuple(float(x) for x in p)


def _rot_y(angle: float) -> tuple[tuple[float, float, float], ...]:
    c, s = np.cos(angle), np.sin(angle)
    return ((c, 0.0, s), (0.0, 1.0, 0.0), (-s, 0.0, c))


def body_primitives(J: np.ndarray, extras: dict[str, np.ndarray]) -> list[Primitive]:
    """The ordered primitive list of the default body (subtractions come last)."""
    P: list[Primitive] = []
    torso = (0, 3, 6, 9, 13, 14, 1, 2)
    # --- torso
    P.append(Primitive("pelvis", "ellipsoid", (0.0, -0.405, -0.005), r=(0.150, 0.115, 0.105),
                       blend_m=0.0, bones=torso))
    P.append(Primitive("abdomen", "ellipsoid", (0.0, -0.225, 0.005), r=(0.135, 0.14, 0.098),
                       blend_m=0.10, bones=torso))
    P.append(Primitive("chest", "ellipsoid", (0.0, -0.03, -0.005), r=(0.150, 0.155, 0.105),
                       blend_m=0.06, bones=torso))
    P.append(Primitive("shoulder_girdle", "capsule", (-0.165, 0.085, -0.025), (0.165, 0.085, -0.025),
                       ra=0.052, rb=0.052, blend_m=0.07, bones=torso))
    for s in (1.0, -1.0):
        side = "left_" if s > 0 else "right_"
        P.append(Primitive(side + "pec", "ellipsoid", (0.068 * s, 0.005, 0.055), r=(0.075, 0.058, 0.05),
                           blend_m=0.04, bones=torso))
        P.append(Primitive(side + "glute", "ellipsoid", (0.072 * s, -0.455, -0.055), r=(0.088, 0.095, 0.075),
                           blend_m=0.04, bones=torso))
    # --- neck and head
    P.append(Primitive("neck", "capsule", (0.0, 0.08, -0.025), (0.0, 0.215, -0.005), ra=0.056, rb=0.048,
                       blend_m=0.04, bones=(9, 12, 15)))
    P.append(Primitive("cranium", "ellipsoid", (0.0, 0.305, 0.003), r=(0.076, 0.102, 0.097),
                       blend_m=0.03, bones=(15,)))
    P.append(Primitive("lower_face", "ellipsoid", (0.0, 0.228, 0.030), r=(0.060, 0.068, 0.068),
                       blend_m=0.035, bones=(15, 22)))
    P.append(Primitive("chin", "ellipsoid", (0.0, 0.183, 0.060), r=(0.026, 0.020, 0.023),
                       blend_m=0.025, bones=(22,)))
    P.append(Primitive("brow_ridge", "capsule", (-0.045, 0.312, 0.080), (0.045, 0.312, 0.080), ra=0.011,
                       rb=0.011, blend_m=0.02, bones=(15,)))
    P.append(Primitive("nose_bridge", "capsule", (0.0, 0.296, 0.088), (0.0, 0.258, 0.110), ra=0.0075,
                       rb=0.011, blend_m=0.014, bones=(15,)))
    P.append(Primitive("nose_tip", "ellipsoid", (0.0, 0.254, 0.107), r=(0.016, 0.012, 0.011),
                       blend_m=0.01, bones=(15,)))
    P.append(Primitive("upper_lip", "ellipsoid", (0.0, 0.2135, 0.087), r=(0.026, 0.0085, 0.011),
                       blend_m=0.01, bones=(15,)))
    P.append(Primitive("lower_lip", "ellipsoid", (0.0, 0.2005, 0.085), r=(0.023, 0.0085, 0.011),
                       blend_m=0.01, bones=(22,)))
    for s in (1.0, -1.0):
        side = "left_" if s > 0 else "right_"
        P.append(Primitive(side + "cheek", "ellipsoid", (0.040 * s, 0.257, 0.066), r=(0.026, 0.020, 0.022),
                           blend_m=0.02, bones=(15,)))
        P.append(Primitive(side + "ear", "ellipsoid", (0.077 * s, 0.287, -0.004), r=(0.011, 0.029, 0.018),
                           blend_m=0.008, bones=(15,)))
        # arms: deltoid, upper arm, forearm, palm, fingers
        sh, el, wr = J[JI[side + "shoulder"]], J[JI[side + "elbow"]], J[JI[side + "wrist"]]
        P.append(Primitive(side + "deltoid", "ellipsoid", _t(sh + np.array([0.012 * s, 0.008, 0.0])),
                           r=(0.06, 0.052, 0.052), blend_m=0.035, bones=(JI[side + "collar"], JI[side + "shoulder"])))
        P.append(Primitive(side + "upper_arm", "capsule", _t(sh), _t(el), ra=0.046, rb=0.036, blend_m=0.03,
                           bones=(JI[side + "shoulder"],)))
        P.append(Primitive(side + "forearm", "capsule", _t(el), _t(wr), ra=0.036, rb=0.025, blend_m=0.02,
                           bones=(JI[side + "elbow"], JI[side + "wrist"])))
        mid1 = J[JI[side + "middle1"]]
        palm_c = (wr + mid1) / 2 + np.array([0.0, -0.002, -0.001])
        P.append(Primitive(side + "palm", "box", _t(palm_c), r=(abs(mid1[0] - wr[0]) / 2 + 0.004, 0.013, 0.038),
                           ra=0.0125, blend_m=0.02, bones=(JI[side + "wrist"],)))
        for finger in FINGERS:
            names = [f"{side}{finger}{k}" for k in (1, 2, 3)]
            pts = [J[JI[n]] for n in names] + [extras[f"{side}{finger}_tip"]]
            base_r = {"thumb": 0.0105, "index": 0.0082, "middle": 0.0084, "ring": 0.0080, "pinky": 0.0072}[finger]
            for k in range(3):
                ra = base_r * (1.0 - 0.08 * k)
                rb = base_r * (1.0 - 0.08 * (k + 1))
                end = pts[k + 1] - (pts[k + 1] - pts[k]) / np.linalg.norm(pts[k + 1] - pts[k]) * (rb * 0.9 if k == 2 else 0.0)
                P.append(Primitive(f"{names[k]}", "capsule", _t(pts[k]), _t(end), ra=ra, rb=rb,
                                   blend_m=0.012 if (k == 0 and finger == "thumb") else (0.006 if k == 0 else 0.003),
                                   bones=(JI[names[k]],) if k else (JI[names[k]], JI[side + "wrist"])))
        # legs
        hip, knee, ank = J[JI[side + "hip"]], J[JI[side + "knee"]], J[JI[side + "ankle"]]
        P.append(Primitive(side + "thigh", "capsule", _t(hip + np.array([0.005 * s, 0.02, 0.0])), _t(knee),
                           ra=0.088, rb=0.054, blend_m=0.05, bones=(JI[side + "hip"], 0)))
        P.append(Primitive(side + "shin", "capsule", _t(knee), _t(ank), ra=0.053, rb=0.036, blend_m=0.03,
                           bones=(JI[side + "knee"],)))
        P.append(Primitive(side + "calf", "ellipsoid", _t(knee + (ank - knee) * 0.3 + np.array([0.0, 0.0, -0.018])),
                           r=(0.045, 0.09, 0.045), blend_m=0.03, bones=(JI[side + "knee"],)))
        heel, toe = extras[side + "heel"], extras[side + "toe_tip"]
        foot = J[JI[side + "foot"]]
        P.append(Primitive(side + "heel", "ellipsoid", _t(heel + np.array([0.0, 0.035, 0.03])),
                           r=(0.034, 0.04, 0.045), blend_m=0.03, bones=(JI[side + "ankle"],)))
        P.append(Primitive(side + "foot", "ellipsoid", _t((heel + foot) / 2 + np.array([0.0, 0.025, 0.02])),
                           r=(0.042, 0.035, 0.11), rot=_rot_y(0.13 * s), blend_m=0.03, bones=(JI[side + "ankle"],)))
        P.append(Primitive(side + "toes", "ellipsoid", _t((foot + toe) / 2 + np.array([0.0, 0.005, -0.005])),
                           r=(0.045, 0.018, 0.05), blend_m=0.02, bones=(JI[side + "foot"],)))
    # --- carved: eye sockets (the eyeballs are separate meshes) and the mouth slit
    for s in (1.0, -1.0):
        side = "left_" if s > 0 else "right_"
        eye = J[JI[side + "eye"]]
        P.append(Primitive(side + "eye_socket", "ellipsoid", _t(eye + np.array([0.0, 0.0, 0.005])),
                           r=(EYEBALL_RADIUS_M * 1.22, EYEBALL_RADIUS_M * 0.78, EYEBALL_RADIUS_M * 1.1),
                           blend_m=0.004, subtract=True, bones=(15,)))
    P.append(Primitive("mouth_slit", "ellipsoid", (0.0, 0.2072, 0.092), r=(MOUTH_HALF_WIDTH_M, 0.0022, 0.02),
                       blend_m=0.003, subtract=True, bones=(15,)))
    return P
