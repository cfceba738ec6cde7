"""Offscreen rendering to RGB arrays, with the still part of the scene drawn once.

Drawing a talking avatar, only the body changes from frame to frame; background and floor
do not (while the camera stays put). On framebuffer platforms (EGL) :class:`FrameRenderer`
therefore runs its own forward pass over pyrender's (pinned 0.1.45) shader programs and
helpers:

* the *static* meshes (the floor) are drawn once into pyrender's multisampled framebuffer,
  whose colour and depth samples are then copied raw (glCopyImageSubData) into a cache
  framebuffer; each later
  frame starts from a copy of that cache instead of a clear and a floor redraw;
* the remaining visible meshes (the body) are drawn on top with the usual depth test;
* only the colour buffer is resolved and read back (pyrender always reads and converts
  depth as well), and only inside the screen rectangle around the moving meshes: outside
  it every pixel is the still background's, resolved and read once with the cache.

Per sample this gives exactly what pyrender's own pass draws (the same shaders, uniforms
and depth test; a copy of the floor's samples instead of recomputing them), so the
pixels are identical; ``benchmarks/render.py`` checks this frame by frame. On OSMesa
(no framebuffer objects) pyrender's plain path is used.
"""
from __future__ import annotations

import types
from typing import Any, Callable, Iterable

import numpy as np

from vr_study.render.dynamic_mesh import DynamicMesh
from vr_study.render.gl_platform import import_pyrender

MSAA_SAMPLES = 4  # pyrender's main framebuffer
MAX_LAYERS = 8  # cached still layers (one per camera: one per panel of a side-by-side video)


class _StaticLayer:
    """A multisampled colour+depth framebuffer holding the still meshes from one camera,
    and the same picture resolved to RGB (``background``)."""

    def __init__(self, width: int, height: int):
        from OpenGL import GL

        color, depth = GL.glGenRenderbuffers(2)
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, color)
        GL.glRenderbufferStorageMultisample(GL.GL_RENDERBUFFER, MSAA_SAMPLES, GL.GL_RGBA, width, height)
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, depth)
        GL.glRenderbufferStorageMultisample(GL.GL_RENDERBUFFER, MSAA_SAMPLES, GL.GL_DEPTH_COMPONENT24, width, height)
        self.buffers = (int(color), int(depth))
        self.background: np.ndarray | None = None

    def delete(self) -> None:
        from OpenGL import GL

        GL.glDeleteRenderbuffers(2, list(self.buffers))


def _copy_samples(src: tuple[int, int], dst: tuple[int, int], width: int, height: int) -> None:
    """Copy colour and depth renderbuffers sample for sample (glCopyImageSubData, raw copy).

    A framebuffer blit between multisampled buffers may resolve and re-spread samples on
    some drivers; a raw image copy never changes them.
    """
    from OpenGL import GL

    for s, d in zip(src, dst):
        GL.glCopyImageSubData(s, GL.GL_RENDERBUFFER, 0, 0, 0, 0, d, GL.GL_RENDERBUFFER, 0, 0, 0, 0, width, height, 1)


def _draw_nodes(renderer: Any, scene: Any, nodes: list, flags: int) -> None:
    """Draw mesh ``nodes`` as pyrender's forward pass does (lit, material shaders)."""
    pyrender = import_pyrender()
    V, P = renderer._get_camera_matrices(scene)
    cam_pos = scene.get_pose(scene.main_camera_node)[:3, 3]
    program = None
    for node in nodes:
        for primitive in node.mesh.primitives:
            program = renderer._get_primitive_program(primitive, flags, pyrender.constants.ProgramFlags.USE_MATERIAL)
            program._bind()
            program.set_uniform("V", V)
            program.set_uniform("P", P)
            program.set_uniform("cam_pos", cam_pos)
            renderer._bind_lighting(scene, program, node, flags)
            renderer._bind_and_draw_primitive(primitive=primitive, pose=scene.get_pose(node),
                                              program=program, flags=flags)
            renderer._reset_active_textures()
    if program is not None:
        program._unbind()


def _read_color(renderer: Any, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Resolve the multisampled framebuffer and read its colour, top row first, uint8 RGB.

    ``box`` = (x0, y0, x1, y1) in GL window pixels (origin bottom left): resolve and read only
    that rectangle; None: the whole frame.
    """
    from OpenGL import GL

    width, height = renderer._main_fb_dims
    x0, y0, x1, y1 = box if box is not None else (0, 0, width, height)
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, renderer._main_fb_ms)
    GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, renderer._main_fb)
    GL.glBlitFramebuffer(x0, y0, x1, y1, x0, y0, x1, y1, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR)
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, renderer._main_fb)
    data = GL.glReadPixels(x0, y0, x1 - x0, y1 - y0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
    return np.ascontiguousarray(np.frombuffer(data, np.uint8).reshape(y1 - y0, x1 - x0, 3)[::-1])


def _screen_box(renderer: Any, scene: Any, nodes: list, width: int, height: int,
                pad_px: int = 2) -> tuple[int, int, int, int] | None:
    """Window-pixel box (x0, y0, x1, y1) that holds every vertex of ``nodes`` (None: all of the frame)."""
    V, P = renderer._get_camera_matrices(scene)
    lo, hi = np.array([np.inf, np.inf]), np.array([-np.inf, -np.inf])
    for node in nodes:
        for primitive in node.mesh.primitives:
            to_clip = P @ V @ scene.get_pose(node)
            clip = np.asarray(primitive.positions, np.float64) @ to_clip[:, :3].T + to_clip[:, 3]
            if np.any(clip[:, 3] <= 1e-6):  # something at or behind the eye: no safe box
                return None
            ndc = clip[:, :2] / clip[:, 3:4]
            lo, hi = np.minimum(lo, ndc.min(axis=0)), np.maximum(hi, ndc.max(axis=0))
    if not np.all(np.isfinite(lo)):
        return (0, 0, 0, 0)
    x0 = int(np.floor((lo[0] + 1) / 2 * width)) - pad_px
    x1 = int(np.ceil((hi[0] + 1) / 2 * width)) + pad_px
    y0 = int(np.floor((lo[1] + 1) / 2 * height)) - pad_px
    y1 = int(np.ceil((hi[1] + 1) / 2 * height)) + pad_px
    x0, x1 = max(0, min(x0, width)), max(0, min(x1, width))
    y0, y1 = max(0, min(y0, height)), max(0, min(y1, height))
    return (x0, y0, max(x0, x1), max(y0, y1))


class FrameRenderer:
    """Renders a pyrender scene to (height, width, 3) uint8 RGB images, headless.

    ``render(scene, dynamic_meshes, static_meshes)``: the :class:`DynamicMesh` objects are
    synced (their new vertices uploaded) first; ``static_meshes`` (pyrender Meshes of the
    scene that never change, e.g. the floor) are drawn once per camera pose and reused.
    If lights or static meshes change otherwise, call :meth:`invalidate`.
    """

    def __init__(self, width: int, height: int):
        pyrender = import_pyrender()
        self.width, self.height = int(width), int(height)
        self._offscreen = pyrender.OffscreenRenderer(self.width, self.height)
        self._fast = bool(self._offscreen._platform.supports_framebuffers())
        self._layers: dict[tuple, _StaticLayer] = {}  # by camera, scene, still meshes; oldest first
        self._static: frozenset = frozenset()
        self._while_drawing: Callable[[], None] | None = None

    def invalidate(self) -> None:
        """Forget the cached still layers (they are redrawn on the next render)."""
        if self._layers:
            self._offscreen._platform.make_current()
        for layer in self._layers.values():
            layer.delete()
        self._layers.clear()

    def _forward_pass(self, renderer: Any, scene: Any, flags: int, seg_node_map: Any = None) -> tuple:
        from OpenGL import GL

        w, h = renderer.viewport_width, renderer.viewport_height
        renderer._configure_forward_pass_viewport(flags)  # binds the multisampled framebuffer
        nodes = [n for n in renderer._sorted_mesh_nodes(scene) if n.mesh.is_visible]
        static = [n for n in nodes if id(n.mesh) in self._static]
        moving = [n for n in nodes if id(n.mesh) not in self._static]
        cam = scene.main_camera_node
        key = (id(scene), id(cam), scene.get_pose(cam).tobytes(), cam.camera.get_projection_matrix(w, h).tobytes(),
               tuple(id(n) for n in static), tuple(scene.bg_color), (w, h))
        both = GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT
        main = (renderer._main_cb_ms, renderer._main_db_ms)
        layer = self._layers.get(key)
        if layer is None:
            if len(self._layers) >= MAX_LAYERS:
                self._layers.pop(next(iter(self._layers))).delete()
            layer = self._layers[key] = _StaticLayer(w, h)
            GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, renderer._main_fb_ms)
            GL.glClearColor(*scene.bg_color)
            GL.glClear(both)
            GL.glEnable(GL.GL_MULTISAMPLE)
            _draw_nodes(renderer, scene, static, flags)
            _copy_samples(main, layer.buffers, w, h)
            layer.background = _read_color(renderer)  # the still part, resolved
        else:
            _copy_samples(layer.buffers, main, w, h)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, renderer._main_fb_ms)
        GL.glEnable(GL.GL_MULTISAMPLE)
        _draw_nodes(renderer, scene, moving, flags)
        GL.glFlush()
        # pixels the moving meshes cannot reach are the still background's: read back only
        # the rectangle around the moving meshes and paste it in
        box = _screen_box(renderer, scene, moving, w, h)
        self._run_while_drawing()
        if box is None:
            return _read_color(renderer), None
        image = layer.background.copy()
        x0, y0, x1, y1 = box
        if x1 > x0 and y1 > y0:
            image[h - y1:h - y0, x0:x1] = _read_color(renderer, box)
        return image, None

    def _run_while_drawing(self) -> None:
        job, self._while_drawing = self._while_drawing, None
        if job is not None:
            job()

    def render(self, scene: Any, dynamic_meshes: Iterable[DynamicMesh] = (),
               static_meshes: Iterable[Any] = (), while_drawing: Callable[[], None] | None = None) -> np.ndarray:
        """Draw ``scene`` from its main camera; return RGB (height, width, 3) uint8.

        ``while_drawing``: called once the frame's draw calls are issued and before its
        pixels are read back, so that CPU work for the next frame (e.g.
        :meth:`DynamicMesh.set_vertices`) overlaps the drawing. It must not change what this
        frame shows (the meshes' uploaded buffers are already in the GL's hands).
        """
        self._while_drawing = while_drawing
        self._offscreen._platform.make_current()
        for mesh in dynamic_meshes:
            mesh.sync()
        inner = self._offscreen._renderer
        if self._fast:
            self._static = frozenset(id(m) for m in static_meshes)
            # pyrender 0.1.45 (pinned): its render() calls _forward_pass; ours is swapped in
            inner._forward_pass = types.MethodType(lambda r, *a, **k: self._forward_pass(r, *a, **k), inner)
            try:
                color, _ = self._offscreen.render(scene)
            finally:
                del inner._forward_pass
        else:
            color, _ = self._offscreen.render(scene)
        self._run_while_drawing()  # (not run yet when pyrender's own pass drew the frame)
        return np.ascontiguousarray(color)

    def close(self) -> None:
        """Free the GL context and its buffers (this ends every pyrender EGL context of the process)."""
        if self._offscreen is not None:
            self.invalidate()
            self._offscreen._platform.make_current()
            self._offscreen.delete()
            self._offscreen = None

    def __enter__(self) -> "FrameRenderer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
