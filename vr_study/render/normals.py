"""Smooth vertex normals of a triangle mesh whose vertices move every frame.

The faces never change, so the vertex-face incidence is built once as a sparse matrix and
each frame costs one cross product per face and one sparse product.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class VertexNormals:
    """Area-weighted unit vertex normals for a fixed ``faces`` (F, 3) int array of V vertices."""

    def __init__(self, faces: np.ndarray, num_vertices: int):
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        rows = self.faces.ravel()
        cols = np.repeat(np.arange(len(self.faces)), 3)
        ones = np.ones(len(rows), np.float32)
        self._incidence = sp.csr_matrix((ones, (rows, cols)), shape=(int(num_vertices), len(self.faces)))

    def __call__(self, vertices: np.ndarray) -> np.ndarray:
        """(V, 3) float32 unit normals of ``vertices`` (V, 3); vertices of no face get (0, 0, 0)."""
        return self.with_face_normals(vertices)[0]

    def with_face_normals(self, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit vertex normals (V, 3) and face normals scaled by twice the face area (F, 3)."""
        v = np.asarray(vertices, np.float32)
        f = self.faces
        v0 = v[f[:, 0]]
        a, b = v[f[:, 1]] - v0, v[f[:, 2]] - v0
        face_n = np.empty_like(a)  # a x b, length = 2 x area: area weighting
        face_n[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
        face_n[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
        face_n[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
        n = self._incidence @ face_n
        length = np.linalg.norm(n, axis=1, keepdims=True)
        np.divide(n, length, out=n, where=length > 0)
        return n.astype(np.float32, copy=False), face_n


def facing_faces(vertices: np.ndarray, faces: np.ndarray, face_normals: np.ndarray, eye: np.ndarray,
                 tolerance: float = 1e-3) -> np.ndarray:
    """(F,) bool: faces not clearly turned away from a viewer at ``eye`` (metres).

    A face is dropped only if the eye lies behind its plane by more than ``tolerance``
    (relative: sine of the viewing angle), so that nearly edge-on faces are left to the GPU's
    own back-face test. Counter-clockwise faces are front faces (OpenGL's default).
    """
    to_eye = np.asarray(eye, np.float32) - np.asarray(vertices)[faces[:, 0]]
    dot = np.einsum("ij,ij->i", face_normals, to_eye)
    # dot >= -tolerance * |n| * |to_eye|, without square roots
    squared_scale = np.einsum("ij,ij->i", face_normals, face_normals) * np.einsum("ij,ij->i", to_eye, to_eye)
    return (dot >= 0) | (dot * dot <= (tolerance * tolerance) * squared_scale)


def faces_in_view(vertices: np.ndarray, faces: np.ndarray, view_proj: np.ndarray, margin: float = 0.01) -> np.ndarray:
    """(F,) bool: faces not entirely outside one side of the view frustum.

    ``view_proj`` (4, 4) maps world points (metres) to OpenGL clip coordinates. A face is
    dropped only if all three corners lie beyond the same clipping plane by more than
    ``margin`` (relative to w), so that the GPU would clip it away completely.
    """
    v = np.asarray(vertices, np.float32)
    m = np.asarray(view_proj, np.float32)
    clip = v @ m[:, :3].T + m[:, 3]  # (V, 4)
    w = clip[:, 3] * (1.0 + margin)
    codes = np.zeros(len(v), np.uint8)  # one bit per clipping plane the vertex is beyond
    for axis in range(3):
        codes |= (clip[:, axis] < -w).astype(np.uint8) << (2 * axis)
        codes |= (clip[:, axis] > w).astype(np.uint8) << (2 * axis + 1)
    if not codes.any():
        return np.ones(len(faces), bool)
    return (codes[faces[:, 0]] & codes[faces[:, 1]] & codes[faces[:, 2]]) == 0
