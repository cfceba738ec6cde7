"""Turn a plain-data :class:`~vr_study.render.scene.SceneSpec` into pyrender nodes."""
from __future__ import annotations

from typing import Any

import numpy as np

from vr_study.render.gl_platform import import_pyrender
from vr_study.render.scene import CameraSpec, FloorSpec, LightSpec, MaterialSpec, SceneSpec


def _look_along(direction: tuple[float, float, float]) -> np.ndarray:
    """(4, 4) pose whose -Z axis points along ``direction`` (pyrender lights shine along -Z)."""
    d = np.asarray(direction, np.float64)
    back = -d / np.linalg.norm(d)
    helper = np.array([0.0, 1.0, 0.0]) if abs(back[1]) < 0.99 else np.array([1.0, 0.0, 0.0])
    right = np.cross(helper, back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = right, up, back
    return pose


def make_material(spec: MaterialSpec, texture: np.ndarray | None = None) -> Any:
    """A pyrender MetallicRoughnessMaterial from ``spec``; ``texture`` (H, W, 3) uint8 sRGB:
    a base-colour texture (row 0 the top, as OBJ texture coordinates expect)."""
    pyrender = import_pyrender()
    tex = None
    if texture is not None:
        # pyrender flips the rows on upload, so that row 0 is v = 1 (the top)
        tex = pyrender.Texture(source=np.ascontiguousarray(np.asarray(texture, np.uint8)), source_channels="RGB")
    return pyrender.MetallicRoughnessMaterial(
        baseColorFactor=(*spec.base_color, 1.0), metallicFactor=spec.metallic,
        roughnessFactor=spec.roughness, doubleSided=False, baseColorTexture=tex)


def make_light_node(spec: LightSpec) -> Any:
    """A pyrender Node holding the light ``spec`` describes."""
    pyrender = import_pyrender()
    if spec.kind == "directional":
        light = pyrender.DirectionalLight(color=spec.color, intensity=spec.intensity)
        return pyrender.Node(light=light, matrix=_look_along(spec.direction))
    if spec.kind == "point":
        light = pyrender.PointLight(color=spec.color, intensity=spec.intensity)
        pose = np.eye(4)
        pose[:3, 3] = spec.position
        return pyrender.Node(light=light, matrix=pose)
    raise ValueError(f"unknown light kind {spec.kind!r} (directional or point)")


def make_floor_node(spec: FloorSpec) -> Any:
    """A pyrender Node holding a flat box of side ``spec.size_m`` whose top face lies at ``spec.y_m``.

    The node itself is moved down to the floor height (the mesh is built around the
    origin), so pyrender, which sorts opaque meshes far-to-near by node position, always
    draws the floor before a body at the origin: a fixed draw order, the same pixels.
    """
    import trimesh

    pyrender = import_pyrender()
    box = trimesh.creation.box(extents=(spec.size_m, spec.thickness_m, spec.size_m))
    box.apply_translation((0.0, -spec.thickness_m / 2.0, 0.0))
    mesh = pyrender.Mesh.from_trimesh(box, material=make_material(spec.material), smooth=False)
    pose = np.eye(4)
    pose[1, 3] = spec.y_m
    return pyrender.Node(mesh=mesh, matrix=pose)


def make_camera_node(spec: CameraSpec) -> Any:
    """A pyrender Node holding a perspective camera placed as ``spec`` says."""
    pyrender = import_pyrender()
    camera = pyrender.PerspectiveCamera(yfov=spec.yfov_rad, znear=spec.znear_m, zfar=spec.zfar_m,
                                        aspectRatio=spec.aspect)
    return pyrender.Node(camera=camera, matrix=spec.pose_matrix())


def build_scene(spec: SceneSpec) -> Any:
    """A pyrender Scene with ``spec``'s background, ambient light and lights (no body, no floor)."""
    pyrender = import_pyrender()
    scene = pyrender.Scene(bg_color=(*spec.background, 1.0), ambient_light=spec.ambient)
    for light in spec.lights:
        scene.add_node(make_light_node(light))
    return scene
