"""Turn the implicit body into a triangle mesh with an exact vertex count.

Sparse block-wise marching cubes (scikit-image) on a uniform grid, welded into one mesh,
quadric decimation (fast-simplification) to just under the budget, then splitting the
longest edges (midpoints projected back onto the surface) until the count is exact.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from vr_study.body.sdf import Primitive, union_distance

SdfFn = Callable[[np.ndarray], np.ndarray]


def marching_cubes_sparse(prims: list[Primitive], lo: np.ndarray, hi: np.ndarray, step_m: float,
                          floor_y: float | None, block: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Mesh the zero level set of the primitives' union inside the box [lo, hi].

    Only blocks of ``block``^3 voxels near the surface are evaluated, each with only the
    primitives that can reach it. Returns welded vertices (N, 3) metres and faces (F, 3).
    """
    from skimage.measure import marching_cubes

    n_blocks = np.ceil((hi - lo) / (step_m * block)).astype(int)
    half_diag = np.sqrt(3.0) * step_m * block / 2
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in n_blocks], indexing="ij"), -1).reshape(-1, 3)
    centres = lo + (idx + 0.5) * step_m * block
    prim_d = np.stack([p.distance(centres) for p in prims], axis=1)  # (B, P)
    union_c = union_distance(centres, prims, floor_y)
    near = np.abs(union_c) < half_diag * 1.5 + 0.01
    k_max = max(p.blend_m for p in prims)
    add_min = np.min(np.where([not p.subtract for p in prims], prim_d, np.inf), axis=1)
    verts_all, faces_all = [], []
    offset = 0
    grid = np.arange(block + 1) * step_m
    for b in np.nonzero(near)[0]:
        relevant = [p for j, p in enumerate(prims)
                    if prim_d[b, j] - half_diag < add_min[b] + half_diag + k_max + 0.01]
        origin = lo + idx[b] * step_m * block
        gx, gy, gz = np.meshgrid(origin[0] + grid, origin[1] + grid, origin[2] + grid, indexing="ij")
        pts = np.stack([gx, gy, gz], -1).reshape(-1, 3)
        vol = union_distance(pts, relevant, floor_y).reshape(block + 1, block + 1, block + 1)
        if vol.min() >= 0 or vol.max() <= 0:
            continue
        v, f, _, _ = marching_cubes(vol.astype(np.float64), level=0.0, spacing=(step_m,) * 3,
                                    allow_degenerate=False)
        verts_all.append(v + origin)
        faces_all.append(f + offset)
        offset += len(v)
    verts = np.concatenate(verts_all)
    faces = np.concatenate(faces_all)
    # weld the copies of vertices on shared block faces (identical by construction)
    key = np.round(verts / (step_m * 1e-4)).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    verts = verts[first]
    faces = inverse.reshape(-1)[faces]
    ok = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    return verts, faces[ok]


def keep_largest_component(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop small disconnected pieces (marching-cubes specks)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n = len(verts)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    adj = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    counts = np.bincount(labels[faces[:, 0]])
    keep_label = np.argmax(counts)
    keep_f = labels[faces[:, 0]] == keep_label
    faces = faces[keep_f]
    used = np.unique(faces)
    remap = np.full(n, -1)
    remap[used] = np.arange(len(used))
    return verts[used], remap[faces]


def project_to_surface(p: np.ndarray, sdf: SdfFn, iterations: int = 3) -> np.ndarray:
    """Move points onto the zero level set along the numerical gradient."""
    eps = 1e-4
    for _ in range(iterations):
        d = sdf(p)
        g = np.stack([(sdf(p + np.eye(3)[k] * eps) - d) / eps for k in range(3)], axis=1)
        g2 = np.maximum((g * g).sum(1), 1e-12)
        p = p - (d / g2)[:, None] * g
    return p


def split_to_count(verts: np.ndarray, faces: np.ndarray, count: int, sdf: SdfFn) -> tuple[np.ndarray, np.ndarray]:
    """Split the longest edges until the mesh has exactly ``count`` vertices.

    Each split adds one vertex (the projected midpoint) and turns the edge's two triangles
    into four. Splits in one round touch disjoint triangles.
    """
    verts = verts.copy()
    faces = faces.copy()
    while len(verts) < count:
        need = count - len(verts)
        e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        face_of = np.tile(np.arange(len(faces)), 3)
        key = np.sort(e, axis=1)
        order = np.lexsort((key[:, 1], key[:, 0]))
        key, face_of, e = key[order], face_of[order], e[order]
        same = np.all(key[1:] == key[:-1], axis=1)
        pairs = np.nonzero(same)[0]  # edge rows i and i+1 are the same edge
        length = np.linalg.norm(verts[key[pairs, 0]] - verts[key[pairs, 1]], axis=1)
        pairs = pairs[np.argsort(-length, kind="stable")]
        used = np.zeros(len(faces), bool)
        chosen = []
        for i in pairs:
            f0, f1 = face_of[i], face_of[i + 1]
            if used[f0] or used[f1]:
                continue
            used[f0] = used[f1] = True
            chosen.append(i)
            if len(chosen) >= need:
                break
        a, b = key[chosen, 0], key[chosen, 1]
        mids = project_to_surface((verts[a] + verts[b]) / 2, sdf)
        new_ids = len(verts) + np.arange(len(chosen))
        verts = np.concatenate([verts, mids])
        new_faces = []
        drop = np.zeros(len(faces), bool)
        for m, i in zip(new_ids, chosen):
            u, w = key[i]
            for f in (face_of[i], face_of[i + 1]):
                tri = faces[f]
                drop[f] = True
                # replace u by m in one copy, w by m in the other (keeps orientation)
                t1 = np.where(tri == u, m, tri)
                t2 = np.where(tri == w, m, tri)
                new_faces += [t1, t2]
        faces = np.concatenate([faces[~drop], np.array(new_faces, dtype=faces.dtype)])
    return verts, faces


def icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit icosphere: vertices (N, 3) on the unit sphere and outward faces (F, 3)."""
    t = (1.0 + 5 ** 0.5) / 2
    v = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
                  [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], float)
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
                  [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
                  [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    for _ in range(subdivisions):
        cache: dict[tuple[int, int], int] = {}
        verts = list(v)
        new_f = []

        def mid(i: int, j: int) -> int:
            k = (min(i, j), max(i, j))
            if k not in cache:
                p = (verts[i] + verts[j]) / 2
                verts.append(p / np.linalg.norm(p))
                cache[k] = len(verts) - 1
            return cache[k]

        for a, b, c in f:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new_f += [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
        v, f = np.array(verts), np.array(new_f)
    return v, f


def flip_edges(verts: np.ndarray, faces: np.ndarray, passes: int = 3, min_normal_dot: float = 0.8) -> np.ndarray:
    """Flip edges that bring vertex valences closer to 6 (more even triangles).

    A flip of edge a-b between triangles (a, b, c) and (b, a, d) makes (a, d, c) and
    (b, c, d). It is made only when both new triangles face the way the old pair did.
    Returns the new faces (orientation kept); the vertices do not move.
    """
    F = [list(map(int, t)) for t in faces]
    edge_faces: dict[tuple[int, int], list[int]] = {}
    for fi, t in enumerate(F):
        for k in range(3):
            key = (min(t[k], t[(k + 1) % 3]), max(t[k], t[(k + 1) % 3]))
            edge_faces.setdefault(key, []).append(fi)
    valence = np.zeros(len(verts), dtype=np.int64)
    for key in edge_faces:
        valence[key[0]] += 1
        valence[key[1]] += 1

    def normal(i: int, j: int, k: int) -> np.ndarray:
        n = np.cross(verts[j] - verts[i], verts[k] - verts[i])
        return n / max(np.linalg.norm(n), 1e-18)

    for _ in range(passes):
        flipped = 0
        for key in sorted(edge_faces):
            fs = edge_faces.get(key)
            if fs is None or len(fs) != 2:
                continue
            f1, f2 = fs
            t1 = F[f1]
            i = next((k for k in range(3) if {t1[k], t1[(k + 1) % 3]} == set(key)), None)
            if i is None:
                continue
            a, b, c = t1[i], t1[(i + 1) % 3], t1[(i + 2) % 3]
            t2 = F[f2]
            j = next((k for k in range(3) if t2[k] == b and t2[(k + 1) % 3] == a), None)
            if j is None:
                continue
            d = t2[(j + 2) % 3]
            if c == d or (min(c, d), max(c, d)) in edge_faces or valence[a] <= 3 or valence[b] <= 3:
                continue
            before = sum((valence[x] - 6) ** 2 for x in (a, b, c, d))
            after = ((valence[a] - 7) ** 2 + (valence[b] - 7) ** 2 + (valence[c] - 5) ** 2
                     + (valence[d] - 5) ** 2)
            if after >= before:
                continue
            n_old = normal(a, b, c) + normal(b, a, d)
            n_old /= max(np.linalg.norm(n_old), 1e-18)
            if normal(a, d, c) @ n_old < min_normal_dot or normal(b, c, d) @ n_old < min_normal_dot:
                continue
            F[f1], F[f2] = [a, d, c], [b, c, d]
            del edge_faces[key]
            edge_faces[(min(c, d), max(c, d))] = [f1, f2]
            bc = edge_faces[(min(b, c), max(b, c))]
            bc[bc.index(f1)] = f2
            ad = edge_faces[(min(a, d), max(a, d))]
            ad[ad.index(f2)] = f1
            valence[[a, b]] -= 1
            valence[[c, d]] += 1
            flipped += 1
        if not flipped:
            break
    return np.array(F, dtype=faces.dtype)
