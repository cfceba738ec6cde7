"""Pure parts of rendering: sizes, camera framing and projection, normals, soundtrack cutting, layout."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import trimesh

from vr_study.audio import Audio
from vr_study.errors import InputError
from vr_study.render.compose import grid_shape, tile
from vr_study.render.framing import facing_yaw_rad, frame_camera
from vr_study.render.normals import VertexNormals
from vr_study.render.offline import parse_size
from vr_study.render.scene import CameraSpec, default_scene, floor_height_m
from vr_study.render.video import soundtrack


@pytest.mark.parametrize("text, size", [("640x480", (640, 480)), ("160X120", (160, 120))])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["0x0", "99999x1", "640", "x480", "-2x4", "641x480", "640x480x3", "16x8"])
def test_parse_size_rejects(text):
    with pytest.raises(InputError, match="--size"):
        parse_size(text)


def _stick_figure(yaw_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """Joints (1, 55, 3) and 'vertices' of a 1.7 m figure facing ``yaw_rad`` about +Y."""
    j = np.zeros((55, 3))
    j[1], j[2] = (0.1, -0.1, 0), (-0.1, -0.1, 0)  # hips: the subject's left is +X
    j[12], j[15] = (0, 0.45, 0), (0, 0.55, 0)
    j[16], j[17] = (0.18, 0.4, 0), (-0.18, 0.4, 0)
    j[23], j[24] = (0.03, 0.62, 0.08), (-0.03, 0.62, 0.08)  # eyes: the face view centres on them
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    verts = np.concatenate([j, [[0, -1.1, 0.05], [0, 0.7, 0], [0.1, 0.6, 0.1], [-0.1, 0.5, 0.1]]])
    return (j @ rot.T)[None], (verts @ rot.T)[None]


@pytest.mark.parametrize("yaw", [0.0, 0.7, -2.0])
def test_camera_faces_the_body_and_sees_all_of_it(yaw):
    joints, verts = _stick_figure(yaw)
    assert facing_yaw_rad(joints) == pytest.approx(yaw, abs=1e-9)
    cam = frame_camera("full", joints, verts, 4 / 3)
    forward = np.array([math.sin(yaw), 0, math.cos(yaw)])
    to_cam = np.asarray(cam.position) - np.asarray(cam.target)
    assert np.dot(to_cam, forward) > 0.9 * np.linalg.norm(to_cam)  # in front of the body
    px = cam.project(verts[0], 160, 120)
    assert np.all((px > 0) & (px < [160, 120]))
    assert px[:, 1].max() - px[:, 1].min() > 0.6 * 120  # and fills most of the height


def test_face_view_is_closer_than_full_view():
    joints, verts = _stick_figure(0.0)
    full = frame_camera("full", joints, verts, 1.0)
    face = frame_camera("face", joints, verts, 1.0)
    dist = lambda c: np.linalg.norm(np.subtract(c.position, c.target))  # noqa: E731
    assert dist(face) < dist(full) / 2
    assert face.target[1] > 0.4


def test_camera_pose_and_projection_agree():
    cam = CameraSpec(position=(1.0, 2.0, 5.0), target=(0.0, 0.5, 0.0), aspect=2.0)
    pose = cam.pose_matrix()
    assert np.allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3))
    look = -pose[:3, 2]
    expected = np.subtract(cam.target, cam.position)
    assert np.allclose(look, expected / np.linalg.norm(expected))
    assert np.allclose(cam.project([cam.target], 200, 100), [[100, 50]])


def test_scene_spec_is_plain_data():
    spec = default_scene(-1.1)
    text = json.dumps(dataclasses.asdict(spec))
    assert '"y_m": -1.1' in text and len(spec.lights) >= 3
    assert floor_height_m(np.array([[0, -1.0, 0], [0, 0.5, 0]])) == pytest.approx(-1.002)


def test_vertex_normals_of_a_sphere_point_outwards():
    sphere = trimesh.creation.icosphere(3, radius=0.3)
    normals = VertexNormals(sphere.faces, len(sphere.vertices))(sphere.vertices)
    radial = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    assert normals.dtype == np.float32
    assert np.all(np.sum(normals * radial, axis=1) > 0.99)


def test_soundtrack_cuts_offsets_and_pads():
    audio = Audio(np.arange(10, dtype=np.float32), 10)  # 1 s at 10 Hz
    assert soundtrack(audio, 0.3, 0.5).samples.tolist() == [3, 4, 5, 6, 7]
    assert soundtrack(audio, 0.8, 0.5).samples.tolist() == [8, 9, 0, 0, 0]
    assert soundtrack(audio, -0.2, 0.4).samples.tolist() == [0, 0, 0, 1]


def test_grid_layout():
    assert grid_shape(1) == (1, 1) and grid_shape(3) == (1, 3) and grid_shape(5) == (2, 4)
    panels = [np.full((2, 3, 3), i, np.uint8) for i in range(5)]
    out = tile(panels)
    assert out.shape == (4, 12, 3)
    assert out[0, 3, 0] == 1 and out[2, 0, 0] == 4 and out[3, 11, 0] == 0
