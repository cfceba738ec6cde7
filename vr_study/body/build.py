"""Build the default body model: an SMPL-X-compatible mannequin made by this project.

``build_default_body()`` returns the arrays of an SMPL-X ``.npz`` model file;
``write_default_body(path)`` saves them (``np.savez_compressed``, atomically). The result is
deterministic: the same code gives the same arrays (the test suite rebuilds and compares).

What it makes (metres, Y up, facing +Z, pelvis joint near the origin, about 1.70 m tall):

- a smooth implicit body (:mod:`vr_study.body.shape`) meshed by marching cubes, decimated
  and split to exactly 10475 vertices, with two eyeballs; vertices re-ordered so that the
  ids hard-coded in ``smplx/vertex_ids.py`` (nose, eyes, ears, finger tips, toes, heels)
  sit on those body parts, so unmodified ``smplx`` loads and poses it;
- SMPL-X's 55-joint tree, a joint regressor that reproduces the rest joints exactly,
  smooth skinning weights (at most 4 joints per vertex);
- 10 shape directions (:data:`BETA_NAMES`) and 16 expression directions
  (:data:`EXPRESSION_NAMES`, one FACS action unit each: :data:`EXPRESSION_ACTION_UNITS`)
  in SMPL-X's 400-column ``shapedirs`` layout (columns 0-299 shape, 300-399 expression;
  unused columns are zero); ``posedirs`` all zero;
- ``vertex_colors`` (V, 3) linear RGB: skin, lips, brows, hair, clothes, sclera/iris/pupil
  (:data:`COLORS`; smplx ignores the key);
- a hand pose PCA (``hands_components{l,r}``, 45 x 45, orthonormal rows) and a relaxed
  hand mean, 51 face landmarks and a 17-point face contour.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vr_study.body.meshing import (flip_edges, icosphere, keep_largest_component,
                                   marching_cubes_sparse, split_to_count)
from vr_study.body.sdf import union_distance
from vr_study.body.shape import EYEBALL_RADIUS_M, MOUTH_HALF_WIDTH_M, body_primitives
from vr_study.body.skeleton import (FLOOR_Y_M, JOINT_INDEX as JI, NUM_JOINTS, PARENTS,
                                    default_rest_joints)

NUM_VERTICES = 10475
SHAPE_SPACE_DIM = 300  # SMPL-X's column where the expression directions start
NUM_SHAPEDIRS = 400
NUM_POSEDIRS = (NUM_JOINTS - 1) * 9  # 486
GRID_STEP_M = 0.002
MAX_INFLUENCES = 4

#: What a unit value of each shape coefficient (beta) does to the default body.
BETA_NAMES: tuple[str, ...] = (
    "height", "girth", "shoulder_width", "hip_width", "leg_length", "arm_length",
    "head_size", "belly", "chest_depth", "torso_length",
)

#: What a unit value of each expression coefficient does to the default body's face.
EXPRESSION_NAMES: tuple[str, ...] = (
    "mouth_open", "smile", "frown", "brows_up", "brows_down", "eye_squint", "cheek_raise",
    "lip_pucker", "mouth_stretch", "upper_lip_raise", "lower_lip_depress", "nose_wrinkle",
    "eyes_wide", "blink", "cheek_puff", "lips_press",
)

#: The FACS action unit each expression direction models (Ekman & Friesen's Facial Action
#: Coding System); docs/body.md describes each.
EXPRESSION_ACTION_UNITS: dict[str, str] = {
    "mouth_open": "AU26 jaw drop", "smile": "AU12 lip corner puller",
    "frown": "AU15 lip corner depressor + AU17 chin raiser", "brows_up": "AU1+AU2 inner and outer brow raiser",
    "brows_down": "AU4 brow lowerer", "eye_squint": "AU7 lid tightener", "cheek_raise": "AU6 cheek raiser",
    "lip_pucker": "AU18 lip pucker", "mouth_stretch": "AU20 lip stretcher", "upper_lip_raise": "AU10 upper lip raiser",
    "lower_lip_depress": "AU16 lower lip depressor", "nose_wrinkle": "AU9 nose wrinkler",
    "eyes_wide": "AU5 upper lid raiser", "blink": "AU45 blink", "cheek_puff": "AU34 puff",
    "lips_press": "AU24 lip presser",
}

MOUTH_Y_M = 0.2072  # height of the lips' parting line, metres
MOUTH_Z_M = 0.094


# ------------------------------------------------------------------ geometry helpers

def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances (N,) from points to segment a-b and the closest points (N, 3)."""
    ba = b - a
    denom = float(ba @ ba)
    t = np.zeros(len(p)) if denom < 1e-12 else np.clip(((p - a) @ ba) / denom, 0.0, 1.0)
    c = a + t[:, None] * ba
    return np.linalg.norm(p - c, axis=1), c


def bone_segments(J: np.ndarray, extras: dict[str, np.ndarray]) -> np.ndarray:
    """(55, 2, 3) the piece of skeleton each joint's rotation moves, metres."""
    seg = np.zeros((NUM_JOINTS, 2, 3))
    for j in range(NUM_JOINTS):
        seg[j] = J[j], J[j]
    child = {0: J[0] + np.array([0, -0.08, 0]), 3: J[6], 6: J[9], 9: J[12], 12: J[15],
             15: extras["head_top"], 22: extras["chin"]}
    for side in ("left_", "right_"):
        child.update({
            JI[side + "hip"]: J[JI[side + "knee"]], JI[side + "knee"]: J[JI[side + "ankle"]],
            JI[side + "ankle"]: J[JI[side + "foot"]], JI[side + "foot"]: extras[side + "toe_tip"],
            JI[side + "collar"]: J[JI[side + "shoulder"]], JI[side + "shoulder"]: J[JI[side + "elbow"]],
            JI[side + "elbow"]: J[JI[side + "wrist"]], JI[side + "wrist"]: J[JI[side + "middle1"]],
        })
        for finger in ("index", "middle", "pinky", "ring", "thumb"):
            for k in (1, 2, 3):
                nxt = extras[f"{side}{finger}_tip"] if k == 3 else J[JI[f"{side}{finger}{k + 1}"]]
                child[JI[f"{side}{finger}{k}"]] = nxt
    for j, c in child.items():
        seg[j, 1] = c
    return seg


def _gauss(v: np.ndarray, centre, sigma: float) -> np.ndarray:
    d2 = ((v - np.asarray(centre)) ** 2).sum(1)
    return np.exp(-0.5 * d2 / sigma ** 2)


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _adjacency(faces: np.ndarray, n: int):
    import scipy.sparse as sp

    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.concatenate([e, e[:, ::-1]])
    A = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    A.data[:] = 1.0
    deg = np.asarray(A.sum(1)).ravel()
    return sp.diags(1.0 / np.maximum(deg, 1)) @ A


# ------------------------------------------------------------------ mesh

def _eyeball(centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v, f = icosphere(2)
    # turn the sphere so that one of its original vertices looks straight ahead (+Z): the pupil
    target = v[5] / np.linalg.norm(v[5])
    angle = np.arctan2(target[1], target[2])
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    v = v @ rot.T
    return centre + v * EYEBALL_RADIUS_M, f


def _build_mesh(J: np.ndarray, extras: dict[str, np.ndarray]):
    prims = body_primitives(J, extras)
    lo = np.array([-0.93, FLOOR_Y_M - 0.012, -0.16])
    hi = np.array([0.93, 0.42, 0.19])
    v, f = marching_cubes_sparse(prims, lo, hi, GRID_STEP_M, FLOOR_Y_M)
    v, f = keep_largest_component(v, f)
    eyes = [_eyeball(J[JI["left_eye"]]), _eyeball(J[JI["right_eye"]])]
    n_eye = sum(len(e[0]) for e in eyes)
    body_count = NUM_VERTICES - n_eye
    v, f = _decimate_by_region(v, f, body_count - 250)

    def sdf(p: np.ndarray) -> np.ndarray:
        return union_distance(p, prims, FLOOR_Y_M)

    if len(v) > body_count:
        raise RuntimeError(f"decimation left {len(v)} vertices, more than {body_count}")
    f = flip_edges(v, f)
    v = _relax(v, f, sdf)
    v, f = split_to_count(v, f, body_count, sdf)
    f = flip_edges(v, f)
    v = _relax(v, f, sdf, iterations=3)
    v = _unfold(v, f, sdf)
    part = np.zeros(NUM_VERTICES, dtype=np.int64)  # 0 body, 1 left eyeball, 2 right eyeball
    verts, faces = [v], [f]
    n = len(v)
    for k, (ev, ef) in enumerate(eyes):
        verts.append(ev)
        faces.append(ef + n)
        part[n:n + len(ev)] = k + 1
        n += len(ev)
    return np.concatenate(verts), np.concatenate(faces).astype(np.int64), part, prims


#: Share of the vertex budget per region: the face and hands keep more detail.
REGION_BUDGET = {"head": 0.30, "left_hand": 0.095, "right_hand": 0.095, "rest": 0.51}


def _region_of_faces(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    c = v[f].mean(1)
    region = np.full(len(f), 3)
    region[(c[:, 1] > 0.172) & (np.abs(c[:, 0]) < 0.12)] = 0
    region[c[:, 0] > 0.66] = 1
    region[c[:, 0] < -0.66] = 2
    return region


def _decimate_by_region(v: np.ndarray, f: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric decimation of each region to its share of ``count`` vertices, borders kept.

    Region borders are left untouched by the decimation, so the pieces weld back exactly.
    """
    import fast_simplification

    region = _region_of_faces(v, f)
    pieces_v, pieces_f = [], []
    offset = 0
    for r, share in enumerate(REGION_BUDGET.values()):
        sub = f[region == r]
        used = np.unique(sub)
        remap = np.full(len(v), -1)
        remap[used] = np.arange(len(used))
        sv, sf = fast_simplification.simplify(v[used].astype(np.float64), remap[sub].astype(np.int32),
                                              target_count=int(2 * share * count), agg=5.0,
                                              preserve_border=True)
        pieces_v.append(sv)
        pieces_f.append(np.asarray(sf, dtype=np.int64) + offset)
        offset += len(sv)
    verts = np.concatenate(pieces_v)
    faces = np.concatenate(pieces_f)
    key = np.round(verts / 1e-7).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    verts, faces = verts[first], inverse.reshape(-1)[faces]
    ok = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    return keep_largest_component(verts, faces[ok])


def _relax(v: np.ndarray, f: np.ndarray, sdf, iterations: int = 12) -> np.ndarray:
    """Even out the triangles: tangential Laplacian steps, each re-projected on the surface."""
    from vr_study.body.meshing import project_to_surface

    A = _adjacency(f, len(v))
    for _ in range(iterations):
        n = _vertex_normals(v, f)
        step = 0.5 * (A @ v - v)
        step -= n * (step * n).sum(1, keepdims=True)
        v = project_to_surface(v + step, sdf, iterations=2)
    return v


def _unfold(v: np.ndarray, f: np.ndarray, sdf, passes: int = 8) -> np.ndarray:
    """Smooth away small folds: vertices of faces that disagree with their vertex normals."""
    from vr_study.body.meshing import project_to_surface

    A = _adjacency(f, len(v))
    for _ in range(passes):
        vn = _vertex_normals(v, f)
        fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-12)
        bad_f = (fn[:, None, :] * vn[f]).sum(-1).min(1) < 0.5
        if not bad_f.any():
            break
        bad = np.unique(f[bad_f])
        step = np.asarray(A[bad] @ v) - v[bad]
        step -= vn[bad] * (step * vn[bad]).sum(1, keepdims=True)  # tangential only: tips stay
        v = v.copy()
        v[bad] = project_to_surface(v[bad] + step, sdf, iterations=2)
    return v


def _vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def _place_vertex_ids(v: np.ndarray, part: np.ndarray, prims, J: np.ndarray, extras: dict[str, np.ndarray]) -> np.ndarray:
    """Permutation ``order`` (new index -> old index) putting smplx's landmark ids in place."""
    from smplx.vertex_ids import vertex_ids

    ids = vertex_ids["smplx"]
    body = part == 0
    additive = [p for p in prims if not p.subtract]
    owner = np.array([additive[k].name for k in np.argmin(
        np.stack([p.distance(v) for p in additive], axis=1), axis=1)])

    def pick(centre, radius, direction, mask=None) -> int:
        m = body if mask is None else mask
        cand = np.nonzero(m & (np.linalg.norm(v - centre, axis=1) < radius))[0]
        if len(cand) == 0:
            raise RuntimeError(f"no vertex near {centre}")
        return int(cand[np.argmax(v[cand] @ np.asarray(direction, float))])

    chosen: dict[str, int] = {}
    chosen["nose"] = pick(extras["nose_tip"], 0.03, (0, -0.2, 1))
    chosen["leye"] = pick(J[JI["left_eye"]], 0.02, (0, 0, 1), part == 1)
    chosen["reye"] = pick(J[JI["right_eye"]], 0.02, (0, 0, 1), part == 2)
    for s, side, p in ((1, "left_", "l"), (-1, "right_", "r")):
        chosen[f"{p}ear"] = pick(np.array([0.077 * s, 0.287, -0.004]), 0.03, (s, 0, 0))
        for finger in ("thumb", "index", "middle", "ring", "pinky"):
            tip = extras[f"{side}{finger}_tip"]
            d = tip - J[JI[f"{side}{finger}3"]]
            chosen[f"{p}{finger}"] = pick(tip, 0.03, d / np.linalg.norm(d), body & (owner == f"{side}{finger}3"))
        P = p.upper()
        toe = extras[side + "toe_tip"]
        chosen[f"{P}BigToe"] = pick(toe, 0.06, (-0.5 * s, 0.3, 1))
        chosen[f"{P}SmallToe"] = pick(toe + np.array([0.03 * s, 0, -0.02]), 0.06, (0.7 * s, 0.3, 0.7))
        chosen[f"{P}Heel"] = pick(extras[side + "heel"], 0.06, (0, -0.6, -1))
    if len(set(chosen.values())) != len(chosen):
        raise RuntimeError("two smplx landmark ids picked the same vertex")
    order = np.arange(len(v))
    pos = np.arange(len(v))  # pos[old] = new index
    for name, old in chosen.items():
        new = ids[name]
        displaced = order[new]
        here = pos[old]
        order[new], order[here] = old, displaced
        pos[old], pos[displaced] = new, here
    return order


# ------------------------------------------------------------------ rigging

def _skinning_weights(v, faces, part, prims, seg) -> tuple[np.ndarray, np.ndarray]:
    """Weights (V, 55) summing to one with at most 4 joints each, and each vertex's main bone."""
    n = len(v)
    additive = [p for p in prims if not p.subtract]
    dist = np.stack([p.distance(v) for p in additive], axis=1)
    owner = np.argmin(dist, axis=1)
    seg_d = np.stack([_segment_distance(v, seg[j, 0], seg[j, 1])[0] for j in range(NUM_JOINTS)], axis=1)
    label = np.zeros(n, dtype=np.int64)
    for k, prim in enumerate(additive):
        sel = owner == k
        bones = np.array(prim.bones)
        label[sel] = bones[np.argmin(seg_d[np.ix_(sel, bones)], axis=1)]
    head = np.isin(label, (12, 15, 22))
    jaw_zone = (head & (v[:, 1] < MOUTH_Y_M) & (v[:, 2] > -0.005)
                & (v[:, 1] > 0.166 + (0.075 - v[:, 2]) * 0.30))
    label[head] = np.where(jaw_zone[head], 22, np.where(v[head, 1] > 0.19, 15, label[head]))
    label[part == 1] = JI["left_eye"]
    label[part == 2] = JI["right_eye"]
    W = np.zeros((n, NUM_JOINTS))
    W[np.arange(n), label] = 1.0
    A = _adjacency(faces, n)
    is_hand = label >= 25
    for it in range(24):
        Wn = A @ W
        rate = np.where(is_hand, 0.35, 0.5)
        if it >= 10:  # the hands and face get narrower blends than the limbs
            rate = np.where(is_hand | np.isin(label, (15, 22)), 0.0, rate)
        W = W + rate[:, None] * (Wn - W)
    # the jaw pulls the chin and the skin under it, not the neck
    keep_jaw = _smoothstep(v[:, 1], 0.138, 0.185)
    W[:, 15] += W[:, 22] * (1 - keep_jaw)
    W[:, 22] *= keep_jaw
    # the lips part cleanly: below the parting line follows the jaw, above it the head
    near_mouth = (np.abs(v[:, 0]) < MOUTH_HALF_WIDTH_M + 0.012) & (np.abs(v[:, 1] - MOUTH_Y_M) < 0.02) & \
        (v[:, 2] > 0.05) & (part == 0)
    jaw_share = 1.0 - _smoothstep(v[:, 1], MOUTH_Y_M - 0.0015, MOUTH_Y_M + 0.0015)
    edge = _smoothstep(np.abs(v[:, 0]), MOUTH_HALF_WIDTH_M + 0.012, MOUTH_HALF_WIDTH_M)
    jaw_share = jaw_share * edge + W[:, 22] * (1 - edge)
    hj = W[near_mouth, 15] + W[near_mouth, 22]
    W[near_mouth, 22] = hj * jaw_share[near_mouth]
    W[near_mouth, 15] = hj * (1 - jaw_share[near_mouth])
    # keep the strongest influences, renormalise
    keep = np.argsort(-W, axis=1, kind="stable")[:, :MAX_INFLUENCES]
    Wk = np.zeros_like(W)
    rows = np.arange(n)[:, None]
    Wk[rows, keep] = W[rows, keep]
    Wk[Wk < 1e-3] = 0.0
    Wk /= Wk.sum(1, keepdims=True)
    return Wk, label


def _joint_regressor(v: np.ndarray, part: np.ndarray, J: np.ndarray) -> np.ndarray:
    """(55, V) non-negative-leaning rows summing to one with ``J_regressor @ v == J`` exactly.

    Each joint is a convex combination (non-negative least squares) of the vertices around
    it, then nudged by the smallest correction that makes the combination exact.
    """
    from scipy.optimize import nnls

    R = np.zeros((NUM_JOINTS, len(v)))
    body = np.nonzero(part == 0)[0]
    for j in range(NUM_JOINTS):
        if j in (JI["left_eye"], JI["right_eye"]):
            idx = np.nonzero(part == (1 if j == JI["left_eye"] else 2))[0]
        elif j in (0, 3, 6, 9, 12):  # trunk joints: the ring of skin around them
            slab = (np.abs(v[body, 1] - J[j, 1]) < 0.02) & (np.abs(v[body, 0]) < (0.08 if j == 12 else 0.17))
            idx = body[slab]
        else:
            near = np.argsort(np.linalg.norm(v[body] - J[j], axis=1), kind="stable")
            idx = body[near[:60 if j < 25 else 30]]
        X = v[idx]
        A = np.vstack([X.T, np.ones(len(idx))])
        b = np.concatenate([J[j], [1.0]])
        scale = np.array([1.0, 1.0, 1.0, 0.1])[:, None]
        w, _ = nnls(A / scale, b / scale[:, 0])
        if w.sum() <= 0:
            w = np.full(len(idx), 1.0 / len(idx))
        delta = np.linalg.lstsq(A, b - A @ w, rcond=None)[0]
        R[j, idx] = w + delta
    return R


# ------------------------------------------------------------------ blend shapes

def _shape_directions(v: np.ndarray, label: np.ndarray, seg: np.ndarray, J: np.ndarray) -> np.ndarray:
    """(V, 3, 10) displacement per unit beta, metres (see BETA_NAMES)."""
    n = len(v)
    D = np.zeros((n, 3, len(BETA_NAMES)))
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    sx = np.sign(x)
    ax = np.zeros_like(v)  # closest point on each vertex's own bone
    for j in np.unique(label):
        sel = label == j
        ax[sel] = _segment_distance(v[sel], seg[j, 0], seg[j, 1])[1]
    radial = v - ax
    head = np.isin(label, (12, 15, 22, 23, 24))
    hand = label >= 25
    arm = (np.abs(x) > 0.16) & (y > -0.05) & ~head
    D[:, :, 0] = (v - np.array([0.0, FLOOR_Y_M, 0.0])) * (0.045 / 1.70)
    D[:, :, 1] = radial * (0.22 * (~head & ~hand))[:, None]
    D[:, 0, 2] = 0.022 * sx * _smoothstep(np.abs(x), 0.04, 0.19) * _smoothstep(y, -0.20, 0.0) * ~head
    D[:, 0, 3] = 0.018 * sx * _smoothstep(np.abs(x), 0.0, 0.16) * (1 - _smoothstep(y, -0.30, -0.12)) * ~arm
    D[:, 1, 4] = -0.06 * np.clip((-0.45 - y) / (-0.45 - FLOOR_Y_M), 0.0, 1.0)
    D[:, 0, 5] = 0.04 * sx * np.clip((np.abs(x) - 0.18) / 0.52, 0.0, 1.0) * arm
    D[:, :, 6] = (v - J[JI["head"]] - np.array([0.0, 0.05, 0.0])) * (0.08 * head)[:, None]
    belly = _gauss(v, (0.0, -0.21, 0.10), 0.09) * ~arm
    D[:, 2, 7] = 0.035 * belly
    D[:, 1, 7] = -0.005 * belly
    torso = ~head & ~arm & (y > -0.5)
    D[:, 2, 8] = 0.14 * (z - 0.0) * torso * _smoothstep(y, -0.45, -0.3)
    D[:, 1, 9] = 0.04 * _smoothstep(y, -0.30, 0.05)
    return D


def _expression_directions(v: np.ndarray, W: np.ndarray, J: np.ndarray, part: np.ndarray) -> np.ndarray:
    """(V, 3, 16) displacement per unit expression coefficient, metres (see EXPRESSION_NAMES).

    Each direction models one FACS action unit (:data:`EXPRESSION_ACTION_UNITS`); sizes are
    chosen so that 1.0 is a clearly visible, full-strength action on a 1.70 m adult head.
    """
    n = len(v)
    E = np.zeros((n, 3, len(EXPRESSION_NAMES)))
    face = ((part == 0) & (v[:, 2] > 0.02) & (v[:, 1] > 0.15)).astype(float)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    sx = np.sign(x)
    ax = np.abs(x)
    my, mz, w = MOUTH_Y_M, MOUTH_Z_M - 0.006, MOUTH_HALF_WIDTH_M
    corner = np.array([w, my, mz - 0.004])
    corners = (_gauss(v, corner * [1, 1, 1], 0.010) + _gauss(v, corner * [-1, 1, 1], 0.010)) * face
    # the lip corner puller acts along the whole lip line, strongest at the corners (AU12)
    lip_line = np.exp(-0.5 * ((y - my) / 0.011) ** 2) * _smoothstep(ax, 0.0, w) * \
        _smoothstep(ax, w + 0.030, w + 0.004) * face * (z > mz - 0.035)
    mouth = _gauss(v, (0.0, my, mz), 0.016) * face
    upper = mouth * _smoothstep(y, my - 0.001, my + 0.004)
    lower = mouth * (1 - _smoothstep(y, my - 0.004, my + 0.001))
    chin = _gauss(v, (0.0, 0.180, 0.085), 0.012) * face
    cheeks = (_gauss(v, (0.040, 0.255, 0.075), 0.017) + _gauss(v, (-0.040, 0.255, 0.075), 0.017)) * face
    nasolabial = (_gauss(v, (0.030, 0.228, 0.085), 0.010) + _gauss(v, (-0.030, 0.228, 0.085), 0.010)) * face
    brow = np.minimum(1.0, sum(_gauss(v, (bx, 0.313, 0.084), 0.014) for bx in (-0.047, -0.018, 0.018, 0.047))) * face
    inner_brow = (_gauss(v, (0.013, 0.308, 0.092), 0.011) + _gauss(v, (-0.013, 0.308, 0.092), 0.011)) * face
    eye_l, eye_r = J[JI["left_eye"]], J[JI["right_eye"]]
    r = EYEBALL_RADIUS_M
    below_eye = (_gauss(v, eye_l + [0, -0.012, 0.010], 0.008) + _gauss(v, eye_r + [0, -0.012, 0.010], 0.008)) * face
    above_eye = (_gauss(v, eye_l + [0, 0.011, 0.010], 0.008) + _gauss(v, eye_r + [0, 0.011, 0.010], 0.008)) * face
    nose_side = (_gauss(v, (0.012, 0.268, 0.100), 0.009) + _gauss(v, (-0.012, 0.268, 0.100), 0.009)) * face
    # AU26 jaw drop: the jaw-weighted skin turns 0.25 rad about the jaw joint's x axis
    rel = v - J[JI["jaw"]]
    omega = np.array([0.25, 0.0, 0.0])
    E[:, :, 0] = np.cross(omega, rel) * (W[:, JI["jaw"]] * (part == 0))[:, None]
    # AU12 lip corner puller: corners up 13 mm, out 8 mm and back 7 mm along the zygomatic
    # muscle; the lip line follows, the skin beside the mouth bunches up and out
    E[:, :, 1] = (corners + 0.7 * lip_line)[:, None] * np.stack([0.008 * sx, np.full(n, 0.013), np.full(n, -0.007)], 1) \
        + nasolabial[:, None] * np.stack([0.002 * sx, np.full(n, 0.004), np.full(n, 0.002)], 1)
    # AU15 + AU17: corners down 8 mm, the chin boss pushes the lower lip up and out
    E[:, :, 2] = (corners + 0.4 * lip_line)[:, None] * np.array([0.0, -0.008, -0.001]) \
        + lower[:, None] * np.array([0.0, 0.0015, 0.002]) + chin[:, None] * np.array([0.0, 0.003, 0.002])
    # AU1+2: whole brows up 8 mm
    E[:, :, 3] = brow[:, None] * np.array([0.0, 0.008, 0.0005])
    # AU4: inner brows down and together, brows lower
    E[:, :, 4] = inner_brow[:, None] * np.stack([-0.003 * sx, np.full(n, -0.0060), np.full(n, 0.0015)], 1) \
        + brow[:, None] * np.array([0.0, -0.003, 0.0])
    # AU7: lower lids up, upper lids down a little
    E[:, :, 5] = below_eye[:, None] * np.array([0.0, 0.0045, 0.001]) + above_eye[:, None] * np.array([0.0, -0.003, 0.0])
    # AU6: cheeks up 6 mm and forward 3 mm, pushing the lower lids up (the eyes narrow from
    # below: the Duchenne marker), the outer brows pulled down a little
    outer_brow = (_gauss(v, (0.050, 0.305, 0.070), 0.010) + _gauss(v, (-0.050, 0.305, 0.070), 0.010)) * face
    E[:, :, 6] = cheeks[:, None] * np.array([0.0, 0.006, 0.003]) + below_eye[:, None] * np.array([0.0, 0.006, 0.0015]) \
        + outer_brow[:, None] * np.array([0.0, -0.0015, 0.0])
    E[:, :, 7] = mouth[:, None] * np.stack([-0.35 * x, np.zeros(n), np.full(n, 0.006)], 1)
    # AU20: corners out and a little down
    E[:, :, 8] = corners[:, None] * np.stack([0.007 * sx, np.full(n, -0.0015), np.full(n, -0.002)], 1)
    E[:, :, 9] = upper[:, None] * np.array([0.0, 0.0035, 0.001]) + nasolabial[:, None] * np.array([0.0, 0.002, 0.001])
    E[:, :, 10] = lower[:, None] * np.array([0.0, -0.0035, 0.001])
    E[:, :, 11] = nose_side[:, None] * np.array([0.0, 0.003, 0.001]) + inner_brow[:, None] * np.array([0, -0.002, 0])
    E[:, :, 12] = -E[:, :, 5] * 0.8 + brow[:, None] * np.array([0.0, 0.002, 0.0])
    E[:, :, 13] = _blink_direction(v, part, eye_l, eye_r, r)
    E[:, :, 14] = cheeks[:, None] * np.stack([0.006 * sx, np.zeros(n), np.full(n, 0.003)], 1)
    E[:, :, 15] = upper[:, None] * np.array([0.0, -0.0022, -0.0015]) + lower[:, None] * np.array([0.0, 0.0022, -0.0015])
    return E


def _blink_direction(v: np.ndarray, part: np.ndarray, eye_l: np.ndarray, eye_r: np.ndarray, r: float) -> np.ndarray:
    """(V, 3) AU45: the skin around each eye socket closes over the eyeball at 1.0, metres.

    The upper rim comes down to just below the eye's centre, the lower rim up to meet it;
    every moved skin vertex ends in front of the eyeball so that the lid hides it.
    """
    D = np.zeros((len(v), 3))
    for c in (eye_l, eye_r):
        d = v - c
        rxy = np.hypot(d[:, 0] / 1.25, d[:, 1])
        near = (part == 0) & (d[:, 2] > -0.25 * r) & (rxy < 2.2 * r)
        fall = _smoothstep(rxy, 2.2 * r, 1.3 * r) * near
        lid_y = -0.35 * r  # where the lids meet, relative to the eye's centre
        ty = np.where(d[:, 1] > lid_y, lid_y + 0.08 * (d[:, 1] - lid_y), lid_y + 0.30 * (d[:, 1] - lid_y))
        dy = (ty - d[:, 1]) * fall
        ny = d[:, 1] + dy
        cover = np.sqrt(np.maximum((1.15 * r) ** 2 - d[:, 0] ** 2 - ny ** 2, 0.0))
        dz = np.maximum(cover - d[:, 2], 0.0) * fall
        D[:, 1] += dy
        D[:, 2] += dz
    return D


#: Linear RGB vertex colours of the default body (skin, lips, brows, hair, clothes, eyes).
COLORS: dict[str, tuple[float, float, float]] = {
    "skin": (0.70, 0.48, 0.38), "lips": (0.52, 0.20, 0.20), "brows": (0.08, 0.05, 0.035),
    "hair": (0.10, 0.065, 0.045), "shirt": (0.16, 0.27, 0.45), "trousers": (0.12, 0.12, 0.15),
    "shoes": (0.05, 0.045, 0.04), "sclera": (0.86, 0.84, 0.80), "iris": (0.22, 0.14, 0.08),
    "pupil": (0.01, 0.01, 0.01), "lash_line": (0.25, 0.14, 0.11),
    "mouth_inside": (0.20, 0.05, 0.05),
}


def _vertex_colors(v: np.ndarray, part: np.ndarray, J: np.ndarray) -> np.ndarray:
    """(V, 3) float32 linear RGB in [0, 1]: the material of each vertex (see :data:`COLORS`)."""
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    ax = np.abs(x)
    col = np.tile(np.array(COLORS["skin"]), (len(v), 1))

    def paint(mask: np.ndarray, name: str, amount: np.ndarray | float = 1.0) -> None:
        a = np.clip(np.asarray(amount, float) * mask, 0.0, 1.0)
        col[:] = col * (1 - a[:, None]) + np.array(COLORS[name]) * a[:, None]

    body = (part == 0).astype(float)
    head = body * (y > 0.15) * (ax < 0.12)
    ss = _smoothstep
    # clothes: a short-sleeved shirt, trousers, shoes (soft edges: the mesh is coarse)
    paint(body, "shirt", ss(y, 0.135, 0.115) * ss(y, -0.42, -0.38) * ss(ax, 0.35, 0.31))
    paint(body, "trousers", ss(y, -0.38, -0.42) * ss(y, -1.19, -1.16))
    paint(body, "shoes", ss(y, -1.16, -1.19))
    # hair: the skull above an arched hairline and the back of the head
    hairline = 0.336 - 0.25 * ax ** 2 / 0.07 - 0.03 * ss(-z, 0.0, 0.06)
    hair = np.maximum(ss(y - hairline, -0.002, 0.006), ss(-z, 0.0, 0.02) * ss(y, 0.22, 0.25))
    hair = np.maximum(hair, ss(ax, 0.052, 0.060) * ss(z, 0.06, 0.04) * ss(y, 0.28, 0.295))
    paint(head, "hair", hair)
    r = EYEBALL_RADIUS_M
    for s in (1.0, -1.0):
        e = J[JI["left_eye" if s > 0 else "right_eye"]]
        u = (x - e[0]) * s  # + towards the outer corner
        # a brow: an arch above each eye, thinning towards its tail
        arch = e[1] + 0.020 + 0.003 * np.cos(np.clip(u / 0.024, -1.5, 1.5) * 1.1)
        half = 0.0042 - 0.0015 * ss(u, 0.0, 0.022)
        band = ss(np.abs(y - arch), half + 0.0030, half - 0.0015) * ss(u, -0.023, -0.015) * ss(u, 0.029, 0.019)
        paint(head * (z > 0.06), "brows", band)
        # a darker rim where the lids meet the eyeball (lashes)
        rim = np.hypot((x - e[0]) / 1.25, y - e[1])
        paint(head * (z > e[2] - 0.006), "lash_line", 0.5 * ss(rim, 1.55 * r, 1.2 * r))
    # lips: the band around the lips' parting line, narrowing to the corners
    w = MOUTH_HALF_WIDTH_M
    t = np.clip(ax / (w + 0.002), 0.0, 1.0)
    dy = y - MOUTH_Y_M
    lip_h = np.where(dy > 0, 0.0085, 0.0095) * np.sqrt(1 - t ** 2) + 0.0018
    lips = ss(ax, w + 0.004, w) * ss(np.abs(dy) / lip_h, 1.2, 0.8) * (z > MOUTH_Z_M - 0.03)
    paint(body, "lips", lips)
    # inside the mouth: a dark cavity behind the lips
    paint(body, "mouth_inside", ss(ax, w + 0.002, w - 0.004) * ss(np.abs(dy), 0.012, 0.008)
          * ss(z, MOUTH_Z_M - 0.006, MOUTH_Z_M - 0.011))
    # eyes: sclera, a brown iris and a black pupil around each eyeball's forward axis (+Z)
    for k, name in ((1, "left_eye"), (2, "right_eye")):
        sel = part == k
        d = v[sel] - J[JI[name]]
        ang = np.arccos(np.clip(d[:, 2] / np.linalg.norm(d, axis=1), -1.0, 1.0))
        c = np.tile(np.array(COLORS["sclera"]), (sel.sum(), 1))
        c[ang < 0.62] = COLORS["iris"]
        c[ang < 0.25] = COLORS["pupil"]
        col[sel] = c
    return col.astype(np.float32)


# ------------------------------------------------------------------ hands

def hand_pca(side: float) -> tuple[np.ndarray, np.ndarray]:
    """(components (45, 45) orthonormal rows, mean (45,)) of one hand's 15 joint rotations.

    side = +1 for the left hand, -1 for the right (mirrored: axis-angle (x, -y, -z)).
    Component 0 closes all fingers into a fist, 1 spreads them, 2 opposes the thumb,
    3 points the index finger, 4 curls only the finger tips; the rest complete the basis.
    """
    fingers = ("index", "middle", "pinky", "ring", "thumb")

    def vec(per_joint) -> np.ndarray:
        out = np.zeros((15, 3))
        for fi, finger in enumerate(fingers):
            for k in range(3):
                out[fi * 3 + k] = per_joint(finger, k)
        return out

    curl = vec(lambda f, k: (0, 0, -1.0) if f != "thumb" else (0.3, -0.4, -0.3))
    spread_amt = {"index": 1.0, "middle": 0.2, "ring": -0.6, "pinky": -1.0, "thumb": 0.0}
    spread = vec(lambda f, k: (0, spread_amt[f] if k == 0 else 0.0, 0))
    oppose = vec(lambda f, k: (0.6, -0.6, -0.4) if f == "thumb" else (0, 0, 0))
    point = vec(lambda f, k: (0, 0, 0.0 if f == "index" else -1.0) if f != "thumb" else (0.2, -0.3, -0.3))
    tips = vec(lambda f, k: (0, 0, -1.0 if k > 0 else 0.4) if f != "thumb" else (0, 0, 0))
    basis = np.stack([c.ravel() for c in (curl, spread, oppose, point, tips)])
    full = np.vstack([basis, np.eye(45)])
    q, _ = np.linalg.qr(full.T)
    comps = q[:, :45].T
    for i in range(5):  # keep each named component's sign
        if comps[i] @ basis[i] < 0:
            comps[i] = -comps[i]
    relaxed = vec(lambda f, k: (0, 0, -(0.18 + 0.06 * k) - (0.08 if f in ("ring", "pinky") else 0.0))
                  if f != "thumb" else (0.1, -0.15, -0.1))
    mean = relaxed.ravel()
    mirror = np.tile([1.0, side, side], 15)
    return comps * mirror, mean * mirror


# ------------------------------------------------------------------ landmarks

def _landmark_targets(J: np.ndarray) -> np.ndarray:
    """(51, 3) FLAME-order face landmark positions (subject's right first), metres."""
    el, er = J[JI["left_eye"]], J[JI["right_eye"]]
    pts = []
    for x in (-0.058, -0.048, -0.037, -0.026, -0.014):  # right brow, outer -> inner
        pts.append((x, 0.312 + 0.004 * (x > -0.05), 0.083))
    for x in (0.014, 0.026, 0.037, 0.048, 0.058):  # left brow, inner -> outer
        pts.append((x, 0.312 + 0.004 * (x < 0.05), 0.083))
    for t in np.linspace(0, 1, 4):  # nose bridge, top -> tip
        pts.append((0.0, 0.292 - 0.038 * t, 0.090 + 0.030 * t))
    for x in (-0.016, -0.008, 0.0, 0.008, 0.016):  # under the nose, right -> left
        pts.append((x, 0.243 + 0.002 * (abs(x) > 0.01), 0.103 - 0.3 * abs(x)))
    r = EYEBALL_RADIUS_M
    # each eye from -x: the right eye starts at its outer corner, the left at its inner one;
    # corner, two upper-lid points, corner, two lower-lid points
    ring = [(-1.0, 0.0), (-0.45, 0.55), (0.45, 0.55), (1.0, 0.0), (0.45, -0.5), (-0.45, -0.5)]
    for c in (er, el):
        for a, b in ring:
            pts.append((c[0] + a * r * 1.15, c[1] + b * r * 0.8, c[2] + r * 0.75))
    my, mz, w = MOUTH_Y_M, MOUTH_Z_M, MOUTH_HALF_WIDTH_M
    outer = [(-1, 0), (-0.6, 0.6), (-0.25, 0.8), (0, 0.75), (0.25, 0.8), (0.6, 0.6),
             (1, 0), (0.6, -0.7), (0.25, -0.9), (0, -0.9), (-0.25, -0.9), (-0.6, -0.7)]
    for a, b in outer:
        pts.append((a * w, my + b * 0.010, mz - 0.012 * abs(a) ** 2 - 0.004))
    inner = [(-0.85, 0), (-0.4, 0.1), (0, 0.1), (0.4, 0.1), (0.85, 0), (0.4, -0.1), (0, -0.1), (-0.4, -0.1)]
    for a, b in inner:
        pts.append((a * w, my + b * 0.003, mz - 0.010 * abs(a) ** 2 - 0.003))
    return np.array(pts, dtype=np.float64)


def _contour_targets() -> np.ndarray:
    """(17, 3) face contour (jaw line) from the right ear to the left ear, metres."""
    t = np.linspace(-1.0, 1.0, 17)
    ang = t * np.pi * 0.45
    x = 0.066 * np.sin(ang)
    z = 0.020 + 0.058 * np.cos(ang)
    y = 0.262 - 0.088 * np.cos(ang) ** 1.5
    return np.stack([x, y, z], 1)


def _closest_faces(v: np.ndarray, faces: np.ndarray, targets: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face index and barycentric coordinates of the surface point nearest each target."""
    fidx = np.nonzero(allowed[faces].all(1))[0]
    tri = v[faces[fidx]]
    centroid = tri.mean(1)
    out_f, out_b = [], []
    for p in targets:
        near = np.argsort(np.linalg.norm(centroid - p, axis=1), kind="stable")[:24]
        best = None
        for k in near:
            a, b, c = tri[k]
            bary = _barycentric(p, a, b, c)
            q = bary @ tri[k]
            d = np.linalg.norm(q - p)
            if best is None or d < best[0] - 1e-12:
                best = (d, fidx[k], bary)
        out_f.append(best[1])
        out_b.append(best[2])
    return np.array(out_f, dtype=np.int64), np.array(out_b)


def _barycentric(p, a, b, c) -> np.ndarray:
    """Barycentric coordinates of the point of triangle abc closest to p (clamped)."""
    ab, ac = b - a, c - a
    n = np.cross(ab, ac)
    q = p - n * ((p - a) @ n) / max(n @ n, 1e-18)
    m = np.array([[ab @ ab, ab @ ac], [ab @ ac, ac @ ac]])
    rhs = np.array([(q - a) @ ab, (q - a) @ ac])
    try:
        s, t = np.linalg.solve(m, rhs)
    except np.linalg.LinAlgError:
        return np.array([1.0, 0.0, 0.0])
    w = np.clip(np.array([1 - s - t, s, t]), 0.0, 1.0)
    return w / w.sum()


def _open_mouth(v: np.ndarray, f: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``f`` without the faces at the back of the mouth slit that join the upper lip (head)
    to the lower lip (jaw): they would stretch into a skin membrane across an open mouth.
    The opening shows the separate teeth, tongue and cavity (:mod:`vr_study.body.mouth`)."""
    c = v[f].mean(axis=1)
    jaw = W[:, JI["jaw"]] > 0.5
    straddles = jaw[f].any(axis=1) & ~jaw[f].all(axis=1)
    inside_slit = ((np.abs(c[:, 0]) < MOUTH_HALF_WIDTH_M + 0.004) & (np.abs(c[:, 1] - MOUTH_Y_M) < 0.006)
                   & (c[:, 2] > MOUTH_Z_M - 0.030) & (c[:, 2] < MOUTH_Z_M - 0.004))
    return f[~(straddles & inside_slit)]


# ------------------------------------------------------------------ assemble

def build_default_body(progress: bool = False) -> dict[str, np.ndarray]:
    """All arrays of the default SMPL-X model file (see module docstring). Deterministic."""
    from tqdm import tqdm

    bar = tqdm(total=5, desc="building body", unit="step", disable=not progress)
    J, extras = default_rest_joints()
    v, f, part, prims = _build_mesh(J, extras)
    bar.update()
    order = _place_vertex_ids(v, part, prims, J, extras)
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    v, part, f = v[order], part[order], inv[f]
    seg = bone_segments(J, extras)
    W, label = _skinning_weights(v, f, part, prims, seg)
    f = _open_mouth(v, f, W)
    R = _joint_regressor(v, part, J)
    bar.update()
    shapedirs = np.zeros((NUM_VERTICES, 3, NUM_SHAPEDIRS), dtype=np.float32)
    shapedirs[:, :, :len(BETA_NAMES)] = _shape_directions(v, label, seg, J)
    expr = _expression_directions(v, W, J, part)
    shapedirs[:, :, SHAPE_SPACE_DIM:SHAPE_SPACE_DIM + len(EXPRESSION_NAMES)] = expr
    # flush tiny (subnormal) offsets to zero: they mean nothing in metres and make every
    # float operation on them (smplx, fitting) many times slower on x86
    shapedirs[np.abs(shapedirs) < 1e-12] = 0.0
    bar.update()
    comps_l, mean_l = hand_pca(1.0)
    comps_r, mean_r = hand_pca(-1.0)
    bar.update()
    lmk_f, lmk_b = _closest_faces(v, f, _landmark_targets(J), part == 0)
    contour_f, contour_b = _closest_faces(v, f, _contour_targets(), part == 0)
    bar.update()
    bar.close()
    return {
        "v_template": v.astype(np.float64),
        "f": f.astype(np.uint32),
        "shapedirs": shapedirs,
        "posedirs": np.zeros((NUM_VERTICES, 3, NUM_POSEDIRS), dtype=np.float32),
        "J_regressor": R.astype(np.float64),
        "weights": W.astype(np.float64),
        "kintree_table": np.stack([PARENTS, np.arange(NUM_JOINTS)]).astype(np.int64),
        "hands_componentsl": comps_l, "hands_meanl": mean_l,
        "hands_componentsr": comps_r, "hands_meanr": mean_r,
        "lmk_faces_idx": lmk_f, "lmk_bary_coords": lmk_b,
        "dynamic_lmk_faces_idx": np.tile(contour_f, (79, 1)),
        "dynamic_lmk_bary_coords": np.tile(contour_b, (79, 1, 1)),
        "part": part.astype(np.int8),
        "vertex_colors": _vertex_colors(v, part, J),
        "expression_names": np.array(EXPRESSION_NAMES),
        "beta_names": np.array(BETA_NAMES),
    }


def write_default_body(path: str | Path, progress: bool = False) -> Path:
    """Build the default body and save it as an SMPL-X ``.npz`` (atomic write). Returns the path."""
    from vr_study.atomic import atomic_path

    arrays = build_default_body(progress=progress)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return path
