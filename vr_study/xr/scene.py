"""The XR scene drawn with a small OpenGL 3.3 core pipeline: a room and skinned avatars.

Everything is drawn into a colour texture the caller owns (an OpenXR swapchain image, or
the simulator's own texture) through one framebuffer object with a depth renderbuffer.
Avatar vertices and normals are updated per frame with ``glBufferSubData``; nothing is
read back. Units: metres, STAGE coordinates (Y up, floor at y = 0).
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
from OpenGL import GL

VERTEX_SHADER = """#version 330 core
layout(location = 0) in vec3 a_position;
layout(location = 1) in vec3 a_normal;
uniform mat4 u_model;
uniform mat4 u_view_proj;
out vec3 v_normal;
out vec3 v_world;
void main() {
    vec4 world = u_model * vec4(a_position, 1.0);
    v_world = world.xyz;
    v_normal = mat3(u_model) * a_normal;
    gl_Position = u_view_proj * world;
}
"""

FRAGMENT_SHADER = """#version 330 core
in vec3 v_normal;
in vec3 v_world;
uniform vec3 u_albedo;
uniform vec3 u_key_dir;     // direction towards the key light, unit
uniform vec3 u_fill_dir;
out vec4 frag_color;
void main() {
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;
    float key = max(dot(n, u_key_dir), 0.0);
    float fill = max(dot(n, u_fill_dir), 0.0);
    float sky = 0.5 + 0.5 * n.y;  // hemisphere ambient
    vec3 light = vec3(0.80) * key + vec3(0.25) * fill + mix(vec3(0.10), vec3(0.25), sky);
    frag_color = vec4(u_albedo * light, 1.0);
}
"""

SKIN_RGB = (0.80, 0.62, 0.52)


def _compile(kind: int, src: str) -> int:
    sh = GL.glCreateShader(kind)
    GL.glShaderSource(sh, src)
    GL.glCompileShader(sh)
    if not GL.glGetShaderiv(sh, GL.GL_COMPILE_STATUS):
        raise RuntimeError(GL.glGetShaderInfoLog(sh).decode(errors="replace"))
    return sh


def _program() -> int:
    prog = GL.glCreateProgram()
    shaders = [_compile(GL.GL_VERTEX_SHADER, VERTEX_SHADER), _compile(GL.GL_FRAGMENT_SHADER, FRAGMENT_SHADER)]
    for sh in shaders:
        GL.glAttachShader(prog, sh)
    GL.glLinkProgram(prog)
    if not GL.glGetProgramiv(prog, GL.GL_LINK_STATUS):
        raise RuntimeError(GL.glGetProgramInfoLog(prog).decode(errors="replace"))
    for sh in shaders:
        GL.glDeleteShader(sh)
    return prog


@dataclass
class _Mesh:
    vao: int
    vbo_pos: int
    vbo_nrm: int
    ebo: int
    index_count: int
    model: np.ndarray   # (4, 4) model -> STAGE
    albedo: tuple[float, float, float]


def _make_mesh(positions: np.ndarray, normals: np.ndarray, faces: np.ndarray, model: np.ndarray,
               albedo: tuple[float, float, float], dynamic: bool) -> _Mesh:
    usage = GL.GL_DYNAMIC_DRAW if dynamic else GL.GL_STATIC_DRAW
    vao = GL.glGenVertexArrays(1)
    GL.glBindVertexArray(vao)
    bufs = GL.glGenBuffers(3)
    for loc, (buf, data) in enumerate(zip(bufs[:2], (positions, normals))):
        arr = np.ascontiguousarray(data, np.float32)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, buf)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, arr.nbytes, arr, usage)
        GL.glEnableVertexAttribArray(loc)
        GL.glVertexAttribPointer(loc, 3, GL.GL_FLOAT, GL.GL_FALSE, 0, ctypes.c_void_p(0))
    idx = np.ascontiguousarray(faces, np.uint32)
    GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, bufs[2])
    GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, idx.nbytes, idx, GL.GL_STATIC_DRAW)
    GL.glBindVertexArray(0)
    return _Mesh(vao, int(bufs[0]), int(bufs[1]), int(bufs[2]), idx.size, model.astype(np.float32), albedo)


def room_geometry(width_m: float = 5.0, depth_m: float = 5.0, height_m: float = 2.8,
                  center_z_m: float = -0.8) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, tuple]]:
    """Floor, ceiling and four walls as (positions, normals, faces, albedo) quads facing inwards.

    The room is neutral grey-blue, so that only the avatars' skin is reddish (tests use that).
    """
    hw, hd, z0 = width_m / 2, depth_m / 2, center_z_m
    quads = [  # corners (counter-clockwise seen from inside), inward normal, colour
        ([(-hw, 0, z0 - hd), (-hw, 0, z0 + hd), (hw, 0, z0 + hd), (hw, 0, z0 - hd)], (0, 1, 0), (0.40, 0.42, 0.46)),
        ([(-hw, height_m, z0 - hd), (hw, height_m, z0 - hd), (hw, height_m, z0 + hd), (-hw, height_m, z0 + hd)],
         (0, -1, 0), (0.85, 0.86, 0.88)),
        ([(-hw, 0, z0 - hd), (hw, 0, z0 - hd), (hw, height_m, z0 - hd), (-hw, height_m, z0 - hd)], (0, 0, 1),
         (0.75, 0.78, 0.80)),
        ([(hw, 0, z0 + hd), (-hw, 0, z0 + hd), (-hw, height_m, z0 + hd), (hw, height_m, z0 + hd)], (0, 0, -1),
         (0.75, 0.78, 0.80)),
        ([(-hw, 0, z0 + hd), (-hw, 0, z0 - hd), (-hw, height_m, z0 - hd), (-hw, height_m, z0 + hd)], (1, 0, 0),
         (0.70, 0.74, 0.78)),
        ([(hw, 0, z0 - hd), (hw, 0, z0 + hd), (hw, height_m, z0 + hd), (hw, height_m, z0 - hd)], (-1, 0, 0),
         (0.70, 0.74, 0.78)),
    ]
    out = []
    for corners, normal, colour in quads:
        p = np.array(corners, np.float32)
        n = np.tile(np.array(normal, np.float32), (4, 1))
        out.append((p, n, np.array([[0, 1, 2], [0, 2, 3]], np.uint32), colour))
    return out


class Scene:
    """GL resources of the room and the avatars; needs a current OpenGL 3.3 core context."""

    def __init__(self) -> None:
        self._prog = _program()
        self._u_model = GL.glGetUniformLocation(self._prog, "u_model")
        self._u_view_proj = GL.glGetUniformLocation(self._prog, "u_view_proj")
        self._u_albedo = GL.glGetUniformLocation(self._prog, "u_albedo")
        self._u_key = GL.glGetUniformLocation(self._prog, "u_key_dir")
        self._u_fill = GL.glGetUniformLocation(self._prog, "u_fill_dir")
        self._room = [_make_mesh(p, n, f, np.eye(4), c, dynamic=False) for p, n, f, c in room_geometry()]
        self._avatars: list[_Mesh] = []
        self._fbo = int(GL.glGenFramebuffers(1))
        self._depth = int(GL.glGenRenderbuffers(1))
        self._depth_size = (0, 0)
        self.key_dir = np.array([0.3, 0.8, 0.5], np.float32) / np.linalg.norm([0.3, 0.8, 0.5])
        self.fill_dir = np.array([-0.5, 0.3, 0.8], np.float32) / np.linalg.norm([-0.5, 0.3, 0.8])

    # ------------------------------------------------------------------ avatars
    def add_avatar(self, vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray, model: np.ndarray,
                   albedo: tuple[float, float, float] = SKIN_RGB) -> int:
        """Upload an avatar's first pose; returns its index for :meth:`update_avatar`."""
        self._avatars.append(_make_mesh(vertices, normals, faces, model, albedo, dynamic=True))
        return len(self._avatars) - 1

    def update_avatar(self, index: int, vertices: np.ndarray, normals: np.ndarray) -> None:
        """Replace avatar ``index``'s vertices and normals (V, 3) float32 (same V as added)."""
        m = self._avatars[index]
        for buf, data in ((m.vbo_pos, vertices), (m.vbo_nrm, normals)):
            arr = np.ascontiguousarray(data, np.float32)
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, buf)
            GL.glBufferSubData(GL.GL_ARRAY_BUFFER, 0, arr.nbytes, arr)

    def set_model(self, index: int, model: np.ndarray) -> None:
        """Move avatar ``index``: ``model`` (4, 4) model -> STAGE."""
        self._avatars[index].model = np.asarray(model, np.float32)

    @property
    def num_avatars(self) -> int:
        return len(self._avatars)

    # ------------------------------------------------------------------ drawing
    def _ensure_depth(self, width: int, height: int) -> None:
        if self._depth_size == (width, height):
            return
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, self._depth)
        GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, GL.GL_DEPTH_COMPONENT24, width, height)
        self._depth_size = (width, height)

    def draw_to_texture(self, texture: int, width: int, height: int, view: np.ndarray, proj: np.ndarray,
                        srgb: bool) -> None:
        """Draw the scene seen through ``view`` (4, 4) and ``proj`` (4, 4) into GL texture ``texture``.

        ``srgb``: the texture is sRGB-encoded (GL_SRGB8_ALPHA8): the shader's linear output
        is encoded on write.
        """
        self._ensure_depth(width, height)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fbo)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, texture, 0)
        GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, GL.GL_RENDERBUFFER, self._depth)
        GL.glViewport(0, 0, width, height)
        if srgb:
            GL.glEnable(GL.GL_FRAMEBUFFER_SRGB)
        else:
            GL.glDisable(GL.GL_FRAMEBUFFER_SRGB)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glClearColor(0.02, 0.02, 0.03, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        GL.glUseProgram(self._prog)
        view_proj = (proj @ view).astype(np.float32)
        GL.glUniformMatrix4fv(self._u_view_proj, 1, GL.GL_TRUE, view_proj)
        GL.glUniform3fv(self._u_key, 1, self.key_dir)
        GL.glUniform3fv(self._u_fill, 1, self.fill_dir)
        for m in self._room + self._avatars:
            GL.glUniformMatrix4fv(self._u_model, 1, GL.GL_TRUE, m.model)
            GL.glUniform3f(self._u_albedo, *m.albedo)
            GL.glBindVertexArray(m.vao)
            GL.glDrawElements(GL.GL_TRIANGLES, m.index_count, GL.GL_UNSIGNED_INT, ctypes.c_void_p(0))
        GL.glBindVertexArray(0)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, 0, 0)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def release(self) -> None:
        """Delete the GL objects (call with the context current)."""
        for m in self._room + self._avatars:
            GL.glDeleteVertexArrays(1, [m.vao])
            GL.glDeleteBuffers(3, [m.vbo_pos, m.vbo_nrm, m.ebo])
        GL.glDeleteFramebuffers(1, [self._fbo])
        GL.glDeleteRenderbuffers(1, [self._depth])
        GL.glDeleteProgram(self._prog)
        self._room, self._avatars = [], []
