"""Which MediaPipe Holistic landmark corresponds to which SMPL-X keypoint.

SMPL-X keypoint indices are those of ``smplx.SMPLX``'s ``joints`` output (and of
:class:`generators.reconstruction.keypoints.KeypointModel`): 0-54 the 55 skeleton joints,
55-75 the 21 vertex keypoints smplx appends (nose, right eye, left eye, right ear, left
ear, left big toe, left small toe, left heel, right big toe, right small toe, right heel,
left thumb/index/middle/ring/pinky tips, right thumb/index/middle/ring/pinky tips), 76-126
the 51 face landmarks (iBUG-68 points 17-67: brows, nose, eyes, lips).

"Left" and "right" are the person's own sides throughout (MediaPipe Holistic's
``left_hand_landmarks`` is the person's left hand, as are its pose landmarks 11, 13, ...).
"""
from __future__ import annotations

import numpy as np

NUM_SKELETON_JOINTS = 55
FIRST_VERTEX_KEYPOINT = 55
FIRST_FACE_LANDMARK = 76
NUM_KEYPOINTS = 127

#: MediaPipe pose landmark index -> SMPL-X keypoint index.
POSE_TO_SMPLX: dict[int, int] = {
    0: 55,   # nose
    2: 57,   # left eye
    5: 56,   # right eye
    7: 59,   # left ear
    8: 58,   # right ear
    11: 16,  # left shoulder
    12: 17,  # right shoulder
    13: 18,  # left elbow
    14: 19,  # right elbow
    15: 20,  # left wrist
    16: 21,  # right wrist
    23: 1,   # left hip
    24: 2,   # right hip
    25: 4,   # left knee
    26: 5,   # right knee
    27: 7,   # left ankle
    28: 8,   # right ankle
    29: 62,  # left heel
    30: 65,  # right heel
    31: 60,  # left foot index -> left big toe
    32: 63,  # right foot index -> right big toe
}
POSE_MP = np.array(list(POSE_TO_SMPLX), dtype=np.int64)
POSE_SMPLX = np.array(list(POSE_TO_SMPLX.values()), dtype=np.int64)

# MediaPipe hand: 0 wrist; thumb 1-4 (CMC, MCP, IP, tip); index 5-8; middle 9-12; ring 13-16;
# pinky 17-20 (MCP, PIP, DIP, tip). SMPL-X hand joints per hand (offset 25 left, 40 right):
# index 0-2, middle 3-5, pinky 6-8, ring 9-11, thumb 12-14.
def _hand(wrist: int, base: int, tips: int) -> np.ndarray:
    thumb = [base + 12, base + 13, base + 14, tips + 0]
    index = [base + 0, base + 1, base + 2, tips + 1]
    middle = [base + 3, base + 4, base + 5, tips + 2]
    ring = [base + 9, base + 10, base + 11, tips + 3]
    pinky = [base + 6, base + 7, base + 8, tips + 4]
    return np.array([wrist] + thumb + index + middle + ring + pinky, dtype=np.int64)


#: SMPL-X keypoint for each of MediaPipe's 21 hand landmarks, per hand.
LEFT_HAND_SMPLX = _hand(20, 25, 66)
RIGHT_HAND_SMPLX = _hand(21, 40, 71)

#: MediaPipe face-mesh vertex for each of SMPL-X's 51 face landmarks (iBUG 17-67 order).
FACE_MESH_IBUG51 = np.array([
    70, 63, 105, 66, 107,            # right brow (iBUG 17-21)
    336, 296, 334, 293, 300,         # left brow (22-26)
    168, 197, 5, 4,                  # nose bridge (27-30)
    75, 97, 2, 326, 305,             # nose base (31-35)
    33, 160, 158, 133, 153, 144,     # right eye (36-41)
    362, 385, 387, 263, 373, 380,    # left eye (42-47)
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lip (48-59)
    78, 82, 13, 312, 308, 317, 14, 87,                    # inner lip (60-67)
], dtype=np.int64)
FACE_SMPLX = np.arange(FIRST_FACE_LANDMARK, FIRST_FACE_LANDMARK + 51, dtype=np.int64)

#: Bones (pairs of MediaPipe pose landmarks) whose 3D direction the fit matches to
#: MediaPipe's metric world landmarks; directions are free of body proportions.
POSE_BONES_MP = np.array([
    (11, 13), (13, 15), (12, 14), (14, 16),      # arms
    (23, 25), (25, 27), (24, 26), (26, 28),      # legs
    (12, 11), (24, 23), (23, 11), (24, 12),      # torso
    (11, 7), (12, 8), (8, 7), (7, 0), (8, 0),    # head
], dtype=np.int64)
