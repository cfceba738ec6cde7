"""A differentiable SMPL-X keypoint model: the 127 keypoints of ``smplx.SMPLX`` without the mesh.

Fitting needs keypoints (joints, a few surface points, face landmarks), not 10,475 skinned
vertices. :class:`KeypointModel` takes the arrays of an ``smplx.SMPLX`` module, keeps only
the vertices that the keypoints read, and runs smplx's own forward kinematics
(``smplx.lbs.batch_rigid_transform``) and linear blend skinning on those. For a fixed
shape (betas) its output equals ``smplx.SMPLX(...)(...).joints`` (to float32 rounding) when
the expression is zero; a non-zero expression moves smplx's rest joints by a fraction of a
millimetre (the joint regressor reads face vertices), which this model ignores.

Coordinates: SMPL-X model space, metres, y up, the body facing +z.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from smplx.lbs import batch_rigid_transform, batch_rodrigues

from vr_study.errors import InputError


def _no_denormals(t: torch.Tensor) -> torch.Tensor:
    """float32 copy with subnormal numbers (|x| < 1e-30) set to zero: model files that store
    values like 1e-45 otherwise make every multiply-add on the CPU many times slower."""
    t = t.float().clone()
    t[t.abs() < 1e-30] = 0.0
    return t


@dataclass
class KeypointModel:
    """Keypoints of an SMPL-X body of fixed shape. Tensors are float32 on the CPU.

    ``rest_joints`` (55,3) m; ``parents`` (55,) long; ``vert_template`` (S,3) m for the S
    kept vertices; ``vert_exprdirs`` (S,3,E); ``vert_posedirs`` (486, S*3);
    ``vert_weights`` (S,55); ``vertex_kp`` (21,) rows of the kept vertices giving the 21
    vertex keypoints; ``lmk_rows`` (51,3) rows of each landmark's triangle, ``lmk_bary``
    (51,3).
    """

    rest_joints: torch.Tensor
    parents: torch.Tensor
    vert_template: torch.Tensor
    vert_exprdirs: torch.Tensor
    vert_posedirs: torch.Tensor
    vert_weights: torch.Tensor
    vertex_kp: torch.Tensor
    lmk_rows: torch.Tensor
    lmk_bary: torch.Tensor

    @property
    def num_expression(self) -> int:
        return int(self.vert_exprdirs.shape[-1])

    @classmethod
    def from_smplx(cls, body: "torch.nn.Module", betas: np.ndarray | None = None) -> "KeypointModel":
        """Build from a loaded ``smplx.SMPLX`` module and shape ``betas`` (B,) (zeros if None)."""
        with torch.no_grad():
            nb = body.shapedirs.shape[-1]
            b = torch.zeros(nb) if betas is None else torch.as_tensor(np.asarray(betas, np.float32)[:nb])
            b = torch.nn.functional.pad(b, (0, nb - b.shape[0]))
            v_shaped = body.v_template + torch.einsum("vck,k->vc", body.shapedirs, b)
            rest_joints = body.J_regressor @ v_shaped
            extra = body.vertex_joint_selector.extra_joints_idxs.long()
            tri = body.faces_tensor[body.lmk_faces_idx.long()].long()  # (51,3)
            keep, inverse = torch.unique(torch.cat([extra, tri.reshape(-1)]), return_inverse=True)
            V = v_shaped.shape[0]
            posedirs = body.posedirs.reshape(-1, V, 3)[:, keep].reshape(body.posedirs.shape[0], -1)
            return cls(rest_joints=rest_joints.float().clone(), parents=body.parents.long().clone(),
                       vert_template=_no_denormals(v_shaped[keep]),
                       vert_exprdirs=_no_denormals(body.expr_dirs[keep]),
                       vert_posedirs=_no_denormals(posedirs),
                       vert_weights=_no_denormals(body.lbs_weights[keep]),
                       vertex_kp=inverse[: extra.shape[0]].clone(),
                       lmk_rows=inverse[extra.shape[0]:].reshape(-1, 3).clone(),
                       lmk_bary=body.lmk_bary_coords.float().clone())

    def keypoints(self, full_pose: torch.Tensor, expression: torch.Tensor | None = None) -> torch.Tensor:
        """(N,55,3) axis-angle radians (+ (N,E) expression) -> (N,127,3) keypoints in metres."""
        N = full_pose.shape[0]
        rot = batch_rodrigues(full_pose.reshape(-1, 3)).reshape(N, -1, 3, 3)
        joints, A = batch_rigid_transform(rot, self.rest_joints.expand(N, -1, -1), self.parents)
        ident = torch.eye(3, dtype=rot.dtype)
        pose_feature = (rot[:, 1:] - ident).reshape(N, -1)
        v = self.vert_template + (pose_feature @ self.vert_posedirs).reshape(N, -1, 3)
        if expression is not None and expression.shape[-1]:
            v = v + torch.einsum("nk,sck->nsc", expression, self.vert_exprdirs[..., : expression.shape[-1]])
        T = torch.einsum("sj,njab->nsab", self.vert_weights, A)
        v = torch.einsum("nsab,nsb->nsa", T[..., :3, :3], v) + T[..., :3, 3]
        lmk = torch.einsum("nlkc,lk->nlc", v[:, self.lmk_rows], self.lmk_bary)
        return torch.cat([joints, v[:, self.vertex_kp], lmk], dim=1)


def load_smplx(path: str | Path, num_expression: int = 10) -> "torch.nn.Module":
    """Load an SMPL-X model file (``.npz``/``.pkl``) with unmodified ``smplx``.

    Full (non-PCA) hand poses with SMPL-X's flat-hand convention, as MotionClip uses.
    """
    import smplx

    path = Path(path)
    if not path.exists():
        raise InputError(path, "--body-model", "does not exist",
                         "give an SMPL-X model file (.npz/.pkl) or run `vr-study body build`")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints notes about coefficient counts
            return smplx.SMPLX(model_path=str(path), ext=path.suffix.lstrip(".") or "npz",
                               use_pca=False, flat_hand_mean=True,
                               num_expression_coeffs=num_expression, num_betas=10)
    except (KeyError, ValueError, OSError, RuntimeError, IndexError, AttributeError, TypeError) as e:
        raise InputError(path, "--body-model", f"is not a usable SMPL-X model file ({e.__class__.__name__}: {e})",
                         "give an SMPL-X .npz/.pkl with the keys smplx needs") from None
