"""PIXIE (and DECA) per-frame SMPL-X parameters, stacked into a clip.

PIXIE (yfeng95/PIXIE 5c8879b, ``demos/demo_fit_body.py --saveParam True``) writes one
pickle per image, ``<savefolder>/<name>/<name>_param.pkl`` (``demos/demo_fit_body.py:102-105``),
with ``util.save_pkl`` (``pixielib/utils/util.py:431-440``: pickle protocol 2, every tensor
as a numpy array with the batch axis removed). The dict is the body code
(``pixielib/pixie.py:297-300``) after ``decode`` (``pixielib/pixie.py:371-400``) plus the
detector's ``bbox`` (4,) (``demos/demo_fit_body.py:103``), so it holds PIXIE's keys
(``pixielib/utils/config.py:20-24``): ``body_cam`` (3,) weak-perspective (scale, tx, ty),
``global_pose`` (1,3,3), ``partbody_pose`` (17,3,3), ``neck_pose``, ``head_pose``,
``left_wrist_pose``, ``right_wrist_pose`` (1,3,3), ``abs_head_pose``,
``abs_left_wrist_pose``, ``abs_right_wrist_pose`` (1,3,3), ``jaw_pose`` (1,3,3),
``left_hand_pose`` / ``right_hand_pose`` (15,3,3) full finger rotations (flat hand =
identity), ``shape`` (200,), ``exp`` (50,) FLAME expression coefficients (the first 50 of
SMPL-X 2020's expression space), ``tex`` (50,), ``light`` (9,3), and ``body_pose``
(21,3,3), parent-relative in SMPL-X order (head and wrists already made relative), which
``decode`` adds. The reader uses the pose keys, ``exp`` and ``shape``; the rest are ignored.
PIXIE has no frame rate: pass ``fps`` (default 30 Hz).

DECA (github.com/YadiraF/DECA) does not save its codes by default; save its ``codedict``'s
``exp`` (50,) and ``pose`` (6,: global rotation, then jaw, axis-angle radians) per frame as
``<name>_deca.npz`` next to the PIXIE file and the face (expression and jaw) comes from DECA.

Accepted inputs:
- a folder holding ``*_param.pkl`` files at any depth (frames in natural name order);
- one ``*_param.pkl`` file (one frame);
- a stacked ``.npz`` (our layout for a whole clip): ``global_pose`` (T,3,3) or (T,1,3,3) or
  (T,3) axis-angle; ``body_pose`` (T,21,3,3) or (T,21,3); ``jaw_pose`` (T,3,3), (T,1,3,3)
  or (T,3); ``left_hand_pose``/``right_hand_pose`` (T,15,3,3) or (T,15,3); ``exp`` (T,50);
  optional ``shape`` (T,200) or (200,) (averaged into betas), ``body_cam`` (T,3),
  ``fps`` (Hz), ``deca_exp`` (T,50) and ``deca_pose`` (T,6).

Orientation: PIXIE's global pose is relative to its camera, whose frame is image-aligned
(x right, y down: ``util.batch_orth_proj`` puts x and y straight onto the image,
``pixielib/utils/util.py:90-98``), so a person upright and facing the camera has
``global_pose = diag(1, -1, -1)`` (PIXIE's own default for hand-only input,
``pixielib/pixie.py:343-346``; its face demo flips y and z to show a T-pose,
``demos/demo_fit_face.py:69``). The reader pre-multiplies every global pose by
diag(1, -1, -1), giving the project's Y-up body facing +Z (in stacked ``.npz`` files too,
which hold PIXIE's own global poses). Translation is not estimated by PIXIE and is zero.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np

from vr_study import safe_pickle
from vr_study.errors import InputError
from vr_study.motion import MotionClip, MotionMeta
from vr_study.orientation import CAMERA_TO_Y_UP, rotate_root
from vr_study.rotations import matrix_to_axis_angle

from ._npz import check_shape, fps_value, load_arrays

#: The keys every PIXIE frame must have, with their per-frame joint count.
POSE_KEYS = {"global_pose": 1, "body_pose": 21, "jaw_pose": 1, "left_hand_pose": 15, "right_hand_pose": 15}
DEFAULT_FPS = 30.0


def matches(path: Path, keys: set[str]) -> bool:
    """A stacked PIXIE .npz: PIXIE's pose keys and its expression code."""
    return {"global_pose", "body_pose", "jaw_pose", "exp"} <= keys


def _load_pickle(path: Path) -> dict:
    try:
        data = safe_pickle.loads(path.read_bytes())
    except pickle.UnpicklingError as e:
        raise InputError(path, None, f"is not a PIXIE parameter pickle of plain arrays ({e})",
                         "save PIXIE's parameters as numpy arrays (its util.save_pkl does)") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, OSError) as e:
        raise InputError(path, None, f"cannot be read as a pickle ({e.__class__.__name__}: {e})",
                         "re-run PIXIE with --saveParam True") from None
    if not isinstance(data, dict):
        raise InputError(path, None, f"holds a {type(data).__name__}, not PIXIE's dict of parameters",
                         "give PIXIE's <name>_param.pkl")
    return data


def _natural_key(p: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))]


def _rotations(arr: np.ndarray, path: Path, key: str, T: int, joints: int) -> np.ndarray:
    """(T, joints, 3) axis-angle from matrices (T,[joints,]3,3) or axis-angle (T,[joints,]3)."""
    a = np.asarray(arr, np.float64)
    if not np.issubdtype(a.dtype, np.floating):
        raise InputError(path, key, f"has dtype {arr.dtype}", "expected numbers")
    if a.shape[-2:] == (3, 3) and a.size == T * joints * 9:
        m = a.reshape(T, joints, 3, 3)
        if not np.all(np.isfinite(m)):
            raise InputError(path, key, "contains NaN or Inf", "fix or drop those frames")
        if np.abs(np.linalg.det(m) - 1).max() > 1e-2:
            raise InputError(path, key, "holds matrices that are not rotations", "give rotation matrices or axis-angle")
        return matrix_to_axis_angle(m).astype(np.float32)
    if a.shape[-1] == 3 and a.size == T * joints * 3:
        return a.reshape(T, joints, 3).astype(np.float32)
    raise InputError(path, key, f"has shape {a.shape}",
                     f"expected ({T}, {joints}, 3, 3) rotation matrices or ({T}, {joints}, 3) axis-angle")


def _clip_from_arrays(arrays: dict[str, np.ndarray], path: Path, fps: float, frames: int) -> MotionClip:
    T = frames
    for key in POSE_KEYS:
        if key not in arrays:
            raise InputError(path, key, "is missing", "give PIXIE's parameters (global_pose, body_pose, jaw_pose, hands, exp)")
    rot = {k: _rotations(arrays[k], path, k, T, n) for k, n in POSE_KEYS.items()}
    clip = MotionClip.zeros(T, fps, num_expression=50, num_betas=10, method="pixie")
    clip.global_orient = rotate_root(rot["global_pose"][:, 0], CAMERA_TO_Y_UP)
    clip.body_pose = rot["body_pose"]
    clip.jaw_pose = rot["jaw_pose"][:, 0]
    clip.left_hand_pose = rot["left_hand_pose"]
    clip.right_hand_pose = rot["right_hand_pose"]
    if "exp" in arrays:
        exp = np.asarray(arrays["exp"], np.float32).reshape(T, -1)
        clip.expression = exp
    if "shape" in arrays:
        shape = np.asarray(arrays["shape"], np.float32).reshape(-1, np.asarray(arrays["shape"]).shape[-1])
        clip.betas = shape.mean(axis=0)
    extra = {}
    if "deca_exp" in arrays or "deca_pose" in arrays:
        if "deca_exp" not in arrays or "deca_pose" not in arrays:
            raise InputError(path, "deca_exp" if "deca_exp" not in arrays else "deca_pose", "is missing",
                             "give both DECA's exp (T,50) and pose (T,6)")
        dexp = np.asarray(arrays["deca_exp"], np.float32)
        dpose = np.asarray(arrays["deca_pose"], np.float32)
        check_shape(dexp.reshape(dexp.shape[0], -1), path, "deca_exp", (T, None))
        check_shape(dpose.reshape(dpose.shape[0], -1), path, "deca_pose", (T, 6))
        clip.expression = dexp.reshape(T, -1)
        clip.jaw_pose = dpose.reshape(T, 6)[:, 3:6]
        extra["face_from"] = "deca"
    extra["orientation_fix"] = "camera frame (y down) to Y-up: root pre-multiplied by diag(1,-1,-1)"
    clip.meta = MotionMeta(method="pixie", extra=extra)
    return clip


def _read_folder_or_pkl(path: Path, fps: float) -> MotionClip:
    files = [path] if path.is_file() else sorted(path.rglob("*_param.pkl"), key=_natural_key)
    if not files:
        raise InputError(path, None, "holds no PIXIE results (*_param.pkl)",
                         "run PIXIE's demo with --saveParam True and give its output folder")
    frames: list[dict[str, np.ndarray]] = []
    deca_count = 0
    for f in files:
        d = _load_pickle(f)
        row = {k: np.asarray(d[k]) for k in (*POSE_KEYS, "exp", "shape") if k in d}
        missing = [k for k in (*POSE_KEYS, "exp") if k not in row]
        if missing:
            raise InputError(f, missing[0], "is missing", "give PIXIE's <name>_param.pkl (saved with --saveParam True)")
        deca = f.with_name(f.name[: -len("_param.pkl")] + "_deca.npz") if f.name.endswith("_param.pkl") else None
        if deca is not None and deca.exists():
            codes = load_arrays(deca)
            for key, out in (("exp", "deca_exp"), ("pose", "deca_pose")):
                if key not in codes:
                    raise InputError(deca, key, "is missing", "save DECA's codedict['exp'] and codedict['pose']")
                row[out] = codes[key].reshape(-1)
            deca_count += 1
        frames.append(row)
    if 0 < deca_count < len(frames):
        raise InputError(path, None, f"has DECA codes for {deca_count} of {len(frames)} frames",
                         "give <name>_deca.npz for every frame or for none")
    stacked = {k: np.stack([fr[k] for fr in frames]) for k in frames[0]}
    clip = _clip_from_arrays(stacked, path, fps, len(frames))
    clip.meta.extra["frames"] = [f.name[: -len("_param.pkl")] if f.name.endswith("_param.pkl") else f.stem for f in files]
    return clip


def read(path: Path, fps: float | None = None, **_: object) -> MotionClip:
    """Read a folder, ``_param.pkl`` or stacked ``.npz`` of PIXIE results (see module doc).

    ``fps`` (Hz) is the frame rate of the source video (default 30; a stacked .npz may
    carry its own ``fps``).
    """
    path = Path(path)
    if fps is not None and not (1.0 <= float(fps) <= 1000.0):
        raise InputError(path, "fps", f"is {fps}", "give the video's frame rate in Hz (1-1000)")
    if path.is_dir() or path.suffix.lower() == ".pkl":
        return _read_folder_or_pkl(path, float(fps or DEFAULT_FPS))
    arrays = load_arrays(path)
    if "global_pose" not in arrays:
        raise InputError(path, "global_pose", "is missing", "give a stacked PIXIE .npz (see docs/reconstruction.md)")
    T = int(np.asarray(arrays["global_pose"]).shape[0])
    if T == 0:
        raise InputError(path, "global_pose", "has zero frames", "give at least one frame")
    rate = fps if fps is not None else fps_value(arrays, path, ["fps", "mocap_frame_rate"], DEFAULT_FPS)
    return _clip_from_arrays(arrays, path, float(rate), T)

