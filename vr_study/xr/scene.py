"""The XR scene drawn with a small OpenGL 3.3 core pipeline: a room and skinned avatars.

Everything is drawn into a colour texture the caller owns (an OpenXR swapchain image, or
the simulator's own texture) through one framebuffer object with a depth renderbuffer.
Avatars come in two kinds. CPU-skinned: vertices and normals updated per frame with
``glBufferSubData``. GPU-skinned (:mod:`vr_study.xr.gpuskin`): the rest template, its
normals, the skinning weights and the expression basis are uploaded once; per frame only
the 55 joint transforms and the expression coefficients go into a uniform block, and the
vertex shader does blend shapes and linear blend skinning. Nothing is read back.
Units: metres, STAGE coordinates (Y up, floor at y = 0).
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

#: Vertex shader of GPU-skinned avatars (see vr_study.xr.gpuskin.skin_reference for the same
#: math in numpy). ``WEIGHT_LIST`` is defined for the exact per-vertex weight lists.
SKIN_VERTEX_SHADER = """#version 330 core
layout(location = 0) in vec3 a_position;   // shaped rest template, metres
layout(location = 1) in vec3 a_normal;     // its unit normals
layout(location = 2) in ivec4 a_joints;    // top-4 joints; WEIGHT_LIST: (offset, count, -, -)
layout(location = 3) in vec4 a_weights;    // top-4 weights (sum 1)
layout(location = 4) in int a_expr_row;    // row in the expression basis, -1: none
layout(location = 5) in int a_pose_row;    // row in the pose-corrective basis, -1: none
layout(std140) uniform Skin {
    mat4 u_joints[55];     // skinning transforms: rest point -> posed point (model frame)
    vec4 u_expr[25];       // expression coefficients, 4 per vec4
    vec4 u_pose[122];      // SMPL-X pose feature (R_j - I, joints 1-54), 4 per vec4
};
uniform int u_num_expr;
uniform int u_num_pose_groups;        // 122 with pose correctives, 0 without
uniform samplerBuffer u_expr_basis;   // texel row * E + e: offset (m) per unit coefficient
uniform samplerBuffer u_pose_basis;   // texel (row * 3 + xyz) * 122 + g: 4 features' offsets (m)
uniform samplerBuffer u_weight_list;  // (joint, weight) pairs
uniform mat4 u_model;
uniform mat4 u_view_proj;
out vec3 v_normal;
out vec3 v_world;
void main() {
    vec3 p = a_position;
    if (a_expr_row >= 0) {
        int base = a_expr_row * u_num_expr;
        for (int e = 0; e < u_num_expr; ++e)
            p += u_expr[e >> 2][e & 3] * texelFetch(u_expr_basis, base + e).xyz;
    }
    if (a_pose_row >= 0 && u_num_pose_groups > 0) {  // pose correctives, before skinning
        int base = a_pose_row * 3 * u_num_pose_groups;
        vec3 d = vec3(0.0);
        for (int g = 0; g < u_num_pose_groups; ++g) {
            vec4 f = u_pose[g];
            d.x += dot(f, texelFetch(u_pose_basis, base + g));
            d.y += dot(f, texelFetch(u_pose_basis, base + u_num_pose_groups + g));
            d.z += dot(f, texelFetch(u_pose_basis, base + 2 * u_num_pose_groups + g));
        }
        p += d;
    }
#ifdef WEIGHT_LIST
    mat4 skin = mat4(0.0);
    for (int i = 0; i < a_joints.y; ++i) {
        vec2 jw = texelFetch(u_weight_list, a_joints.x + i).xy;
        skin += jw.y * u_joints[int(jw.x + 0.5)];
    }
#else
    mat4 skin = a_weights.x * u_joints[a_joints.x] + a_weights.y * u_joints[a_joints.y]
              + a_weights.z * u_joints[a_joints.z] + a_weights.w * u_joints[a_joints.w];
#endif
    vec4 world = u_model * (skin * vec4(p, 1.0));
    v_world = world.xyz;
    v_normal = mat3(u_model) * (mat3(skin) * a_normal);
    gl_Position = u_view_proj * world;
}
"""

SKIN_RGB = (0.80, 0.62, 0.52)
#: Floats in the ``Skin`` uniform block (std140: 55 mat4, 25 vec4, 122 vec4).
_SKIN_BLOCK_FLOATS = 55 * 16 + 25 * 4 + 122 * 4


def _compile(kind: int, src: str) -> int:
    sh = GL.glCreateShader(kind)
    GL.glShaderSource(sh, src)
    GL.glCompileShader(sh)
    if not GL.glGetShaderiv(sh, GL.GL_COMPILE_STATUS):
        raise RuntimeError(GL.glGetShaderInfoLog(sh).decode(errors="replace"))
    return sh


def _program(vertex_shader: str = VERTEX_SHADER) -> int:
    prog = GL.glCreateProgram()
    shaders = [_compile(GL.GL_VERTEX_SHADER, vertex_shader), _compile(GL.GL_FRAGMENT_SHADER, FRAGMENT_SHADER)]
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
    skin: "_SkinState | None" = None  # GPU-skinned avatars only


@dataclass
class _SkinState:
    """GL objects of a GPU-skinned avatar beyond its mesh."""

    weight_list: bool
    ubo: int
    buffers: list          # extra vertex buffers and texture-buffer storage
    textures: list         # [expression basis, weight list, pose basis] buffer textures
    num_expr: int
    num_pose_groups: int = 0  # 0: no pose correctives


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


def _buffer_texture(data: np.ndarray, internal_format: int) -> tuple[int, int]:
    """(buffer, texture): ``data`` in a texture buffer object (at least one texel)."""
    arr = np.ascontiguousarray(data, np.float32)
    if arr.size == 0:
        arr = np.zeros(4, np.float32)
    buf = int(GL.glGenBuffers(1))
    GL.glBindBuffer(GL.GL_TEXTURE_BUFFER, buf)
    GL.glBufferData(GL.GL_TEXTURE_BUFFER, arr.nbytes, arr, GL.GL_STATIC_DRAW)
    tex = int(GL.glGenTextures(1))
    GL.glBindTexture(GL.GL_TEXTURE_BUFFER, tex)
    GL.glTexBuffer(GL.GL_TEXTURE_BUFFER, internal_format, buf)
    GL.glBindTexture(GL.GL_TEXTURE_BUFFER, 0)
    GL.glBindBuffer(GL.GL_TEXTURE_BUFFER, 0)
    return buf, tex


class _Program:
    """A linked program and the uniform locations the scene sets."""

    def __init__(self, vertex_shader: str) -> None:
        self.prog = _program(vertex_shader)
        loc = lambda name: GL.glGetUniformLocation(self.prog, name)  # noqa: E731
        self.u_model, self.u_view_proj, self.u_albedo = loc("u_model"), loc("u_view_proj"), loc("u_albedo")
        self.u_key, self.u_fill = loc("u_key_dir"), loc("u_fill_dir")
        self.u_num_expr = loc("u_num_expr")
        self.u_num_pose_groups = loc("u_num_pose_groups")
        if self.u_num_expr >= 0:
            GL.glUseProgram(self.prog)
            GL.glUniform1i(loc("u_expr_basis"), 0)
            GL.glUniform1i(loc("u_weight_list"), 1)
            GL.glUniform1i(loc("u_pose_basis"), 2)
            GL.glUniformBlockBinding(self.prog, GL.glGetUniformBlockIndex(self.prog, "Skin"), 0)
            GL.glUseProgram(0)


class Scene:
    """GL resources of the room and the avatars; needs a current OpenGL 3.3 core context."""

    def __init__(self) -> None:
        self._plain = _Program(VERTEX_SHADER)
        self._skinned: dict[bool, _Program] = {}  # weight_list -> program, built when first needed
        self._room = [_make_mesh(p, n, f, np.eye(4), c, dynamic=False) for p, n, f, c in room_geometry()]
        self._avatars: list[_Mesh] = []
        self._fbo = int(GL.glGenFramebuffers(1))
        self._depth = int(GL.glGenRenderbuffers(1))
        self._depth_size = (0, 0)
        self.overlays: list = []  # drawn after the meshes, e.g. vr_study.xr.overlay.Overlay
        self.key_dir = np.array([0.3, 0.8, 0.5], np.float32) / np.linalg.norm([0.3, 0.8, 0.5])
        self.fill_dir = np.array([-0.5, 0.3, 0.8], np.float32) / np.linalg.norm([-0.5, 0.3, 0.8])

    # ------------------------------------------------------------------ avatars
    def add_avatar(self, vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray, model: np.ndarray,
                   albedo: tuple[float, float, float] = SKIN_RGB) -> int:
        """Upload an avatar's first pose; returns its index for :meth:`update_avatar`."""
        self._avatars.append(_make_mesh(vertices, normals, faces, model, albedo, dynamic=True))
        return len(self._avatars) - 1

    def add_skinned_avatar(self, rig, model: np.ndarray, albedo: tuple[float, float, float] = SKIN_RGB) -> int:
        """Upload a :class:`~vr_study.xr.gpuskin.SkinRig` for GPU skinning (rest pose until
        :meth:`update_skin`); returns the avatar's index."""
        weight_list = rig.weight_mode == "list"
        if weight_list not in self._skinned:
            src = SKIN_VERTEX_SHADER
            if weight_list:
                src = src.replace("#version 330 core\n", "#version 330 core\n#define WEIGHT_LIST 1\n", 1)
            self._skinned[weight_list] = _Program(src)
        mesh = _make_mesh(rig.rest_vertices, rig.rest_normals, rig.faces, model, albedo, dynamic=False)
        GL.glBindVertexArray(mesh.vao)
        extra = [int(b) for b in GL.glGenBuffers(4)]
        if weight_list:
            joints = np.zeros((rig.num_vertices, 4), np.int32)
            joints[:, 0], joints[:, 1] = rig.weight_offset, rig.weight_count
        else:
            joints = np.ascontiguousarray(rig.joint_index, np.int32)
        for loc, buf, data, size, integer in ((2, extra[0], joints, 4, True),
                                              (3, extra[1], np.ascontiguousarray(rig.joint_weight, np.float32), 4,
                                               False),
                                              (4, extra[2], np.ascontiguousarray(rig.expr_row, np.int32), 1, True),
                                              (5, extra[3], np.ascontiguousarray(rig.pose_row, np.int32), 1, True)):
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, buf)
            GL.glBufferData(GL.GL_ARRAY_BUFFER, data.nbytes, data, GL.GL_STATIC_DRAW)
            GL.glEnableVertexAttribArray(loc)
            if integer:
                GL.glVertexAttribIPointer(loc, size, GL.GL_INT, 0, ctypes.c_void_p(0))
            else:
                GL.glVertexAttribPointer(loc, size, GL.GL_FLOAT, GL.GL_FALSE, 0, ctypes.c_void_p(0))
        GL.glBindVertexArray(0)
        basis = np.zeros((max(1, rig.expr_basis.shape[0] * rig.num_expression), 4), np.float32)
        basis[: rig.expr_basis.shape[0] * rig.num_expression, :3] = rig.expr_basis.reshape(-1, 3)
        buf_e, tex_e = _buffer_texture(basis, GL.GL_RGBA32F)
        buf_w, tex_w = _buffer_texture(rig.weight_pairs if weight_list else np.zeros((1, 2), np.float32),
                                       GL.GL_RG32F)
        pose_groups = rig.pose_basis.shape[2] if rig.has_pose_correctives else 0
        buf_p, tex_p = _buffer_texture(rig.pose_basis.reshape(-1, 4), GL.GL_RGBA32F)
        ubo = int(GL.glGenBuffers(1))
        GL.glBindBuffer(GL.GL_UNIFORM_BUFFER, ubo)
        GL.glBufferData(GL.GL_UNIFORM_BUFFER, _SKIN_BLOCK_FLOATS * 4, None, GL.GL_DYNAMIC_DRAW)
        GL.glBindBuffer(GL.GL_UNIFORM_BUFFER, 0)
        mesh.skin = _SkinState(weight_list, ubo, extra + [buf_e, buf_w, buf_p], [tex_e, tex_w, tex_p],
                               rig.num_expression, pose_groups)
        self._avatars.append(mesh)
        index = len(self._avatars) - 1
        rest = np.tile(np.eye(4, dtype=np.float32), (55, 1, 1))
        rest[:, 1, 3] = rig.ground_offset_m
        self.update_skin(index, rest, np.zeros(rig.num_expression, np.float32))
        return index

    def update_skin(self, index: int, transforms: np.ndarray, expression: np.ndarray,
                    pose_features: np.ndarray | None = None) -> None:
        """Set GPU-skinned avatar ``index``'s pose: ``transforms`` (55, 4, 4) rest point ->
        posed point in the model frame (metres), ``expression`` (E,) coefficients,
        ``pose_features`` (488,) the pose feature for the correctives
        (:func:`vr_study.xr.gpuskin.pose_feature`; None: rest pose, no corrective)."""
        skin = self._avatars[index].skin
        if skin is None:
            raise ValueError(f"avatar {index} is skinned on the CPU: use update_avatar")
        block = np.zeros(_SKIN_BLOCK_FLOATS, np.float32)
        block[: 55 * 16] = np.asarray(transforms, np.float32).transpose(0, 2, 1).ravel()  # column-major
        e = np.asarray(expression, np.float32).ravel()[:100]
        block[55 * 16: 55 * 16 + len(e)] = e
        if pose_features is not None:
            f = np.asarray(pose_features, np.float32).ravel()[: 122 * 4]
            block[55 * 16 + 25 * 4: 55 * 16 + 25 * 4 + len(f)] = f
        GL.glBindBuffer(GL.GL_UNIFORM_BUFFER, skin.ubo)
        # a whole new store (orphaning): no wait for draws still reading the previous pose
        GL.glBufferData(GL.GL_UNIFORM_BUFFER, block.nbytes, block, GL.GL_DYNAMIC_DRAW)
        GL.glBindBuffer(GL.GL_UNIFORM_BUFFER, 0)

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
        view_proj = (proj @ view).astype(np.float32)
        plain = self._room + [m for m in self._avatars if m.skin is None]
        groups = [(self._plain, plain)] + [(prog, [m for m in self._avatars if m.skin is not None
                                                   and m.skin.weight_list == wl])
                                           for wl, prog in self._skinned.items()]
        for prog, meshes in groups:
            if not meshes:
                continue
            GL.glUseProgram(prog.prog)
            GL.glUniformMatrix4fv(prog.u_view_proj, 1, GL.GL_TRUE, view_proj)
            GL.glUniform3fv(prog.u_key, 1, self.key_dir)
            GL.glUniform3fv(prog.u_fill, 1, self.fill_dir)
            for m in meshes:
                GL.glUniformMatrix4fv(prog.u_model, 1, GL.GL_TRUE, m.model)
                GL.glUniform3f(prog.u_albedo, *m.albedo)
                if m.skin is not None:
                    GL.glUniform1i(prog.u_num_expr, m.skin.num_expr)
                    GL.glUniform1i(prog.u_num_pose_groups, m.skin.num_pose_groups)
                    GL.glBindBufferBase(GL.GL_UNIFORM_BUFFER, 0, m.skin.ubo)
                    for unit, tex in enumerate(m.skin.textures):
                        GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
                        GL.glBindTexture(GL.GL_TEXTURE_BUFFER, tex)
                GL.glBindVertexArray(m.vao)
                GL.glDrawElements(GL.GL_TRIANGLES, m.index_count, GL.GL_UNSIGNED_INT, ctypes.c_void_p(0))
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindVertexArray(0)
        GL.glUseProgram(0)
        for overlay in self.overlays:
            overlay.draw(view_proj)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, 0, 0)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def release(self) -> None:
        """Delete the GL objects (call with the context current)."""
        for m in self._room + self._avatars:
            GL.glDeleteVertexArrays(1, [m.vao])
            GL.glDeleteBuffers(3, [m.vbo_pos, m.vbo_nrm, m.ebo])
            if m.skin is not None:
                GL.glDeleteTextures(len(m.skin.textures), m.skin.textures)
                GL.glDeleteBuffers(len(m.skin.buffers) + 1, m.skin.buffers + [m.skin.ubo])
        GL.glDeleteFramebuffers(1, [self._fbo])
        GL.glDeleteRenderbuffers(1, [self._depth])
        for prog in [self._plain, *self._skinned.values()]:
            GL.glDeleteProgram(prog.prog)
        self._skinned = {}
        self._room, self._avatars = [], []
