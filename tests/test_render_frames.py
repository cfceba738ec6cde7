"""Rendered pixels of the default body: in frame, jaw and smile visible, side by side, deterministic."""
from __future__ import annotations

import numpy as np
import pytest

from vr_study.body import EXPRESSION_NAMES, load_body_model
from vr_study.motion import MotionClip
from vr_study.render import frame_clip, render_frames
from vr_study.render.compose import caption_height_px

W, H = 160, 120


@pytest.fixture(scope="module")
def body():
    return load_body_model()


def speaking_clip(frames: int = 3, fps: float = 30.0, **meta) -> MotionClip:
    """Arms down (A-pose), everything else at rest."""
    clip = MotionClip.zeros(frames, fps, **meta)
    clip.body_pose[:, 15, 2] = -1.1  # left shoulder
    clip.body_pose[:, 16, 2] = 1.1  # right shoulder
    return clip


def body_mask(image: np.ndarray) -> np.ndarray:
    """Pixels of the body: warm skin, the strongly blue shirt, or dark hair, trousers and shoes
    (background and floor are light, weakly bluish grey)."""
    rgb = image.astype(int)
    return ((rgb[..., 0] - rgb[..., 2]) > 6) | ((rgb[..., 2] - rgb[..., 0]) > 30) | (rgb.max(axis=2) < 70)


def frames_of(clip, body, **kw) -> list[np.ndarray]:
    kw.setdefault("size", (W, H))
    kw.setdefault("captions", False)
    return list(render_frames([clip], body_model=body, **kw))


@pytest.mark.parametrize("view, min_fraction", [("full", 0.03), ("upper", 0.10), ("face", 0.20)])
def test_body_is_in_frame(body, view, min_fraction):
    (frame,) = frames_of(speaking_clip(1), body, view=view)
    assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
    mask = body_mask(frame)
    assert mask.mean() > min_fraction, f"body covers only {mask.mean():.1%} of the {view} view"
    rows, cols = np.nonzero(mask)
    if view == "full":  # the whole body, head to feet, with a margin on every side
        assert rows.min() > 0 and rows.max() < H - 1 and cols.min() > 0 and cols.max() < W - 1
    # the floor is there in full view: grey pixels below the feet
    if view == "full":
        below = frame[rows.max() + 2:, :, :].astype(int)
        assert below.size and np.all(np.abs(below[..., 0] - below[..., 2]) < 20)


def test_body_turned_and_moved_is_still_framed(body):
    clip = speaking_clip(1)
    clip.global_orient[:, 1] = np.pi / 2  # faces +X
    clip.transl[:, :] = (2.0, 0.3, -1.5)
    (frame,) = frames_of(clip, body, view="face")
    assert body_mask(frame).mean() > 0.2


def _project_region(body, clip, region: str, view: str) -> tuple[slice, slice]:
    camera, _ = frame_clip(clip, body, view, W / H)
    verts = body.pose_clip(clip, frames=slice(0, 1)).vertices[0][body.regions[region]]
    px = camera.project(verts, W, H)
    c0, r0 = np.floor(px.min(0)).astype(int) - 2
    c1, r1 = np.ceil(px.max(0)).astype(int) + 2
    return slice(max(r0, 0), min(r1, H)), slice(max(c0, 0), min(c1, W))


def test_opening_the_jaw_changes_the_mouth_region(body):
    clip = speaking_clip(3)
    clip.jaw_pose[2, 0] = 0.35  # frame 2: mouth open (radians about X)
    closed_a, closed_b, open_ = frames_of(clip, body, view="face")
    assert np.array_equal(closed_a, closed_b)  # same pose, same pixels
    diff = np.abs(open_.astype(int) - closed_a.astype(int)).max(axis=2) > 10
    rows, cols = _project_region(body, clip, "mouth", "face")
    assert diff[rows, cols].sum() >= 8, "the open mouth is not visible"
    # the change is at the mouth: most changed pixels lie in the lower face
    face_rows, _ = _project_region(body, clip, "face", "face")
    changed_rows = np.nonzero(diff)[0]
    assert np.median(changed_rows) >= (face_rows.start + face_rows.stop) / 2


def test_smile_changes_the_face(body):
    clip = speaking_clip(2)
    smile = EXPRESSION_NAMES.index("smile")
    clip.expression[1, smile] = 1.5
    neutral, smiling = frames_of(clip, body, view="face")
    diff = np.abs(smiling.astype(int) - neutral.astype(int)).max(axis=2) > 6
    rows, cols = _project_region(body, clip, "face", "face")
    inside = diff[rows, cols].sum()
    assert inside >= 10, "a smile leaves the face unchanged"
    assert diff.sum() - inside <= inside // 4, "a smile changed pixels away from the face"


def test_side_by_side_with_captions_and_different_lengths(body):
    a = speaking_clip(6, 30.0, method="EMAGE", emotion="happy")
    b = speaking_clip(2, 15.0, method="TalkSHOW", emotion="neutral")  # 2/15 s = 4 frames at 30 Hz
    b.body_pose[:, 15, 2] = -0.3  # left arm raised: tells the panels apart
    frames = list(render_frames([a, b], size=(W, H), body_model=body))
    assert len(frames) == 6  # the longer clip's length at the highest frame rate
    assert all(f.shape == (H, 2 * W, 3) for f in frames)
    left, right = frames[0][:, :W], frames[0][:, W:]
    band = caption_height_px(H)
    for panel in (left, right):  # white caption text on a dark band
        top = panel[:band].astype(int)
        assert (top.min(axis=2) > 200).sum() >= 15 and (top.max(axis=2) < 110).mean() > 0.5
    assert not np.array_equal(left[:band], right[:band])  # different captions
    assert not np.array_equal(left[band:], right[band:])  # different poses
    # the shorter clip holds its last frame
    assert np.array_equal(frames[3][:, W:], frames[5][:, W:])
    plain = list(render_frames([a, b], size=(W, H), body_model=body, captions=False))[0]
    assert (plain[:band].astype(int).max(axis=2) < 110).mean() < 0.05  # no band without captions


def test_rendering_is_deterministic(body):
    clip = speaking_clip(4)
    clip.jaw_pose[:, 0] = np.linspace(0, 0.3, 4)
    first = frames_of(clip, body, view="upper")
    second = frames_of(clip, body, view="upper")
    assert all(np.array_equal(x, y) for x, y in zip(first, second))
    assert not np.array_equal(first[0], first[3])


@pytest.mark.parametrize("view", ["full", "face"])
def test_fast_path_draws_what_pyrender_draws(body, view):
    """In-place buffers, culled back and off-screen faces, cached floor, boxed read-back: no pixel changes."""
    import trimesh

    from vr_study.render.dynamic_mesh import DynamicMesh
    from vr_study.render.gl_platform import import_pyrender
    from vr_study.render.gl_scene import build_scene, make_camera_node, make_floor_node, make_material
    from vr_study.render.normals import VertexNormals
    from vr_study.render.offscreen import FrameRenderer
    from vr_study.render.scene import default_scene

    pyrender = import_pyrender()
    clip = speaking_clip(4)
    clip.body_pose[:, 16, 2] = np.linspace(1.1, -0.5, 4)  # right arm swings up
    clip.body_pose[:, 11, 0] = np.linspace(0.0, 0.4, 4)  # nod
    clip.transl[:, 0] = np.linspace(0.0, 0.1, 4)
    camera, floor_y = frame_clip(clip, body, view, W / H)
    verts = body.pose_clip(clip).vertices
    spec = default_scene(floor_y)
    scene = build_scene(spec)
    floor = make_floor_node(spec.floor)
    scene.add_node(floor)
    camera_node = make_camera_node(camera)
    scene.add_node(camera_node)
    view_proj = camera_node.camera.get_projection_matrix(W, H) @ np.linalg.inv(camera.pose_matrix())
    material = make_material(spec.body_material)
    dyn = DynamicMesh(body.faces, verts[0], material)
    scene.add(dyn.mesh)
    normals = VertexNormals(body.faces, verts.shape[1])
    gl = FrameRenderer(W, H)
    try:
        for v in verts:
            dyn.mesh.is_visible = True
            dyn.set_vertices(v, np.asarray(camera.position), view_proj)
            ours = gl.render(scene, [dyn], [floor.mesh])
            dyn.mesh.is_visible = False
            tm = trimesh.Trimesh(vertices=v, faces=body.faces, vertex_normals=normals(v), process=False)
            node = scene.add(pyrender.Mesh.from_trimesh(tm, material=material))
            plain, _ = gl._offscreen.render(scene)
            scene.remove_node(node)
            assert body_mask(ours).mean() > 0.02
            assert np.array_equal(ours, plain)
    finally:
        gl.close()
