"""TalkSHOW ``.npy``: (N*T, 265) float, 30 Hz, columns in TalkSHOW's own order:

[0:3] jaw, [3:6] left eye, [6:9] right eye, [9:12] global_orient, [12:75] body (21 joints),
[75:120] left hand (15), [120:165] right hand (15), [165:265] expression (100).

What TalkSHOW's demo (yhw-yhw/TalkSHOW 9aef82d, ``scripts/demo.py --config_file
./config/body_pixel.json --infer --audio_file X.wav --num_sample N``) really writes:

- the file is ``visualise/video/<Log.name>/<stem>.npy`` with ``Log.name = "body-pixel2"``
  (``config/body_pixel.json:60``; ``scripts/demo.py:243-245``);
- the N samples are stacked along the rows (``np.concatenate(result_list)``,
  ``scripts/demo.py:242``). The face (jaw and expression) is predicted once and repeated
  in every sample, so the sample count can be told from the file: ``num_samples=None``
  finds it (the largest N whose row blocks repeat the same, non-constant face) and falls
  back to 1 when the face is constant; pass ``num_samples`` to say it;
- the global orientation is a constant ~(3.0747, -0.0158, -0.0152) radians
  (``scripts/demo.py:155``, ``data_utils/lower_body.py:5,11,72``): about pi about x, i.e. the
  body in a camera frame with y down. Imported as is, the body is upside down and faces
  away; the reader pre-multiplies the root rotation by diag(1, -1, -1) (pi about x), which
  gives the project's Y-up body facing +Z. Translation is zero (TalkSHOW has none);
- without ``--stand`` the hips, knees, ankles and feet are a fixed seated pose
  (``data_utils/lower_body.py:4-8``, ``part2full``); ``meta.extra['legs']`` says 'seated'.

TalkSHOW builds SMPL-X with ``flat_hand_mean=False`` (``scripts/demo.py:282-285``): its hand
poses are offsets from the body model's mean hand pose. Pass that model's ``hands_mean``
((15,3), (15,3)) to get the full (flat-hand convention) pose that MotionClip stores;
without it the offsets are kept as they are and ``meta.extra['hand_pose_convention']`` says
so. ``sample`` picks one of the N stacked samples.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vr_study.errors import InputError
from vr_study.motion import MotionClip, MotionMeta
from vr_study.orientation import CAMERA_TO_Y_UP, rotate_root

from ._npz import load_arrays

NUM_COLUMNS = 265
FPS = 30.0
#: Columns predicted once per run and repeated in every stacked sample: jaw and expression.
FACE_COLUMNS = np.r_[0:3, 165:265]
#: Most samples looked for when counting them.
MAX_SAMPLES = 64
#: A hip flexed by more than this (radians) in every frame, both sides: TalkSHOW's seated legs.
SEATED_HIP_RAD = 0.8


def count_samples(arr: np.ndarray) -> int:
    """Samples stacked in a TalkSHOW array (N*T, 265): the largest N whose row blocks share
    one face (jaw + expression) that changes over time; 1 when the face never changes."""
    rows = arr.shape[0]
    face = arr[:, FACE_COLUMNS]
    if np.all(face == face[:1]):
        return 1
    for n in range(min(MAX_SAMPLES, rows // 2), 1, -1):
        if rows % n:
            continue
        blocks = face.reshape(n, rows // n, -1)
        if np.array_equal(blocks, np.broadcast_to(blocks[:1], blocks.shape)):
            return n
    return 1


def read(path: Path, hands_mean: tuple[np.ndarray, np.ndarray] | None = None, num_samples: int | None = None,
         sample: int = 0, fps: float = FPS, **_: object) -> MotionClip:
    arr = load_arrays(Path(path))["array"]
    if arr.ndim != 2 or arr.shape[1] != NUM_COLUMNS:
        raise InputError(path, "array", f"has shape {arr.shape}", f"a TalkSHOW file holds (N*T, {NUM_COLUMNS})")
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(path, "array", f"has dtype {arr.dtype}", "expected floating point numbers")
    if arr.shape[0] == 0:
        raise InputError(path, "array", "has zero frames", "give a clip with at least one frame")
    found = count_samples(arr)
    if num_samples is None:
        num_samples = found
    if num_samples < 1 or arr.shape[0] % num_samples:
        raise InputError(path, "--num-samples", f"{num_samples} does not divide {arr.shape[0]} rows",
                         "give the --num_sample value TalkSHOW was run with")
    if not 0 <= sample < num_samples:
        raise InputError(path, "--sample", f"{sample} is out of range",
                         f"the file holds {num_samples} sample(s): choose 0..{num_samples - 1}")
    T = arr.shape[0] // num_samples
    a = arr[sample * T:(sample + 1) * T].astype(np.float32)
    poses = np.concatenate([a[:, 9:12], a[:, 12:75], a[:, 0:3], a[:, 3:6], a[:, 6:9], a[:, 75:120], a[:, 120:165]],
                           axis=1)
    convention = "offset from model hand mean (flat_hand_mean=False)"
    if hands_mean is not None:
        left, right = (np.asarray(h, np.float32).reshape(45) for h in hands_mean)
        poses[:, 75:120] += left
        poses[:, 120:165] += right
        convention = "flat"
    extra = {"hand_pose_convention": convention, "sample": sample, "num_samples": num_samples,
             "orientation_fix": "camera frame (y down) to Y-up: root pre-multiplied by diag(1,-1,-1)"}
    hips = poses[:, [3, 6]]  # left_hip x, right_hip x (flexion)
    extra["legs"] = "seated (TalkSHOW run without --stand)" if np.all(hips < -SEATED_HIP_RAD) else "as generated"
    clip = MotionClip.from_poses(poses, np.zeros((T, 3), np.float32), a[:, 165:265], np.zeros(300, np.float32),
                                 fps, "neutral", MotionMeta(method="talkshow", extra=extra))
    clip.global_orient = rotate_root(clip.global_orient, CAMERA_TO_Y_UP)
    return clip
