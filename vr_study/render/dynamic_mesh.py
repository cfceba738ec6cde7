"""A pyrender mesh whose vertices change every frame, updated in place on the GPU.

Building a new ``pyrender.Mesh`` per frame allocates a vertex array object and three
buffers, uploads the (unchanging) triangle indices again and frees the old ones. Here the
mesh is built once; each frame only its interleaved position+normal buffer is overwritten
(``glBufferSubData``) while the renderer's GL context is current. Optional per-vertex
colours (the default body's skin, lips, eyes, hair and clothes) ride along in the same
buffer and never change. A textured body (:class:`vr_study.body.uv.SeamSplit`) is drawn as
its mesh split at the UV seams: normals are computed on the original mesh (smooth across
seams) and gathered, with the texture coordinates, into the split vertices.

Given the camera, faces that are clearly turned away from it or lie wholly outside its
view are left out of the index buffer: the GPU would cull or clip them anyway (pyrender
draws single-sided materials with back-face culling), so the picture is the same, but a
software rasteriser (llvmpipe) spends less time on vertices and triangle set-up.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from vr_study.render.gl_platform import import_pyrender
from vr_study.render.normals import VertexNormals, faces_in_view, facing_faces


class DynamicMesh:
    """One triangle mesh of fixed topology ``faces`` (F, 3) whose vertices (V, 3) metres move.

    Call :meth:`set_vertices` with each frame's vertices, then :meth:`sync` while the GL
    context that draws the mesh is current (:class:`~vr_study.render.offscreen.FrameRenderer`
    does this before every render).
    """

    def __init__(self, faces: np.ndarray, vertices: np.ndarray, material: Any,
                 colors: np.ndarray | None = None, split: Any = None):
        """``colors``: optional (V, 3) linear RGB in [0, 1], multiplied by the material's base
        colour. ``split``: a :class:`~vr_study.body.uv.SeamSplit` of ``faces`` for a textured
        material (the mesh is drawn split, with its texture coordinates)."""
        pyrender = import_pyrender()
        vertices = np.asarray(vertices, np.float32)
        self.num_vertices = int(vertices.shape[0])
        self.source_faces = np.ascontiguousarray(faces, dtype=np.uint32)
        self.vertex_normals = VertexNormals(self.source_faces, self.num_vertices)
        self._gather = None if split is None else np.asarray(split.vertex, np.int64)
        self.faces = self.source_faces if split is None else np.ascontiguousarray(split.faces, np.uint32)
        n = self.num_vertices if split is None else len(self._gather)
        # interleaved [x y z nx ny nz (u v) (r g b a)] float32: pyrender's buffer layout for a
        # primitive with positions, normals and (optionally) TEXCOORD_0 and COLOR_0
        self._uv = 0 if split is None else 2
        self._interleaved = np.empty((n, 6 + self._uv + (0 if colors is None else 4)), np.float32)
        if split is not None:
            self._interleaved[:, 6:8] = split.uv
        if colors is not None:
            colors = np.asarray(colors, np.float32)
            if colors.shape != (self.num_vertices, 3):
                raise ValueError(f"expected colours of shape ({self.num_vertices}, 3), got {colors.shape}")
            c0 = 6 + self._uv
            self._interleaved[:, c0:c0 + 3] = colors if split is None else colors[self._gather]
            self._interleaved[:, c0 + 3] = 1.0
        self._fill(vertices)
        self._visible_faces = self.faces
        self.primitive = pyrender.Primitive(
            positions=self._interleaved[:, :3].copy(), normals=self._interleaved[:, 3:6].copy(),
            texcoord_0=None if split is None else self._interleaved[:, 6:8].copy(),
            color_0=None if colors is None else self._interleaved[:, 6 + self._uv:].copy(),
            indices=self.faces, material=material, mode=pyrender.constants.GLTF.TRIANGLES)
        self.mesh = pyrender.Mesh([self.primitive])
        self._dirty = False

    def _fill(self, vertices: np.ndarray, eye: np.ndarray | None = None,
              view_proj: np.ndarray | None = None) -> None:
        normals, face_normals = self.vertex_normals.with_face_normals(vertices)
        if self._gather is not None:  # split at the UV seams: one row per (vertex, uv) pair
            vertices, normals = vertices[self._gather], normals[self._gather]
        self._interleaved[:, :3] = vertices
        self._interleaved[:, 3:6] = normals
        keep = None
        if eye is not None:  # split faces are the source faces row for row
            keep = facing_faces(vertices, self.faces, face_normals, eye)
        if view_proj is not None:
            in_view = faces_in_view(vertices, self.faces, view_proj)
            keep = in_view if keep is None else keep & in_view
        self._visible_faces = self.faces if keep is None else self.faces[keep]

    def set_vertices(self, vertices: np.ndarray, eye: np.ndarray | None = None,
                     view_proj: np.ndarray | None = None) -> None:
        """Take this frame's vertex positions (V, 3) in world metres (the mesh's node at identity).

        Normals are recomputed. ``eye``: the camera position (metres) this frame is drawn
        from, to leave out faces turned away from it; ``view_proj`` (4, 4): the camera's
        world-to-clip matrix, to leave out faces wholly outside its view. None: keep all.
        """
        vertices = np.asarray(vertices, np.float32)
        if vertices.shape != (self.num_vertices, 3):
            raise ValueError(f"expected vertices of shape ({self.num_vertices}, 3), got {vertices.shape}")
        self._fill(vertices, eye, view_proj)
        # keep pyrender's copies current too: it uploads them whenever the mesh (re)enters a
        # GL context (first draw, or after pyrender dropped it while another scene was drawn);
        # pyrender draws as many indices as ``primitive.indices`` holds
        self.primitive.positions = self._interleaved[:, :3]
        self.primitive.normals = self._interleaved[:, 3:6]
        self.primitive.indices = self._visible_faces
        self._dirty = self.primitive._vaid is not None

    def sync(self) -> None:
        """Upload pending vertices into the mesh's GPU buffer (GL context must be current)."""
        if not self._dirty:
            return
        from OpenGL import GL

        vertex_buffer, _instances, index_buffer = self.primitive._buffers  # pyrender's order
        GL.glBindBuffer(GL.GL_COPY_WRITE_BUFFER, vertex_buffer)
        GL.glBufferSubData(GL.GL_COPY_WRITE_BUFFER, 0, self._interleaved.nbytes, self._interleaved)
        GL.glBindBuffer(GL.GL_COPY_WRITE_BUFFER, index_buffer)
        GL.glBufferData(GL.GL_COPY_WRITE_BUFFER, self._visible_faces.nbytes, self._visible_faces, GL.GL_DYNAMIC_DRAW)
        GL.glBindBuffer(GL.GL_COPY_WRITE_BUFFER, 0)
        self._dirty = False
