"""Offline rendering of SMPL-X motion: scene description, camera framing, headless
pyrender drawing with in-place mesh updates, captions and side-by-side layout, and H.264
MP4 writing with the speech muxed in.

Modules: :mod:`.scene` (plain-data scene and camera description, reusable by the XR
renderer), :mod:`.framing` (camera per view), :mod:`.gl_platform` (EGL/OSMesa choice),
:mod:`.gl_scene` (pyrender nodes from the description), :mod:`.normals`,
:mod:`.dynamic_mesh` (in-place vertex updates), :mod:`.offscreen` (colour read-back),
:mod:`.compose` (captions, grid), :mod:`.video` (ffmpeg), :mod:`.offline` (the API below).
"""
from vr_study.render.framing import VIEWS, frame_camera
from vr_study.render.offline import RenderResult, frame_clip, parse_size, plan_render, render_frames, render_video
from vr_study.render.scene import CameraSpec, FloorSpec, LightSpec, MaterialSpec, SceneSpec, default_scene

__all__ = ["VIEWS", "CameraSpec", "FloorSpec", "LightSpec", "MaterialSpec", "RenderResult", "SceneSpec",
           "default_scene", "frame_camera", "frame_clip", "parse_size", "plan_render", "render_frames", "render_video"]
