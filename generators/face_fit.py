"""Fit SMPL-X jaw rotation + expression coefficients to a FLAME vertex sequence (FaceFormer).

FaceFormer (VOCASET model) writes absolute FLAME vertex positions, (T, 5023*3) metres at
30 Hz: the subject's template plus per-frame offsets, in FLAME's frame (y up, face +z).
SMPL-X's head has FLAME's topology; the licensed SMPL-X download ships the index of each
FLAME vertex in the SMPL-X mesh (``SMPL-X__FLAME_vertex_ids.npy``, 5023 ints). Given such
a correspondence this module finds, per frame, the jaw rotation (axis-angle, radians) and
expression coefficients whose SMPL-X face offsets best match FaceFormer's offsets in the
least-squares sense:

    min over (jaw, psi) of  sum_i || D_t[i] - (posed_i(jaw, psi) - rest_i) ||^2 + ridge * ||psi||^2

with ``posed_i = v_i + w_i (R(jaw) - I)(v_i - j_jaw)``, ``v_i = rest_i + E_i psi`` (linear
blend skinning with only the jaw joint rotated; pose correctives are ignored). It is solved
by Levenberg-Marquardt per frame, starting from the previous frames' solution.

Without the licensed file (the project's default body is not FLAME topology) the
correspondence is computed: the FLAME template is aligned to the body's head by a
similarity transform (centroids and RMS radius, then iterative closest points) and each
FLAME vertex takes its nearest head vertex. That correspondence is approximate, and the
default body's face has only its 16 named expression shapes plus the jaw, so only jaw
opening and those shapes come through (docs/generators.md gives the measured errors).

Pure numpy/scipy: this runs in vr-study's environment, not in FaceFormer's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vr_study.errors import InputError

#: FLAME's vertex count (VOCASET, FaceFormer's vocaset model)
FLAME_VERTICES = 5023
#: BIWI's vertex count (FaceFormer's biwi model): not FLAME topology, cannot be fitted
BIWI_VERTICES = 23370
JAW = 22
HEAD_JOINTS = (15, 22, 23, 24)  # head, jaw, left eye, right eye


@dataclass
class Correspondence:
    """FLAME vertex i corresponds to body vertex ``ids[i]``; ``rotation`` (3, 3) and ``scale``
    take FLAME-frame offsets to the body's frame; ``source`` says how it was made."""

    ids: np.ndarray
    rotation: np.ndarray
    scale: float
    source: str
    mean_distance_m: float = 0.0


@dataclass
class FaceFit:
    """Per-frame jaw (T, 3) axis-angle radians and expression (T, E); ``rms_residual_m``
    (T,) metres: RMS distance between the fitted and the given offsets over fitted vertices;
    ``rms_offset_m`` (T,): RMS of the given offsets (how much the face moved)."""

    jaw: np.ndarray
    expression: np.ndarray
    rms_residual_m: np.ndarray
    rms_offset_m: np.ndarray
    correspondence: Correspondence


def _rotvec_to_matrix(r: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(r.reshape(-1, 3)).as_matrix().reshape(r.shape[:-1] + (3, 3))


def head_vertices(body) -> np.ndarray:
    """Indices of the body's head vertices (skinned mostly to head, jaw and eyes)."""
    w = np.asarray(body.weights)
    return np.nonzero(w[:, list(HEAD_JOINTS)].sum(1) > 0.5)[0]


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares s, R, t with dst ~ s R src + t (Umeyama)."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    U, S, Vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.diag([1.0, 1.0, d])
    R = U @ D @ Vt
    s = float((S * np.diag(D)).sum() / (a ** 2).sum())
    return s, R, md - s * R @ ms


def computed_correspondence(body, template: np.ndarray, iterations: int = 30) -> Correspondence:
    """Nearest body head vertex for each FLAME template vertex after aligning the template
    to the head (centroid and RMS radius, then similarity ICP). ``template`` (V, 3) metres."""
    from scipy.spatial import cKDTree

    head = head_vertices(body)
    target = np.asarray(body.v_template, np.float64)[head]
    src = np.asarray(template, np.float64).reshape(-1, 3)
    s = np.sqrt(((target - target.mean(0)) ** 2).sum(1).mean() / ((src - src.mean(0)) ** 2).sum(1).mean())
    R = np.eye(3)
    t = target.mean(0) - s * src.mean(0)
    tree = cKDTree(target)
    for _ in range(iterations):
        moved = s * src @ R.T + t
        dist, nn = tree.query(moved)
        keep = dist <= np.percentile(dist, 90)  # ignore the worst matches (neck, scalp edges)
        s, R, t = _similarity(src[keep], target[nn[keep]])
    dist, nn = tree.query(s * src @ R.T + t)
    return Correspondence(head[nn], R, float(s), "computed (template aligned to the body's head, nearest vertex)",
                          float(dist.mean()))


def load_correspondence(path: str | Path, body) -> Correspondence:
    """SMPL-X's own FLAME correspondence (``SMPL-X__FLAME_vertex_ids.npy``, 5023 ints)."""
    path = Path(path)
    try:
        ids = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(path, None, f"cannot be read ({e})",
                         "give SMPL-X__FLAME_vertex_ids.npy from the SMPL-X download") from None
    ids = np.asarray(ids).reshape(-1)
    if ids.shape != (FLAME_VERTICES,) or not np.issubdtype(ids.dtype, np.integer):
        raise InputError(path, None, f"holds {ids.dtype} {ids.shape}, not {FLAME_VERTICES} vertex indices",
                         "give SMPL-X__FLAME_vertex_ids.npy from the SMPL-X download")
    if ids.min() < 0 or ids.max() >= body.num_vertices:
        raise InputError(path, None, f"indexes vertex {int(ids.max())} but the body model has {body.num_vertices}",
                         "use it with the SMPL-X model it came with (flame_vertex_ids and body_model must match)")
    return Correspondence(ids.astype(np.int64), np.eye(3), 1.0, f"{path.name} (SMPL-X's FLAME correspondence)")


def flame_frames(vertices: np.ndarray, source: str | Path = "FaceFormer output") -> np.ndarray:
    """(T, 5023, 3) float64 from FaceFormer's (T, 5023*3); clear errors for other layouts."""
    v = np.asarray(vertices)
    if v.ndim == 2 and v.shape[1] % 3 == 0:
        v = v.reshape(v.shape[0], -1, 3)
    if v.ndim != 3 or v.shape[2] != 3 or v.shape[0] == 0:
        raise InputError(source, None, f"has shape {np.asarray(vertices).shape}, not (T, 5023*3) vertex positions",
                         "give FaceFormer's demo/result/<name>.npy")
    if v.shape[1] == BIWI_VERTICES:
        raise InputError(source, None, "holds BIWI vertices (23370 per frame), which have no SMPL-X correspondence",
                         "run FaceFormer's vocaset model (FLAME topology, 5023 vertices)")
    if v.shape[1] != FLAME_VERTICES:
        raise InputError(source, None, f"holds {v.shape[1]} vertices per frame, not FLAME's {FLAME_VERTICES}",
                         "run FaceFormer's vocaset model")
    if not np.all(np.isfinite(v)):
        raise InputError(source, None, "contains NaN or infinite values", "check the FaceFormer run")
    return v.astype(np.float64)


def fit_face(vertices: np.ndarray, body, correspondence: Correspondence, template: np.ndarray | None = None,
             ridge: float = 1e-6, iterations: int = 12, chunk: int = 32) -> FaceFit:
    """Jaw + expression per frame for FLAME ``vertices`` (T, 5023*3 or T, 5023, 3), metres.

    ``template`` (5023, 3): the subject's neutral face FaceFormer added its offsets to
    (FaceFormer's templates.pkl entry); without it the first frame is taken as neutral.
    ``ridge``: Tikhonov weight on the expression coefficients, relative to the mean
    squared norm of an expression direction.
    """
    V = flame_frames(vertices)
    T = V.shape[0]
    tmpl = V[0] if template is None else np.asarray(template, np.float64).reshape(FLAME_VERTICES, 3)
    c = correspondence
    D = (V - tmpl[None]) @ (c.scale * c.rotation).T  # offsets in the body's frame
    sh = body.shaped(None)
    ids = c.ids
    E = np.asarray(body.exprdirs, np.float64)[ids]            # (N, 3, K)
    w = np.asarray(body.weights, np.float64)[ids, JAW]       # (N,)
    rest = np.asarray(sh.v_shaped, np.float64)[ids]          # (N, 3)
    j = np.asarray(sh.joints, np.float64)[JAW]
    # only vertices the face model can move take part
    active = (w > 1e-6) | np.any(E != 0, axis=(1, 2))
    if not np.any(active):
        raise InputError(None, "body_model", "has no jaw-skinned or expression vertices among the FLAME correspondences",
                         "use an SMPL-X model with a face (expression directions) and the matching vertex ids")
    E, w, rest, D = E[active], w[active], rest[active], D[:, active]
    N, K = E.shape[0], E.shape[2]
    Ef = E.reshape(N * 3, K)
    lam = ridge * float((Ef ** 2).sum()) / max(K, 1)
    chunk = max(1, min(chunk, int(2e7 // (3 * N * (K + 3)))))
    I3 = np.eye(3)

    def residual(th: np.ndarray, ps: np.ndarray, target: np.ndarray):
        v = rest[None] + np.einsum("nck,tk->tnc", E, ps)
        R = _rotvec_to_matrix(th)
        model = v + w[None, :, None] * np.einsum("tnc,tdc->tnd", v - j, R - I3) - rest[None]
        r = target - model.reshape(len(th), -1)
        return r, v, R, (r ** 2).sum(1) + lam * (ps ** 2).sum(1)

    jaw = np.zeros((T, 3))
    psi = np.zeros((T, K))
    eps = 1e-6
    for a in range(0, T, chunk):
        b = min(T, a + chunk)
        n = b - a
        th = np.zeros((n, 3)) if a == 0 else np.repeat(jaw[a - 1:a], n, 0)
        ps = np.zeros((n, K)) if a == 0 else np.repeat(psi[a - 1:a], n, 0)
        target = D[a:b].reshape(n, -1)
        mu = np.full(n, 1e-3)
        r, v, R, cost = residual(th, ps, target)
        for _ in range(iterations):  # Levenberg-Marquardt, per frame
            d = v - j
            J = np.empty((n, N * 3, 3 + K))
            for k in range(3):
                dth = th.copy()
                dth[:, k] += eps
                dR = (_rotvec_to_matrix(dth) - R) / eps
                J[:, :, k] = (w[None, :, None] * np.einsum("tnc,tdc->tnd", d, dR)).reshape(n, -1)
            # d posed / d psi = (I + w (R - I)) E
            J[:, :, 3:] = (E[None] + w[None, :, None, None]
                           * np.einsum("tdc,nck->tndk", R - I3, E)).reshape(n, N * 3, K)
            A = np.einsum("tmi,tmj->tij", J, J)
            A[:, 3:, 3:] += lam * np.eye(K)
            g = np.einsum("tmi,tm->ti", J, r)
            g[:, 3:] -= lam * ps
            diag = np.einsum("tii->ti", A)
            step = np.linalg.solve(A + (mu[:, None] * diag + 1e-12)[:, :, None] * np.eye(3 + K)[None], g[..., None])[..., 0]
            r2, v2, R2, cost2 = residual(th + step[:, :3], ps + step[:, 3:], target)
            ok = cost2 <= cost
            th[ok] += step[ok, :3]
            ps[ok] += step[ok, 3:]
            r[ok], v[ok], R[ok], cost[ok] = r2[ok], v2[ok], R2[ok], cost2[ok]
            mu = np.where(ok, mu * 0.3, mu * 10.0)
            if np.abs(step[ok]).max(initial=0.0) < 1e-7 and ok.all():
                break
        jaw[a:b], psi[a:b] = th, ps
    # residuals of the final solution
    v = rest[None] + np.einsum("nck,tk->tnc", E, psi)
    R = _rotvec_to_matrix(jaw)
    model = v + w[None, :, None] * np.einsum("tnc,tdc->tnd", v - j, R - np.eye(3)) - rest[None]
    res = np.sqrt(((D - model) ** 2).sum(-1).mean(-1))
    off = np.sqrt((D ** 2).sum(-1).mean(-1))
    return FaceFit(jaw.astype(np.float32), psi.astype(np.float32), res, off, correspondence)


def face_clip(fit: FaceFit, fps: float, num_expression: int = 100):
    """A MotionClip holding only the fitted jaw and expression (everything else at rest)."""
    from vr_study.motion import MotionClip

    T = fit.jaw.shape[0]
    clip = MotionClip.zeros(T, float(fps))
    clip.jaw_pose = fit.jaw.copy()
    expr = np.zeros((T, max(num_expression, fit.expression.shape[1])), np.float32)
    expr[:, :fit.expression.shape[1]] = fit.expression
    clip.expression = expr
    return clip
