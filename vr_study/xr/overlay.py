"""GL drawing of the interaction layer: a world-locked panel image and the pointer rays.

Drawn after the scene into the same framebuffer (:attr:`vr_study.xr.scene.Scene.overlays`),
depth-tested against it. The panel is a textured quad: its image is uploaded as an sRGB
texture (GL_SRGB8_ALPHA8) with a full mipmap chain and trilinear, anisotropic filtering,
so that text stays crisp when the quad covers fewer pixels than the image has; the
texture is uploaded again only when the view's ``version`` changes. Rays are unlit lines
from each tracked aim pose to where they hit the panel (or :data:`RAY_LENGTH_M`), with a
small octahedron as the hit dot. Needs a current OpenGL 3.3 core context.
"""
from __future__ import annotations

import ctypes

import numpy as np
from OpenGL import GL

from vr_study.xr.panel_source import PanelView
from vr_study.xr.raycast import PanelPlacement

OVERLAY_VERTEX_SHADER = """#version 330 core
layout(location = 0) in vec3 a_position;
layout(location = 1) in vec2 a_uv;
uniform mat4 u_mvp;
out vec2 v_uv;
void main() {
    v_uv = a_uv;
    gl_Position = u_mvp * vec4(a_position, 1.0);
}
"""

OVERLAY_FRAGMENT_SHADER = """#version 330 core
in vec2 v_uv;
uniform sampler2D u_image;   // sRGB texture: sampled as linear colour
uniform int u_textured;
uniform vec4 u_color;        // linear RGBA for untextured geometry
uniform int u_encode_srgb;   // 1: the target is not sRGB-encoded, so encode here
out vec4 frag_color;
void main() {
    vec4 c = u_textured != 0 ? texture(u_image, v_uv) : u_color;
    if (u_encode_srgb == 1) {
        vec3 lo = c.rgb * 12.92;
        vec3 hi = 1.055 * pow(c.rgb, vec3(1.0 / 2.4)) - 0.055;
        c.rgb = mix(hi, lo, vec3(lessThanEqual(c.rgb, vec3(0.0031308))));
    }
    frag_color = c;
}
"""

RAY_RGBA = (0.25, 0.85, 1.0, 1.0)
"""Colour of pointer rays and their hit dots (linear RGBA): a cyan no room surface has."""
HIT_DOT_RADIUS_M = 0.008
_GL_TEXTURE_MAX_ANISOTROPY = 0x84FE


def _octahedron(radius_m: float) -> np.ndarray:
    """(24, 3) triangle vertices of an octahedron around the origin."""
    r = radius_m
    px, nx, py, ny, pz, nz = (r, 0, 0), (-r, 0, 0), (0, r, 0), (0, -r, 0), (0, 0, r), (0, 0, -r)
    tris = [(px, py, pz), (py, nx, pz), (nx, ny, pz), (ny, px, pz),
            (py, px, nz), (nx, py, nz), (ny, nx, nz), (px, ny, nz)]
    return np.array(tris, np.float32).reshape(-1, 3)


class Overlay:
    """The panel quad and the rays; set them per frame, drawn by the scene for each eye."""

    def __init__(self) -> None:
        from vr_study.xr.scene import link_program

        prog = link_program(OVERLAY_VERTEX_SHADER, OVERLAY_FRAGMENT_SHADER)
        self.prog = prog
        self.u_mvp = GL.glGetUniformLocation(prog, "u_mvp")
        self.u_textured = GL.glGetUniformLocation(prog, "u_textured")
        self.u_color = GL.glGetUniformLocation(prog, "u_color")
        self.u_encode_srgb = GL.glGetUniformLocation(prog, "u_encode_srgb")
        GL.glUseProgram(prog)
        GL.glUniform1i(GL.glGetUniformLocation(prog, "u_image"), 0)
        GL.glUseProgram(0)
        # panel: the unit square (x, y in -0.5..0.5), uv with v = 0 at the top
        quad = np.array([[-0.5, -0.5, 0, 0, 1], [0.5, -0.5, 0, 1, 1], [0.5, 0.5, 0, 1, 0],
                         [-0.5, -0.5, 0, 0, 1], [0.5, 0.5, 0, 1, 0], [-0.5, 0.5, 0, 0, 0]], np.float32)
        self._quad_vao, self._quad_vbo = self._vertex_array(quad, dynamic=False)
        self._lines_vao, self._lines_vbo = self._vertex_array(np.zeros((64, 5), np.float32), dynamic=True)
        self._dot = _octahedron(HIT_DOT_RADIUS_M)
        self._texture = int(GL.glGenTextures(1))
        self._texture_version: int | None = None
        self._texture_size = (0, 0)
        self.uploads = 0  # texture uploads so far (tests check re-upload only on a new version)
        self.panel: PanelPlacement | None = None
        self._segments: list[tuple[np.ndarray, np.ndarray, bool]] = []  # (start, end, hit dot)

    @staticmethod
    def _vertex_array(data: np.ndarray, dynamic: bool) -> tuple[int, int]:
        vao = int(GL.glGenVertexArrays(1))
        GL.glBindVertexArray(vao)
        vbo = int(GL.glGenBuffers(1))
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, vbo)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, data.nbytes, data, GL.GL_DYNAMIC_DRAW if dynamic else GL.GL_STATIC_DRAW)
        GL.glEnableVertexAttribArray(0)
        GL.glVertexAttribPointer(0, 3, GL.GL_FLOAT, GL.GL_FALSE, 20, ctypes.c_void_p(0))
        GL.glEnableVertexAttribArray(1)
        GL.glVertexAttribPointer(1, 2, GL.GL_FLOAT, GL.GL_FALSE, 20, ctypes.c_void_p(12))
        GL.glBindVertexArray(0)
        return vao, vbo

    # ------------------------------------------------------------------ per frame
    def set_panel(self, view: PanelView | None, placement: PanelPlacement | None) -> None:
        """Show ``view`` at ``placement`` (None: no panel). Uploads the image when its
        version differs from the one on the GPU."""
        self.panel = placement if view is not None else None
        if view is None or view.version == self._texture_version:
            return
        img = np.ascontiguousarray(view.image_rgba, np.uint8)
        if img.ndim != 3 or img.shape[2] != 4:
            raise ValueError(f"PanelView.image_rgba must be (H, W, 4) uint8, got {img.shape}")
        h, w = img.shape[:2]
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        if (w, h) != self._texture_size:
            levels = int(np.floor(np.log2(max(w, h)))) + 1
            GL.glDeleteTextures(1, [self._texture])  # immutable storage: a new texture for a new size
            self._texture = int(GL.glGenTextures(1))
            GL.glBindTexture(GL.GL_TEXTURE_2D, self._texture)
            GL.glTexStorage2D(GL.GL_TEXTURE_2D, levels, GL.GL_SRGB8_ALPHA8, w, h)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR_MIPMAP_LINEAR)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)
            if any(_has_extension(e) for e in ("GL_EXT_texture_filter_anisotropic",
                                               "GL_ARB_texture_filter_anisotropic")):
                GL.glTexParameterf(GL.GL_TEXTURE_2D, _GL_TEXTURE_MAX_ANISOTROPY, 8.0)
            self._texture_size = (w, h)
        # GL's first row is the bottom one; the quad's uv already has v = 0 at the top,
        # so rows are uploaded as given (row 0 = top of the image = uv v 0)
        GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, img)
        GL.glGenerateMipmap(GL.GL_TEXTURE_2D)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        self._texture_version = view.version
        self.uploads += 1

    def set_rays(self, segments: list[tuple[np.ndarray, np.ndarray, bool]]) -> None:
        """Rays to draw: (start (3,), end (3,), draw a hit dot at the end) in STAGE metres."""
        self._segments = list(segments)

    # ------------------------------------------------------------------ drawing
    def draw(self, view_proj: np.ndarray, encode_srgb: bool = False) -> None:
        """Draw into the bound framebuffer (the scene's state: depth test on).

        ``encode_srgb``: the target is a plain RGBA8 texture, so the shader sRGB-encodes its
        linear output (as the scene's shaders do); else the sRGB framebuffer encodes it."""
        GL.glUseProgram(self.prog)
        GL.glUniform1i(self.u_encode_srgb, 1 if encode_srgb else 0)
        if self.panel is not None:
            model = self.panel.matrix() @ np.diag([self.panel.width_m, self.panel.height_m, 1.0, 1.0])
            GL.glUniformMatrix4fv(self.u_mvp, 1, GL.GL_TRUE, (view_proj @ model).astype(np.float32))
            GL.glUniform1i(self.u_textured, 1)
            GL.glActiveTexture(GL.GL_TEXTURE0)
            GL.glBindTexture(GL.GL_TEXTURE_2D, self._texture)
            GL.glEnable(GL.GL_BLEND)
            GL.glBlendFunc(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)
            GL.glBindVertexArray(self._quad_vao)
            GL.glDrawArrays(GL.GL_TRIANGLES, 0, 6)
            GL.glDisable(GL.GL_BLEND)
            GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        if self._segments:
            lines = []
            tris = []
            for start, end, dot in self._segments:
                lines += [start, end]
                if dot:
                    tris.append(self._dot + np.asarray(end, np.float32))
            verts = np.zeros((len(lines) + sum(len(t) for t in tris), 5), np.float32)
            verts[: len(lines), :3] = np.asarray(lines, np.float32)
            if tris:
                verts[len(lines):, :3] = np.concatenate(tris)
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._lines_vbo)
            GL.glBufferData(GL.GL_ARRAY_BUFFER, verts.nbytes, verts, GL.GL_DYNAMIC_DRAW)
            GL.glUniformMatrix4fv(self.u_mvp, 1, GL.GL_TRUE, np.asarray(view_proj, np.float32))
            GL.glUniform1i(self.u_textured, 0)
            GL.glUniform4f(self.u_color, *RAY_RGBA)
            GL.glBindVertexArray(self._lines_vao)
            GL.glDrawArrays(GL.GL_LINES, 0, len(lines))
            if tris:
                GL.glDrawArrays(GL.GL_TRIANGLES, len(lines), len(verts) - len(lines))
        GL.glBindVertexArray(0)
        GL.glUseProgram(0)

    def release(self) -> None:
        GL.glDeleteVertexArrays(2, [self._quad_vao, self._lines_vao])
        GL.glDeleteBuffers(2, [self._quad_vbo, self._lines_vbo])
        GL.glDeleteTextures(1, [self._texture])
        GL.glDeleteProgram(self.prog)


def _has_extension(name: str) -> bool:
    n = int(GL.glGetIntegerv(GL.GL_NUM_EXTENSIONS))
    return any(GL.glGetStringi(GL.GL_EXTENSIONS, i).decode() == name for i in range(n))
