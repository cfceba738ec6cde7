"""Avatars in the XR scene: a body model posed per frame and placed facing the participant.

The body model comes from :func:`vr_study.body.load_body_model` (SMPL-X: ``faces`` (F, 3),
``pose_frame(full_pose (55, 3) rad, transl (3,) m, expression (E,)) -> (V, 3)`` metres,
Y up, facing +Z). Where none is installed, :class:`ProxyBodyModel` stands in: a coarse
figure (torso, head, a jaw that opens with ``full_pose[22]``) so that a pilot still shows
who speaks and when. It says so on stderr.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vr_study.rotations import axis_angle_to_matrix

#: Index of the jaw joint in SMPL-X's 55-joint full pose.
JAW_JOINT = 22


class ProxyBodyModel:
    """A coarse stand-in body (about 1.7 m tall, feet at y = 0 in rest pose, facing +Z).

    Parts: torso and legs (a box), a head (sphere) and a jaw (lower half-sphere in front of
    the head) that rotates about its hinge with the jaw pose; the whole figure follows
    ``full_pose[0]`` (global orientation) and ``transl``.
    """

    def __init__(self) -> None:
        import trimesh

        torso = trimesh.creation.box(extents=(0.40, 1.40, 0.22))
        torso.apply_translation((0, 0.70, 0))
        head = trimesh.creation.icosphere(subdivisions=3, radius=0.11)
        head.apply_translation((0, 1.58, 0))
        jaw = trimesh.creation.icosphere(subdivisions=3, radius=0.075)
        jaw.vertices[:, 1] = np.minimum(jaw.vertices[:, 1], 0.0)  # lower half: a chin
        jaw.apply_translation((0, 1.52, 0.06))
        parts = [torso, head, jaw]
        self._rest = np.concatenate([p.vertices for p in parts]).astype(np.float32)
        offsets = np.cumsum([0] + [len(p.vertices) for p in parts])
        self.faces = np.concatenate([p.faces + o for p, o in zip(parts, offsets[:-1])]).astype(np.int32)
        self._jaw = slice(int(offsets[2]), int(offsets[3]))
        self._jaw_pivot = np.array([0.0, 1.56, 0.0], np.float32)

    def pose_frame(self, full_pose: np.ndarray, transl: np.ndarray, expression: np.ndarray) -> np.ndarray:
        v = self._rest.copy()
        jaw_r = axis_angle_to_matrix(np.asarray(full_pose[JAW_JOINT], float)).astype(np.float32)
        v[self._jaw] = (v[self._jaw] - self._jaw_pivot) @ jaw_r.T + self._jaw_pivot
        root = axis_angle_to_matrix(np.asarray(full_pose[0], float)).astype(np.float32)
        return v @ root.T + np.asarray(transl, np.float32)


def load_avatar_body_model() -> tuple[Any, str]:
    """The project's body model, or :class:`ProxyBodyModel` when none is available.

    Returns (model, description).
    """
    from vr_study.errors import InputError

    try:
        from vr_study.body import load_body_model  # type: ignore[attr-defined]
        model = load_body_model()
        return model, type(model).__name__
    except (ImportError, FileNotFoundError, OSError, InputError) as e:
        print(f"warning: no SMPL-X body model available ({e}); showing a proxy figure", file=sys.stderr)
        return ProxyBodyModel(), "ProxyBodyModel"


@dataclass
class Placement:
    """Where an avatar stands: ``position`` (3,) metres in STAGE (feet), ``yaw_rad`` about +Y."""

    position: np.ndarray
    yaw_rad: float

    def matrix(self) -> np.ndarray:
        """(4, 4) model -> STAGE."""
        c, s = np.cos(self.yaw_rad), np.sin(self.yaw_rad)
        m = np.eye(4, dtype=np.float32)
        m[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
        m[:3, 3] = self.position
        return m


def conversational_placements(count: int, participant_xz: tuple[float, float] = (0.0, 0.0),
                              distance_m: float = 1.3, spacing_rad: float = 0.45) -> list[Placement]:
    """Positions on an arc ``distance_m`` in front of (-Z from) the participant, each facing them.

    The body faces +Z in model space; ``yaw_rad`` turns it towards the participant.
    """
    px, pz = participant_xz
    out = []
    for i in range(count):
        a = (i - (count - 1) / 2.0) * spacing_rad
        pos = np.array([px + distance_m * np.sin(a), 0.0, pz - distance_m * np.cos(a)], np.float32)
        yaw = float(np.arctan2(px - pos[0], pz - pos[2]))
        out.append(Placement(pos, yaw))
    return out


@dataclass
class AvatarMesh:
    """One avatar's posed mesh in model space, ready to upload: positions and normals (V, 3);
    for a textured body (S, 3), one row per split vertex (:class:`vr_study.body.uv.SeamSplit`)."""

    model: Any
    placement: Placement
    faces: np.ndarray = field(init=False)
    ground_offset_m: float = field(init=False)
    _normals: Any = field(init=False, repr=False)
    _transl_ref: np.ndarray | None = field(init=False, default=None, repr=False)
    _num_expression: int = field(init=False, default=10)

    def __post_init__(self) -> None:
        self.faces = np.ascontiguousarray(self.model.faces, dtype=np.uint32)
        c = getattr(self.model, "vertex_colors", None)
        tex = getattr(self.model, "texture", None)
        #: (V, 3) float32 linear RGB vertex colours of the body model, or None (one albedo or a texture)
        self.colors = None if c is None or tex is not None else np.asarray(c, np.float32)
        #: a textured body is drawn split at its UV seams: (S, 2) uvs, (H, W, 3) uint8 sRGB image
        self.uvs = None if tex is None else tex.split.uv
        self.texture = None if tex is None else tex.image
        self._gather = None if tex is None else np.asarray(tex.split.vertex, np.int64)
        ne = getattr(self.model, "num_expression", None)
        self._num_expression = 10 if ne is None else int(ne)
        rest = self.model.pose_frame(np.zeros((55, 3), np.float32), np.zeros(3, np.float32),
                                     np.zeros(self._num_expression, np.float32))
        self.ground_offset_m = float(-np.min(rest[:, 1]))  # lift so the feet touch the floor
        # imported here: vr_study.render's package imports more than the XR path needs
        from vr_study.render.normals import VertexNormals
        self._normals = VertexNormals(self.faces, len(rest))
        if self._gather is not None:
            self.faces = np.ascontiguousarray(self.model.texture.split.faces, np.uint32)
        self.num_vertices = len(rest) if self._gather is None else len(self._gather)
        # teeth, tongue and mouth cavity, appended as extra vertices rigid to the head and jaw
        from vr_study.body.mouth import PLAIN_SKIN_RGB, mouth_for
        self.mouth = mouth_for(self.model)
        if self.mouth is not None:
            n_body = self.num_vertices
            self.faces = np.concatenate([self.faces, self.mouth.faces + n_body]).astype(np.uint32)
            body_c = (self.colors if self.colors is not None else
                      np.tile(np.asarray((1.0,) * 3 if tex is not None else PLAIN_SKIN_RGB, np.float32), (n_body, 1)))
            if self._gather is None and self.colors is not None:
                body_c = self.colors
            self.colors = np.concatenate([body_c, self.mouth.colors]).astype(np.float32)
            if self.uvs is not None:  # u < 0: not textured (the mouth parts keep their colours)
                self.uvs = np.concatenate([self.uvs, np.full((self.mouth.num_vertices, 2), -1.0, np.float32)])
            self._mouth_normals = VertexNormals(self.mouth.faces, self.mouth.num_vertices)
            self.num_vertices = n_body + self.mouth.num_vertices

    def pose(self, full_pose: np.ndarray, transl: np.ndarray, expression: np.ndarray | None
             ) -> tuple[np.ndarray, np.ndarray]:
        """Vertices and normals (V, 3) float32 in the avatar's model frame (feet at y = 0).

        ``transl`` is taken relative to the first one this avatar saw, so a clip's global
        offset does not move the avatar away from its place.
        """
        transl = np.asarray(transl, np.float32)
        if self._transl_ref is None:
            self._transl_ref = transl.copy()
        e = np.zeros(self._num_expression, np.float32)
        if expression is not None:
            k = min(len(expression), self._num_expression)
            e[:k] = expression[:k]
        rel = transl - self._transl_ref
        v = self.model.pose_frame(np.asarray(full_pose, np.float32), rel, e).astype(np.float32, copy=False)
        v = v + np.array([0.0, self.ground_offset_m, 0.0], np.float32)
        n = self._normals(v)  # on the original mesh: smooth across UV seams
        if self._gather is not None:
            v, n = v[self._gather], n[self._gather]
        if self.mouth is not None:
            from vr_study.body.mouth import pose_mouth, skinning_transforms
            A = skinning_transforms(self.model, np.asarray(full_pose, np.float64)[None], rel[None], e[None])
            mv = pose_mouth(self.mouth, A)[0] + np.array([0.0, self.ground_offset_m, 0.0], np.float32)
            v = np.concatenate([v, mv])
            n = np.concatenate([n, self._mouth_normals(mv)])
        return v, n
