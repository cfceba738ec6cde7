"""Motion files in each method's real on-disk layout, quirks included, for the reader tests.

Each writer builds a file the way the method's own code saves it, from values that mirror
the real files (cited per writer: repository, commit, file:line). The bodies move a little
(arms, head, spine) so the files are not constant; every one is upright and faces its
camera/viewer in its source's own frame, so after import it must be Y-up facing +Z.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

#: TalkSHOW's constant global orientation (yhw-yhw/TalkSHOW 9aef82d scripts/demo.py:155,
#: data_utils/lower_body.py:5): about pi about x, a camera frame with y down.
TALKSHOW_GLOBAL_ORIENT = np.array([3.0747, -0.0158, -0.0152])
#: TalkSHOW's fixed seated legs without --stand (data_utils/lower_body.py:4-8): left hip,
#: right hip, left knee, right knee (the ankles and feet are zero).
TALKSHOW_SEATED = {1: [-1.1826512813568115, 0.23866955935955048, 0.15146760642528534],
                   2: [-1.2604516744613647, -0.3160211145877838, -0.1603458970785141],
                   4: [1.1654603481292725, 0.0, 0.0],
                   5: [1.2521806955337524, 0.041598282754421234, -0.06312154978513718]}
#: Root orientation and translation of the first frame of a real AMASS SMPL-X file
#: (kiranchhatre/amuse 1978d3a dm/utils/sample_short.npz, an AMASS SMPL-X release file with
#: 120 Hz, betas (16,), markers_latent_vids as an object array): standing in AMASS's Z-up.
AMASS_ROOT_ORIENT = np.array([1.59103117, -0.01604139, -0.06509115])
AMASS_TRANS = np.array([0.00852674, 0.54389996, 0.33281486])
#: PIXIE's camera frame is y down: upright facing the camera is diag(1, -1, -1)
#: (yfeng95/PIXIE 5c8879b pixielib/pixie.py:343-346).
PIXIE_FACING_CAMERA = np.diag([1.0, -1.0, -1.0])


def gesture(T: int, seed: int = 0) -> np.ndarray:
    """(T, 21, 3) body pose in radians: arms down at the sides and moving, head nodding."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / 30.0
    body = np.zeros((T, 21, 3))
    body[:, 15, 2] = -1.2 + 0.2 * np.sin(2 * t)          # left shoulder (joint 16) down
    body[:, 16, 2] = 1.2 - 0.2 * np.sin(2 * t + 1)       # right shoulder (joint 17) down
    body[:, 17, 1] = -0.5 + 0.3 * np.sin(3 * t)          # left elbow
    body[:, 14, 0] = 0.15 * np.sin(4 * t)                # head (joint 15) nods
    body[:, 5, 0] = 0.05 * np.sin(t)                     # spine2
    return body + rng.normal(0, 0.01, body.shape)


def write_talkshow(folder: Path, stem: str = "greeting", T: int = 40, num_sample: int = 3,
                   stand: bool = False) -> Path:
    """TalkSHOW's demo output (yhw-yhw/TalkSHOW 9aef82d scripts/demo.py:219-245).

    ``visualise/video/body-pixel2/<stem>.npy`` (Log.name of config/body_pixel.json:60),
    float32 (num_sample*T, 265): the face (jaw [0:3], expression [165:265]) is predicted once
    and repeated in every sample; the body differs per sample; the global orientation is
    TalkSHOW's constant camera-frame value; without --stand the legs are seated.
    """
    rng = np.random.default_rng(1)
    t = np.arange(T) / 30.0
    jaw = np.stack([0.15 + 0.1 * np.sin(6 * t), np.zeros(T), np.zeros(T)], 1)
    expression = rng.normal(0, 0.5, (T, 100))
    samples = []
    for s in range(num_sample):
        body = gesture(T, seed=10 + s)
        if not stand:
            for j, v in TALKSHOW_SEATED.items():
                body[:, j - 1] = v
        else:
            body[:, [0, 1, 3, 4, 6, 7, 9, 10]] = 0.0
        hands = rng.normal(0, 0.1, (T, 90))
        row = np.concatenate([jaw, np.zeros((T, 6)), np.tile(TALKSHOW_GLOBAL_ORIENT, (T, 1)),
                              body.reshape(T, 63), hands, expression], axis=1)
        samples.append(row)
    out = Path(folder) / "visualise" / "video" / "body-pixel2" / f"{stem}.npy"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, np.concatenate(samples, axis=0).astype(np.float32))
    return out


def write_amuse(folder: Path, T: int = 40) -> Path:
    """AMUSE's output (kiranchhatre/amuse 1978d3a models/diffusion/viz/visualizer.py:190-225):

    ``<subject>_<name>_motion_smplx.npz`` with poses float32 (T, 55, 3) (jaw zeroed,
    visualizer.py:197), trans zeros (zero_trans), gender '<U7' and betas (300,) of a BEAT
    speaker (dm/utils/ldm_evals.py:67-71, 1041), mocap_frame_rate a float64 0-d array.
    Already Y-up facing +Z.
    """
    rng = np.random.default_rng(2)
    poses = np.zeros((T, 55, 3), np.float32)
    poses[:, 0] = rng.normal(0, 0.02, (T, 3))
    poses[:, 1:22] = gesture(T, seed=3)
    poses[:, 25:] = rng.normal(0, 0.1, (T, 30, 3))
    out = Path(folder) / "rep0" / "rst_0" / "seq_0" / "wayne_greeting_a1b2c3_motion_smplx.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, poses=poses, trans=np.zeros((T, 3)), gender=np.array("male", dtype="<U7"),
             betas=rng.normal(0, 1, 300), mocap_frame_rate=np.array(30, dtype="float64"))
    return out


def write_emage(folder: Path, T: int = 40) -> Path:
    """EMAGE's output (PantoMatrix c7356f3 test_emage_audio.py; Y-up facing +Z: its camera,
    emage_utils/fast_render.py:29-36, sits at +Z looking down -Z): BEAT2 ``<wav>_output.npz``
    with poses (T, 165), expressions (T, 100), trans, betas (300,), model 'smplx2020',
    gender, mocap_frame_rate 30."""
    rng = np.random.default_rng(4)
    poses = np.zeros((T, 165))
    poses[:, :3] = rng.normal(0, 0.02, (T, 3))
    poses[:, 3:66] = gesture(T, seed=5).reshape(T, 63)
    out = Path(folder) / "greeting_output.npz"
    np.savez(out, poses=poses, expressions=rng.normal(0, 0.3, (T, 100)), trans=np.zeros((T, 3)),
             betas=np.zeros(300), model="smplx2020", gender="neutral", mocap_frame_rate=30)
    return out


def write_amass_smplx(folder: Path, T: int = 48) -> Path:
    """An AMASS SMPL-X release file, keys as in the real one (see AMASS_ROOT_ORIENT):

    gender, surface_model_type, mocap_frame_rate (120.0), mocap_time_length, markers_latent
    (67, 3), latent_labels (67,), markers_latent_vids (an object array: loading it needs
    pickle), trans, poses (T, 165), betas (16,), num_betas, root_orient, pose_body,
    pose_hand, pose_jaw, pose_eye. Z-up: standing with root_orient ~ (pi/2, 0, 0), facing
    -Y; this one walks 0.2 m towards -Y (towards the viewer) over the clip.
    """
    rng = np.random.default_rng(6)
    poses = np.zeros((T, 165))
    poses[:, :3] = AMASS_ROOT_ORIENT + rng.normal(0, 0.01, (T, 3))
    poses[:, 3:66] = gesture(T, seed=7).reshape(T, 63)
    poses[:, 75:] = rng.normal(0, 0.1, (T, 90))
    trans = np.tile(AMASS_TRANS, (T, 1))
    trans[:, 1] -= np.linspace(0.0, 0.2, T)
    vids = np.empty(67, dtype=object)
    for i in range(67):
        vids[i] = [int(rng.integers(0, 10475))]
    out = Path(folder) / "amass_smplx_stageii.npz"
    np.savez(out, gender=np.array("neutral", dtype="<U7"), surface_model_type=np.array("smplx", dtype="<U5"),
             mocap_frame_rate=np.array(120.0), mocap_time_length=np.array(T / 120.0),
             markers_latent=rng.normal(0, 0.2, (67, 3)), latent_labels=np.array([f"M{i}" for i in range(67)]),
             markers_latent_vids=vids, trans=trans, poses=poses, betas=rng.normal(0, 1, 16),
             num_betas=np.array(16), root_orient=poses[:, :3], pose_body=poses[:, 3:66],
             pose_hand=poses[:, 75:165], pose_jaw=poses[:, 66:69], pose_eye=poses[:, 69:75])
    return out


def write_amass_smplh(folder: Path, T: int = 48) -> Path:
    """An AMASS SMPL-H release file: poses (T, 156) (root, 21 body, 2 x 15 hand joints), trans,
    betas (16,), dmpls (T, 8), gender as bytes (older releases), and the frame rate under
    ``mocap_framerate``. Z-up, standing, facing -Y."""
    rng = np.random.default_rng(8)
    poses = np.zeros((T, 156))
    poses[:, :3] = AMASS_ROOT_ORIENT
    poses[:, 3:66] = gesture(T, seed=9).reshape(T, 63)
    poses[:, 66:] = rng.normal(0, 0.1, (T, 90))
    out = Path(folder) / "amass_smplh_poses.npz"
    np.savez(out, poses=poses, trans=np.tile([0.0, 0.0, 0.95], (T, 1)), betas=rng.normal(0, 1, 16),
             dmpls=np.zeros((T, 8)), gender=np.array(b"female"), mocap_framerate=np.array(60.0))
    return out


def pixie_frame(rng: np.random.Generator, t: int) -> tuple[dict, dict]:
    """One frame as PIXIE's util.save_pkl writes it, and the axis-angle truth.

    Keys as PIXIE saves them (yfeng95/PIXIE 5c8879b: the body code of pixielib/pixie.py:297-300
    after decode, pixielib/pixie.py:371-400, plus bbox, demos/demo_fit_body.py:103), float32,
    batch axis removed: rotations as 3x3 matrices; global_pose is in PIXIE's camera frame
    (y down), a person upright and facing the camera plus a small sway.
    """
    sway = Rotation.from_rotvec(rng.normal(0, 0.05, 3)).as_matrix()
    body = gesture(1, seed=t)[0]
    aa = {"body_pose": body, "jaw_pose": np.array([[0.1 + 0.01 * t, 0, 0]]),
          "left_hand_pose": rng.normal(0, 0.2, (15, 3)), "right_hand_pose": rng.normal(0, 0.2, (15, 3))}
    d = {k: Rotation.from_rotvec(v).as_matrix().astype(np.float32) for k, v in aa.items()}
    d["global_pose"] = (PIXIE_FACING_CAMERA @ sway)[None].astype(np.float32)
    bp = d["body_pose"]
    d.update(body_cam=np.array([8.0, 0.1, 0.2], np.float32), partbody_pose=np.concatenate([bp[:11], bp[12:14],
                                                                                         bp[15:19]]),
             neck_pose=bp[11:12].copy(), head_pose=bp[14:15].copy(), abs_head_pose=bp[14:15].copy(),
             left_wrist_pose=bp[19:20].copy(), right_wrist_pose=bp[20:21].copy(),
             abs_left_wrist_pose=bp[19:20].copy(), abs_right_wrist_pose=bp[20:21].copy(),
             shape=rng.normal(0, 1, 200).astype(np.float32), exp=rng.normal(0, 1, 50).astype(np.float32),
             tex=np.zeros(50, np.float32), light=np.zeros((9, 3), np.float32),
             bbox=np.array([10, 20, 300, 400], np.float32))
    aa["global_pose"] = Rotation.from_matrix(d["global_pose"][0]).as_rotvec()[None]
    return d, aa


def write_pixie(folder: Path, frames=(0, 1, 2, 10, 11), seed: int = 0) -> list[tuple[dict, dict]]:
    """PIXIE's ``--saveParam True`` output (demos/demo_fit_body.py:102-105): one folder per
    image with ``<name>_param.pkl`` (pickle protocol 2, pixielib/utils/util.py:431-440) and
    ``<name>_bbox.txt``. Returns (axis-angle truth, saved dict) per frame."""
    rng = np.random.default_rng(seed)
    truth = []
    for t in frames:
        name = f"clip_frame{t}"
        d, aa = pixie_frame(rng, t)
        (Path(folder) / name).mkdir(parents=True)
        with open(Path(folder) / name / f"{name}_param.pkl", "wb") as f:
            pickle.dump(d, f, protocol=2)
        np.savetxt(Path(folder) / name / f"{name}_bbox.txt", d["bbox"])
        truth.append((aa, d))
    return truth
