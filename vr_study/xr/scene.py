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

from vr_study.render.scene import SceneSpec

VERTEX_SHADER = """#version 330 core
layout(location = 0) in vec3 a_position;
layout(location = 1) in vec3 a_normal;
layout(location = 6) in vec3 a_color;      // linear RGB material colour
layout(location = 7) in vec2 a_uv;         // texture coordinates (textured meshes)
uniform mat4 u_model;
uniform mat4 u_view_proj;
out vec3 v_normal;
out vec3 v_world;
out vec3 v_color;
out vec2 v_uv;
void main() {
    vec4 world = u_model * vec4(a_position, 1.0);
    v_world = world.xyz;
    v_normal = mat3(u_model) * a_normal;
    v_color = a_color;
    v_uv = a_uv;
    gl_Position = u_view_proj * world;
}
"""

FRAGMENT_SHADER = """#version 330 core
in vec3 v_normal;
in vec3 v_world;
in vec3 v_color;
in vec2 v_uv;
uniform int u_num_lights;
uniform vec3 u_light_dir[4];   // unit direction towards each directional light (STAGE)
uniform vec3 u_light_rgb[4];   // colour x intensity of each light
uniform vec3 u_ambient;        // ambient light (linear RGB)
uniform vec3 u_eye;            // camera position (STAGE, metres)
uniform float u_roughness;     // perceptual roughness of the dielectric material
uniform int u_use_texture;     // 1: base colour from u_base_texture (sRGB-decoded on sampling)
uniform sampler2D u_base_texture;
uniform int u_encode_srgb;     // 1: the target is not sRGB: encode here
out vec4 frag_color;
const float PI = 3.14159265;
void main() {
    // as the offline renderer (pyrender): a texture tints the diffuse and ambient terms, the
    // vertex colour multiplies the whole result
    vec3 albedo = vec3(1.0);
    if (u_use_texture == 1 && v_uv.x >= 0.0) albedo = texture(u_base_texture, v_uv).rgb;  // u < 0: untextured
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;
    vec3 v = normalize(u_eye - v_world);
    float nv = clamp(abs(dot(n, v)), 0.001, 1.0);
    float r = u_roughness;
    float a2 = r * r * r * r;              // GGX alpha = r^2, squared
    float k = (r + 1.0) * (r + 1.0) / 8.0; // Schlick-GGX geometry term
    vec3 c_diff = albedo * 0.96;           // dielectric: 4 % goes to the specular lobe
    vec3 colour = albedo * u_ambient;
    for (int i = 0; i < u_num_lights; ++i) {
        vec3 l = u_light_dir[i];
        vec3 h = normalize(l + v);
        float nl = clamp(dot(n, l), 0.001, 1.0);
        float nh = clamp(dot(n, h), 0.0, 1.0);
        float vh = clamp(dot(v, h), 0.0, 1.0);
        float F = 0.04 + 0.96 * pow(1.0 - vh, 5.0);
        float d = nh * nh * (a2 - 1.0) + 1.0;
        float D = a2 / (PI * d * d);
        float G = (nv / (nv * (1.0 - k) + k)) * (nl / (nl * (1.0 - k) + k));
        vec3 brdf = (1.0 - F) * c_diff / PI + vec3(F * G * D / (4.0 * nl * nv + 0.001));
        colour += nl * u_light_rgb[i] * brdf;
    }
    colour = clamp(colour * v_color, 0.0, 1.0);
    if (u_encode_srgb == 1)
        colour = mix(colour * 12.92, 1.055 * pow(colour, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, colour));
    frag_color = vec4(colour, 1.0);
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
layout(location = 6) in vec3 a_color;      // linear RGB material colour
layout(location = 7) in vec2 a_uv;         // texture coordinates (textured avatars)
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
out vec3 v_color;
out vec2 v_uv;
void main() {
    v_color = a_color;
    v_uv = a_uv;
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
#: Perceptual roughness of the avatars' and the room's dielectric materials (as the offline
#: renderer's body material, :class:`vr_study.render.scene.SceneSpec`).
AVATAR_ROUGHNESS = 0.6
ROOM_ROUGHNESS = 0.9
#: Floats in the ``Skin`` uniform block (std140: 55 mat4, 25 vec4, 122 vec4).
_SKIN_BLOCK_FLOATS = 55 * 16 + 25 * 4 + 122 * 4


def _compile(kind: int, src: str) -> int:
    sh = GL.glCreateShader(kind)
    GL.glShaderSource(sh, src)
    GL.glCompileShader(sh)
    if not GL.glGetShaderiv(sh, GL.GL_COMPILE_STATUS):
        raise RuntimeError(GL.glGetShaderInfoLog(sh).decode(errors="replace"))
    return sh


def link_program(vertex_shader: str = VERTEX_SHADER, fragment_shader: str = FRAGMENT_SHADER) -> int:
    """A linked GL program from GLSL sources (raises RuntimeError with the driver's log)."""
    prog = GL.glCreateProgram()
    shaders = [_compile(GL.GL_VERTEX_SHADER, vertex_shader), _compile(GL.GL_FRAGMENT_SHADER, fragment_shader)]
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
    buffers: list       # colour (and uv) buffers
    roughness: float
    texture: int = 0    # GL_TEXTURE_2D of the base colour (sRGB), 0: none
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
               colors: np.ndarray, dynamic: bool, roughness: float,
               uvs: np.ndarray | None = None, texture: np.ndarray | None = None) -> _Mesh:
    """A mesh: positions and normals (V, 3) metres, ``colors`` (V, 3) linear RGB,
    optional ``uvs`` (V, 2) and ``texture`` (H, W, 3|4) uint8 sRGB (row 0 = top, v = 0 at the bottom)."""
    usage = GL.GL_DYNAMIC_DRAW if dynamic else GL.GL_STATIC_DRAW
    vao = GL.glGenVertexArrays(1)
    GL.glBindVertexArray(vao)
    bufs = [int(b) for b in GL.glGenBuffers(5)]
    attrs = [(0, bufs[0], positions, 3, usage), (1, bufs[1], normals, 3, usage),
             (6, bufs[3], colors, 3, GL.GL_STATIC_DRAW)]
    if uvs is not None:
        attrs.append((7, bufs[4], uvs, 2, GL.GL_STATIC_DRAW))
    for loc, buf, data, size, use in attrs:
        arr = np.ascontiguousarray(data, np.float32)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, buf)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, arr.nbytes, arr, use)
        GL.glEnableVertexAttribArray(loc)
        GL.glVertexAttribPointer(loc, size, GL.GL_FLOAT, GL.GL_FALSE, 0, ctypes.c_void_p(0))
    idx = np.ascontiguousarray(faces, np.uint32)
    GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, bufs[2])
    GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, idx.nbytes, idx, GL.GL_STATIC_DRAW)
    GL.glBindVertexArray(0)
    tex = 0 if texture is None or uvs is None else _upload_texture(texture)
    return _Mesh(vao, bufs[0], bufs[1], bufs[2], idx.size, model.astype(np.float32), bufs[3:], roughness, tex)


def _upload_texture(image: np.ndarray) -> int:
    """A mipmapped GL_SRGB8_ALPHA8 texture of ``image`` (H, W, 3|4) uint8 sRGB, row 0 the top."""
    img = np.asarray(image, np.uint8)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3|4) uint8 image, got {img.shape}")
    if img.shape[2] == 3:
        img = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2)
    img = np.ascontiguousarray(img[::-1])  # GL's first row is v = 0 (the bottom)
    tex = int(GL.glGenTextures(1))
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
    GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_SRGB8_ALPHA8, img.shape[1], img.shape[0], 0, GL.GL_RGBA,
                    GL.GL_UNSIGNED_BYTE, img)
    GL.glGenerateMipmap(GL.GL_TEXTURE_2D)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR_MIPMAP_LINEAR)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
    for wrap in (GL.GL_TEXTURE_WRAP_S, GL.GL_TEXTURE_WRAP_T):
        GL.glTexParameteri(GL.GL_TEXTURE_2D, wrap, GL.GL_CLAMP_TO_EDGE)
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    return tex


def _colors(count: int, colors: np.ndarray | None, albedo: tuple[float, float, float]) -> np.ndarray:
    """(count, 3) float32 linear RGB: ``colors`` if given, else ``albedo`` everywhere."""
    if colors is None:
        return np.tile(np.asarray(albedo, np.float32), (count, 1))
    c = np.asarray(colors, np.float32)
    if c.shape != (count, 3):
        raise ValueError(f"expected colours of shape ({count}, 3), got {c.shape}")
    return c


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
        self.prog = link_program(vertex_shader)
        loc = lambda name: GL.glGetUniformLocation(self.prog, name)  # noqa: E731
        self.u_model, self.u_view_proj = loc("u_model"), loc("u_view_proj")
        self.u_num_lights, self.u_light_dir, self.u_light_rgb = loc("u_num_lights"), loc("u_light_dir"), loc(
            "u_light_rgb")
        self.u_ambient, self.u_eye, self.u_roughness = loc("u_ambient"), loc("u_eye"), loc("u_roughness")
        self.u_use_texture, self.u_encode_srgb = loc("u_use_texture"), loc("u_encode_srgb")
        GL.glUseProgram(self.prog)
        GL.glUniform1i(loc("u_base_texture"), 3)
        GL.glUseProgram(0)
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
        self._room = [_make_mesh(p, n, f, np.eye(4), _colors(len(p), None, c), False, ROOM_ROUGHNESS)
                      for p, n, f, c in room_geometry()]
        self._avatars: list[_Mesh] = []
        self._fbo = int(GL.glGenFramebuffers(1))
        self._depth = int(GL.glGenRenderbuffers(1))
        self._depth_size = (0, 0)
        self.overlays: list = []  # drawn after the meshes, e.g. vr_study.xr.overlay.Overlay
        self.set_lighting(SceneSpec())

    def set_lighting(self, spec: "SceneSpec") -> None:
        """Light the scene as ``spec`` (:class:`vr_study.render.scene.SceneSpec`) says: its
        directional lights (directions in STAGE coordinates; at most 4) and ambient light,
        the same model as the offline renderer, so avatars look alike in both."""
        lights = [lt for lt in spec.lights if lt.kind == "directional"][:4]
        d = np.array([lt.direction for lt in lights], np.float32).reshape(-1, 3)
        self.light_dirs = -d / np.linalg.norm(d, axis=1, keepdims=True)  # towards the lights
        self.light_rgb = np.array([np.asarray(lt.color) * lt.intensity for lt in lights], np.float32).reshape(-1, 3)
        self.ambient = np.asarray(spec.ambient, np.float32)

    # ------------------------------------------------------------------ avatars
    def add_avatar(self, vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray, model: np.ndarray,
                   albedo: tuple[float, float, float] = SKIN_RGB, colors: np.ndarray | None = None,
                   uvs: np.ndarray | None = None, texture: np.ndarray | None = None) -> int:
        """Upload an avatar's first pose; returns its index for :meth:`update_avatar`.

        ``colors`` (V, 3) linear RGB vertex colours (None: ``albedo`` everywhere); ``uvs``
        (V, 2) and ``texture`` (H, W, 3) uint8 sRGB: a base-colour texture multiplied in.
        """
        self._avatars.append(_make_mesh(vertices, normals, faces, model, _colors(len(vertices), colors, albedo),
                                        True, AVATAR_ROUGHNESS, uvs, texture))
        return len(self._avatars) - 1

    def add_skinned_avatar(self, rig, model: np.ndarray, albedo: tuple[float, float, float] = SKIN_RGB) -> int:
        """Upload a :class:`~vr_study.xr.gpuskin.SkinRig` for GPU skinning (rest pose until
        :meth:`update_skin`); returns the avatar's index. The rig's vertex colours, uvs and
        texture (if it has them) are drawn; else ``albedo``."""
        weight_list = rig.weight_mode == "list"
        if weight_list not in self._skinned:
            src = SKIN_VERTEX_SHADER
            if weight_list:
                src = src.replace("#version 330 core\n", "#version 330 core\n#define WEIGHT_LIST 1\n", 1)
            self._skinned[weight_list] = _Program(src)
        mesh = _make_mesh(rig.rest_vertices, rig.rest_normals, rig.faces, model,
                          _colors(rig.num_vertices, getattr(rig, "colors", None), albedo), False, AVATAR_ROUGHNESS,
                          getattr(rig, "uvs", None), getattr(rig, "texture", None))
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
        is encoded on write; else (GL_RGBA8) the shader encodes it, so both hold sRGB values.
        """
        self._ensure_depth(width, height)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fbo)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, texture, 0)
        GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, GL.GL_RENDERBUFFER, self._depth)
        GL.glViewport(0, 0, width, height)
        # linear shading, sRGB-encoded once: by the hardware for sRGB textures, else in the shader
        GL.glEnable(GL.GL_FRAMEBUFFER_SRGB)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glClearColor(0.02, 0.02, 0.03, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        view_proj = (proj @ view).astype(np.float32)
        eye = np.linalg.inv(np.asarray(view, np.float64))[:3, 3].astype(np.float32)
        plain = self._room + [m for m in self._avatars if m.skin is None]
        groups = [(self._plain, plain)] + [(prog, [m for m in self._avatars if m.skin is not None
                                                   and m.skin.weight_list == wl])
                                           for wl, prog in self._skinned.items()]
        for prog, meshes in groups:
            if not meshes:
                continue
            GL.glUseProgram(prog.prog)
            GL.glUniformMatrix4fv(prog.u_view_proj, 1, GL.GL_TRUE, view_proj)
            GL.glUniform1i(prog.u_num_lights, len(self.light_dirs))
            if len(self.light_dirs):
                GL.glUniform3fv(prog.u_light_dir, len(self.light_dirs), self.light_dirs)
                GL.glUniform3fv(prog.u_light_rgb, len(self.light_rgb), self.light_rgb)
            GL.glUniform3fv(prog.u_ambient, 1, self.ambient)
            GL.glUniform3fv(prog.u_eye, 1, eye)
            GL.glUniform1i(prog.u_encode_srgb, 0 if srgb else 1)
            for m in meshes:
                GL.glUniformMatrix4fv(prog.u_model, 1, GL.GL_TRUE, m.model)
                GL.glUniform1f(prog.u_roughness, m.roughness)
                GL.glUniform1i(prog.u_use_texture, 1 if m.texture else 0)
                if m.texture:
                    GL.glActiveTexture(GL.GL_TEXTURE3)
                    GL.glBindTexture(GL.GL_TEXTURE_2D, m.texture)
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
            overlay.draw(view_proj, encode_srgb=not srgb)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, 0, 0)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def release(self) -> None:
        """Delete the GL objects (call with the context current)."""
        for m in self._room + self._avatars:
            GL.glDeleteVertexArrays(1, [m.vao])
            GL.glDeleteBuffers(3 + len(m.buffers), [m.vbo_pos, m.vbo_nrm, m.ebo] + m.buffers)
            if m.texture:
                GL.glDeleteTextures(1, [m.texture])
            if m.skin is not None:
                GL.glDeleteTextures(len(m.skin.textures), m.skin.textures)
                GL.glDeleteBuffers(len(m.skin.buffers) + 1, m.skin.buffers + [m.skin.ubo])
        GL.glDeleteFramebuffers(1, [self._fbo])
        GL.glDeleteRenderbuffers(1, [self._depth])
        for prog in [self._plain, *self._skinned.values()]:
            GL.glDeleteProgram(prog.prog)
        self._skinned = {}
        self._room, self._avatars = [], []
