"""Fit SMPL-X pose, hands, jaw and expression to a sequence of landmarks (torch, batched).

Camera: weak perspective per frame. A keypoint X (model space: metres, y up, body facing
+z) maps to camera space as ``Xc = R_c X`` with ``R_c = diag(1, -1, -1)`` (so zero
global_orient faces the camera) and to the image as ``u = s_t * Xc_xy + t_t`` in units of
the image height (pixels / height). ``s_t`` is image heights per metre.

Objective (summed over all frames at once, minimised with Adam):
- body: 2D reprojection of MediaPipe pose landmarks (weighted by a ramp of their
  visibility, see :func:`_visibility_weight`; those outside the frame are ignored) and
  the 3D directions of limb, torso and head bones from MediaPipe's metric world
  landmarks (directions, so body proportions need not match) for depth;
- hands: 2D reprojection of the 21 hand landmarks and their wrist-relative 3D shape;
- face: the 51 face landmarks' shape about their centroid, normalised by face size, as a
  change from the person's median face, against the model's change from its own face
  with the same head pose, jaw closed and no expression (so a face unlike the model's is
  not read as an expression); drives the jaw and expression only (head orientation
  comes from the nose, eye and ear landmarks);
- priors: L2 towards the rest pose (small for the body, larger for hands and expression),
  a soft penalty outside :mod:`.limits`, temporal smoothness (first and second
  differences of every parameter).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from smplx.lbs import batch_rodrigues

from vr_study.errors import InputError
from vr_study.motion import MotionClip, MotionMeta

from . import correspondence as C
from .keypoints import KeypointModel
from .landmarks import Landmarks
from .limits import LOWER_RAD, UPPER_RAD, clamp_pose

R_CAM = torch.tensor([1.0, -1.0, -1.0])  # diagonal of R_c
ASSUMED_FOCAL_HEIGHTS = 1.2  # focal length in image heights (about 45 degrees vertical FOV)
MIN_VISIBILITY, FULL_VISIBILITY = 0.1, 0.5


def _visibility_weight(vis: torch.Tensor) -> torch.Tensor:
    """Landmark weight from MediaPipe visibility: 0 below MIN_VISIBILITY, rising linearly to
    1 at FULL_VISIBILITY (a ramp, so a landmark hovering near a threshold cannot make the
    fit jump between frames)."""
    return ((vis - MIN_VISIBILITY) / (FULL_VISIBILITY - MIN_VISIBILITY)).clamp(0.0, 1.0)


@dataclass
class FitOptions:
    """Iteration counts, Adam learning rate and loss weights (dimensionless)."""

    init_iterations: int = 30  # Adam steps of the camera/root stage
    iterations: int = 200      # loss evaluations of the main (L-BFGS) stage
    lr: float = 0.04
    w_body2d: float = 1.0
    w_body3d: float = 0.3
    w_hand2d: float = 1.0
    w_hand3d: float = 0.5
    w_face: float = 0.1
    w_body_prior: float = 2e-4
    w_hand_prior: float = 2e-3
    w_expr_prior: float = 0.02
    w_limits: float = 0.1
    w_upright: float = 1.0
    w_smooth: float = 0.2
    num_threads: int = 1  # torch threads while fitting (see SequenceFitter.run)
    optimizer: str = "lbfgs"  # for the main stage: "lbfgs" or "adam"


@dataclass
class FitResult:
    """Fitted parameters per frame: ``full_pose`` (T,55,3) rad, ``expression`` (T,E),
    ``scale`` (T,) image heights per metre, ``offset`` (T,2) image heights, ``loss`` final."""

    full_pose: np.ndarray
    expression: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    loss: float


def _nan0(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.nan_to_num(np.asarray(a, np.float32), nan=0.0))


def _fill_missing(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Replace rows where ``ok`` is False with the nearest valid row (along axis 0)."""
    idx = np.nonzero(ok)[0]
    if len(idx) == len(ok):
        return values
    nearest = idx[np.clip(np.searchsorted(idx, np.arange(len(ok))), 0, len(idx) - 1)]
    prev = idx[np.clip(np.searchsorted(idx, np.arange(len(ok))) - 1, 0, len(idx) - 1)]
    pick = np.where(np.abs(prev - np.arange(len(ok))) < np.abs(nearest - np.arange(len(ok))), prev, nearest)
    return values[pick]


def _initial_orientation(lm: Landmarks) -> np.ndarray:
    """(T,3) global_orient from MediaPipe's metric hips and shoulders (identity if missing)."""
    from scipy.spatial.transform import Rotation

    w = lm.pose_world
    left = (w[:, 23] + w[:, 11]) / 2 - (w[:, 24] + w[:, 12]) / 2   # towards the person's left
    up = (w[:, 11] + w[:, 12]) / 2 - (w[:, 23] + w[:, 24]) / 2
    out = np.zeros((lm.num_frames, 3), np.float32)
    for t in np.nonzero(lm.pose_ok)[0]:
        x = left[t] / (np.linalg.norm(left[t]) + 1e-9)
        y = up[t] - x * np.dot(up[t], x)
        y /= np.linalg.norm(y) + 1e-9
        R_cam_body = np.stack([x, y, np.cross(x, y)], axis=1)       # model axes in camera axes
        R = np.diag([1.0, -1.0, -1.0]) @ R_cam_body                # undo R_c
        if np.linalg.det(R) > 0:
            out[t] = Rotation.from_matrix(R).as_rotvec()
    return _fill_missing(out, lm.pose_ok)


def _smooth_l1(x: torch.Tensor, beta: float) -> torch.Tensor:
    a = x.abs()
    return torch.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta)


class SequenceFitter:
    """Fits one landmark sequence with one :class:`KeypointModel`. Use :meth:`run`."""

    def __init__(self, model: KeypointModel, lm: Landmarks, options: FitOptions | None = None,
                 init: FitResult | None = None):
        self.model, self.lm, self.o = model, lm, options or FitOptions()
        if not lm.pose_ok.any():
            raise InputError(None, "video", "MediaPipe found no person in any frame",
                             "give a video in which one person is visible from at least the hips up")
        T, H = lm.num_frames, float(lm.height_px)
        self.T = T
        ok = torch.from_numpy(lm.pose_ok.astype(np.float32))
        # landmarks MediaPipe places outside the frame are guesses: ignore them
        xy = lm.pose_xy
        inside = ((xy[..., 0] >= 0) & (xy[..., 0] <= lm.width_px) & (xy[..., 1] >= 0)
                  & (xy[..., 1] <= lm.height_px))
        pv = np.where(inside, np.nan_to_num(lm.pose_vis), 0.0).astype(np.float32)
        vis = torch.from_numpy(pv[:, C.POSE_MP])
        self.body_w = _visibility_weight(vis) * ok[:, None]
        self.body_xy = _nan0(lm.pose_xy[:, C.POSE_MP] / H)
        # 3D bone directions from MediaPipe's metric landmarks, in camera axes
        a, b = C.POSE_BONES_MP[:, 0], C.POSE_BONES_MP[:, 1]
        d = lm.pose_world[:, b] - lm.pose_world[:, a]
        d = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6)
        self.bone_dir = _nan0(d)
        bw = np.minimum(pv[:, a], pv[:, b])
        self.bone_w = _visibility_weight(torch.from_numpy(bw.astype(np.float32))) * ok[:, None]
        smplx_of = dict(C.POSE_TO_SMPLX)
        self.bone_a = torch.tensor([smplx_of[i] for i in a])
        self.bone_b = torch.tensor([smplx_of[i] for i in b])
        self.hands = []
        for pts, hok, idx in ((lm.left_hand, lm.left_ok, C.LEFT_HAND_SMPLX), (lm.right_hand, lm.right_ok, C.RIGHT_HAND_SMPLX)):
            xyz = _nan0(pts / H)
            self.hands.append((xyz, torch.from_numpy(hok.astype(np.float32)), torch.from_numpy(idx)))
        face = _nan0(lm.face_xy / H)
        face_c = face - face.mean(1, keepdim=True)
        self.face_size = face_c.norm(dim=-1).mean(1).clamp_min(1e-4)          # (T,)
        face_rel = face_c / self.face_size[:, None, None]
        # A person's face differs from the body model's (lip thickness, eye shape): fit the
        # face's change from the person's median face (see terms()).
        if lm.face_ok.any():
            face_rel = face_rel - face_rel[torch.from_numpy(lm.face_ok)].median(dim=0).values
        self.face_delta = face_rel
        self.face_w = torch.from_numpy(lm.face_ok.astype(np.float32))
        self.pose_idx = torch.from_numpy(C.POSE_SMPLX)
        self.face_joint_mask = torch.zeros(55, 1)
        self.face_joint_mask[22] = 1.0
        self.lo = torch.from_numpy(LOWER_RAD)
        self.hi = torch.from_numpy(UPPER_RAD)
        self._init_params(init)

    # ------------------------------------------------------------------ set-up
    def _init_params(self, init: FitResult | None) -> None:
        lm, T, E = self.lm, self.T, self.model.num_expression
        H = float(lm.height_px)
        if init is not None:
            pose, expr = init.full_pose.copy(), init.expression.copy()
            scale, offset = init.scale.copy(), init.offset.copy()
        else:
            pose = np.zeros((T, 55, 3), np.float32)
            pose[:, 0] = _initial_orientation(lm)
            expr = np.zeros((T, E), np.float32)
            # scale: image distance / metric distance of shoulder and hip pairs
            pairs = [(11, 12), (23, 24), (11, 23), (12, 24)]
            img = np.stack([np.linalg.norm(lm.pose_xy[:, a] - lm.pose_xy[:, b], axis=-1) for a, b in pairs], 1) / H
            met = np.stack([np.linalg.norm(lm.pose_world[:, a] - lm.pose_world[:, b], axis=-1) for a, b in pairs], 1)
            scale = np.nanmedian(img / np.maximum(met, 1e-3), axis=1)
            scale = _fill_missing(np.nan_to_num(scale, nan=1.0), lm.pose_ok).astype(np.float32)
            # offset: hip centre in the image minus the projected rest hip centre
            hips_img = (lm.pose_xy[:, 23] + lm.pose_xy[:, 24]) / 2 / H
            rest = self.model.rest_joints.numpy()
            rest_hips = (rest[1] + rest[2]) / 2 * np.array([1.0, -1.0, -1.0])
            offset = _fill_missing(np.nan_to_num(hips_img - scale[:, None] * rest_hips[:2]), lm.pose_ok).astype(np.float32)
        self.pose = torch.tensor(pose, requires_grad=True)
        self.expr = torch.tensor(expr, requires_grad=True)
        self.log_scale = torch.tensor(np.log(np.maximum(scale, 1e-3)), requires_grad=True)
        self.offset = torch.tensor(offset, requires_grad=True)

    # ------------------------------------------------------------------ objective
    def loss(self, stage: int) -> torch.Tensor:
        """Total objective (for reporting); see :meth:`terms`."""
        main, face = self.terms(stage)
        return main + face

    def terms(self, stage: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(everything but the face term, the face term). The face term's gradient is only
        applied to the jaw rotation and the expression (see :meth:`backward`)."""
        o = self.o
        kp = self.model.keypoints(self.pose, self.expr)                 # (T,127,3)
        cam = kp * R_CAM
        s = self.log_scale.exp()
        proj = s[:, None, None] * cam[..., :2] + self.offset[:, None, :]
        n = max(self.T, 1)
        # body 2D + metric 3D
        r2 = _smooth_l1(proj[:, self.pose_idx] - self.body_xy, 0.02).sum(-1)
        total = o.w_body2d * (self.body_w * r2).sum() / n
        bones = cam[:, self.bone_b] - cam[:, self.bone_a]
        bones = bones / bones.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        r3 = (bones - self.bone_dir).square().sum(-1)
        total = total + o.w_body3d * (self.bone_w * r3).sum() / n
        face_total = torch.zeros(())
        if stage == 0:
            return total, face_total
        # hands
        for xyz, hw, idx in self.hands:
            if not bool(hw.any()):
                continue
            p2 = _smooth_l1(proj[:, idx] - xyz[..., :2], 0.01).sum(-1).sum(-1)
            rel_pred = s[:, None, None] * (cam[:, idx] - cam[:, idx[:1]])
            rel_obs = xyz - xyz[:, :1]
            p3 = _smooth_l1(rel_pred - rel_obs, 0.01).sum(-1).sum(-1)
            total = total + (hw * (o.w_hand2d * p2 + o.w_hand3d * p3)).sum() / n
        # face shape about its centroid, in units of face size
        if bool(self.face_w.any()):
            def rel(points: torch.Tensor) -> torch.Tensor:
                c = points - points.mean(1, keepdim=True)
                return c / c.norm(dim=-1).mean(1).clamp_min(1e-6)[:, None, None]

            with torch.no_grad():  # the same head with jaw closed and no expression
                still = self.pose.detach().clone()
                still[:, 22] = 0
                neutral = rel((self.model.keypoints(still)[:, C.FACE_SMPLX] * R_CAM)[..., :2])
            fr = rel(proj[:, C.FACE_SMPLX])
            pf = _smooth_l1(fr - neutral - self.face_delta, 0.05).sum(-1).sum(-1)
            face_total = o.w_face * (self.face_w * pf).sum() / n
        # priors
        body = self.pose[:, 1:22]
        hands = self.pose[:, 25:]
        total = total + o.w_body_prior * (body ** 2).sum() / n
        total = total + o.w_hand_prior * (hands ** 2).sum() / n
        total = total + o.w_expr_prior * (self.expr ** 2).sum() / n
        # people stand upright: the pelvis' up axis stays near the world's up axis
        up_y = 1.0 - batch_rodrigues(self.pose[:, 0])[:, 1, 1]
        total = total + o.w_upright * up_y.square().sum() / n
        over = torch.relu(self.pose[:, 1:] - self.hi[1:]) + torch.relu(self.lo[1:] - self.pose[:, 1:])
        total = total + o.w_limits * (over ** 2).sum() / n
        # temporal smoothness
        if self.T > 1:
            params = torch.cat([self.pose.reshape(self.T, -1), self.expr, self.log_scale[:, None], self.offset], 1)
            d1 = params[1:] - params[:-1]
            total = total + o.w_smooth * (d1 ** 2).sum() / n
            if self.T > 2:
                d2 = d1[1:] - d1[:-1]
                total = total + o.w_smooth * (d2 ** 2).sum() / n
        return total, face_total

    def backward(self, stage: int) -> torch.Tensor:
        """Evaluate the objective and set ``.grad`` of every parameter; returns the loss."""
        main, face = self.terms(stage)
        params = [self.pose, self.expr, self.log_scale, self.offset]
        grads = torch.autograd.grad(main, params, retain_graph=bool(face.requires_grad), allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
        if face.requires_grad:
            gp, ge = torch.autograd.grad(face, [self.pose, self.expr], allow_unused=True)
            if gp is not None:
                grads[0] = grads[0] + gp * self.face_joint_mask
            if ge is not None:
                grads[1] = grads[1] + ge
        for p, g in zip(params, grads):
            p.grad = g
        return (main + face).detach()

    # ------------------------------------------------------------------ optimisation
    def run(self, progress: Callable[[int], None] | None = None) -> FitResult:
        """Optimise: a camera/orientation stage, then everything. Returns the fit.

        Runs on ``num_threads`` torch threads with flush-denormal mode on (both restored
        afterwards): subnormal floats otherwise slow the CPU down many times, and the mode
        only reaches the calling thread, so one thread (the default) is also the fastest.
        """
        threads = torch.get_num_threads()
        torch.set_num_threads(self.o.num_threads)
        torch.set_flush_denormal(True)
        try:
            return self._run(progress)
        finally:
            torch.set_flush_denormal(False)
            torch.set_num_threads(threads)

    def _run(self, progress: Callable[[int], None] | None) -> FitResult:
        stages = [(0, self.o.init_iterations, [self.log_scale, self.offset]),
                  (1, self.o.iterations, [self.pose, self.expr, self.log_scale, self.offset])]
        loss = torch.tensor(0.0)
        for stage, iters, params in stages:
            if iters <= 0:
                continue
            if stage == 0:
                # orient the root and spine with the camera; limbs stay for stage 1
                root_mask = torch.zeros(55, 1)
                root_mask[[0, 3, 6, 9]] = 1.0
                params = params + [self.pose]
            else:
                root_mask = None
            if self.o.optimizer == "lbfgs" and stage == 1:
                opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, max_eval=iters, history_size=20,
                                        line_search_fn="strong_wolfe", tolerance_grad=1e-9,
                                        tolerance_change=1e-12)

                def closure() -> torch.Tensor:
                    value = self.backward(stage)
                    if progress is not None:
                        progress(1)
                    return value

                opt.step(closure)
                with torch.no_grad():
                    loss = self.loss(stage)
                continue
            opt = torch.optim.Adam(params, lr=self.o.lr)
            for _ in range(iters):
                loss = self.backward(stage)
                if root_mask is not None:
                    self.pose.grad.mul_(root_mask)
                opt.step()
                if progress is not None:
                    progress(1)
        with torch.no_grad():
            return FitResult(full_pose=clamp_pose(self.pose.detach().numpy()),
                             expression=self.expr.detach().numpy().astype(np.float32),
                             scale=self.log_scale.exp().numpy().astype(np.float32),
                             offset=self.offset.detach().numpy().astype(np.float32),
                             loss=float(loss))


def fit_landmarks(model: KeypointModel, lm: Landmarks, options: FitOptions | None = None,
                  progress: Callable[[int], None] | None = None) -> FitResult:
    """Fit the whole landmark sequence at once (see module docstring)."""
    return SequenceFitter(model, lm, options).run(progress)


def result_to_clip(fit: FitResult, fps: float, betas: np.ndarray | None = None, **meta) -> MotionClip:
    """Turn a fit into a MotionClip at the landmarks' rate ``fps`` (Hz).

    Translation (metres) is the pelvis' motion relative to frame 0 implied by the weak
    perspective camera with an assumed focal length of ``ASSUMED_FOCAL_HEIGHTS`` image
    heights: sideways and vertical from the image offset, depth from the scale.
    """
    T = fit.full_pose.shape[0]
    s = fit.scale.astype(np.float64)
    transl = np.zeros((T, 3), np.float32)
    transl[:, 0] = (fit.offset[:, 0] - fit.offset[0, 0]) / s
    transl[:, 1] = -(fit.offset[:, 1] - fit.offset[0, 1]) / s
    transl[:, 2] = ASSUMED_FOCAL_HEIGHTS * (1.0 / s[0] - 1.0 / s)
    clip = MotionClip.from_poses(fit.full_pose.reshape(T, -1), transl, fit.expression,
                                 np.zeros(10, np.float32) if betas is None else betas, fps,
                                 meta=MotionMeta(**meta))
    return clip
