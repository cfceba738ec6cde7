"""UV textures for SMPL-X bodies: a lab's texture image through the SMPL-X UV layout file.

The SMPL-X UV layout (``smplx_uv.obj``, shipped with the SMPL-X model download) is a
Wavefront OBJ whose ``vt u v`` lines are the texture coordinates and whose ``f a/ta b/tb
c/tc`` lines give, for every SMPL-X face in the model's order, the 1-based vertex and
texture-coordinate index of each corner; ``v`` lines may be there or not. A public copy
(shlegg4/GaussianAvatar, commit 46dc0fc7, ``smplx_uv.obj``) has a comment line, 11313
``vt`` lines, then 20908 ``f v/vt v/vt v/vt`` lines and no ``v`` lines; its faces index
all 10475 SMPL-X vertices.

A vertex on a UV seam has several texture coordinates, so for drawing the mesh is split
into one vertex per distinct (vertex, vt) pair (:func:`split_seams`); every split vertex
keeps the index of the SMPL-X vertex it came from, so skinning, blend shapes and normals
are computed once per original vertex and gathered through that index.

Texture images: PNG or JPEG, sRGB, row 0 at the top, ``v = 0`` at the bottom (OBJ
convention). Shapes: V vertices, F faces, T texture coordinates, S split vertices.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vr_study.errors import InputError

#: The largest texture side (pixels) accepted (GL_MAX_TEXTURE_SIZE is at least 16384 on
#: desktop GPUs; 8192 keeps an RGBA texture at 256 MiB at most).
MAX_TEXTURE_PX = 8192


@dataclass
class UVLayout:
    """A UV layout read from an OBJ file: ``uv`` (T, 2) float32 and ``face_uv`` (F, 3) int64
    0-based texture-coordinate indices per face corner (faces in the model's order)."""

    path: Path
    uv: np.ndarray
    face_uv: np.ndarray


@dataclass
class SeamSplit:
    """The body mesh split at UV seams: split vertex ``i`` is original vertex ``vertex[i]``
    with texture coordinate ``uv[i]``; ``faces`` (F, 3) uint32 index split vertices."""

    vertex: np.ndarray   # (S,) int64
    uv: np.ndarray       # (S, 2) float32
    faces: np.ndarray    # (F, 3) uint32

    @property
    def num_vertices(self) -> int:
        return int(len(self.vertex))


@dataclass
class BodyTexture:
    """A body's base-colour texture: ``image`` (H, W, 3) uint8 sRGB and its :class:`SeamSplit`."""

    image: np.ndarray
    split: SeamSplit
    image_path: Path | None = None
    layout_path: Path | None = None


def read_uv_layout(path: str | Path, faces: np.ndarray, num_vertices: int) -> UVLayout:
    """Read an SMPL-X UV layout OBJ and check it against the body model's ``faces`` (F, 3).

    Raises :class:`InputError` naming the file when it cannot be read, a line is malformed,
    the counts differ from the model's (faces, vertices), or a face's vertices are not the
    model's face in the same row.
    """
    p = Path(path)
    fix = "give the SMPL-X UV layout of this body model (smplx_uv.obj from the SMPL-X download)"
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise InputError(p, None, "does not exist", fix) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(p, None, f"cannot be read as text ({type(e).__name__})", fix) from None
    uv: list[tuple[float, float]] = []
    corners: list[list[tuple[int, int]]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            if parts[0] == "vt":
                uv.append((float(parts[1]), float(parts[2])))
            elif parts[0] == "f":
                face = []
                for c in parts[1:]:
                    idx = c.split("/")
                    face.append((int(idx[0]), int(idx[1])))
                if len(face) != 3:
                    raise InputError(p, f"line {lineno}", f"is a face with {len(face)} corners",
                                     "the SMPL-X UV layout has triangles only")
                corners.append(face)
        except (IndexError, ValueError):
            raise InputError(p, f"line {lineno}", f"is not a valid '{parts[0]}' line: {line.strip()[:60]!r}",
                             "expected 'vt U V' and 'f V/VT V/VT V/VT' lines (1-based indices)") from None
    faces = np.asarray(faces, np.int64)
    if len(corners) != len(faces):
        raise InputError(p, None, f"has {len(corners)} faces but the body model has {len(faces)}", fix)
    if not uv:
        raise InputError(p, None, "has no 'vt' lines", fix)
    c = np.asarray(corners, np.int64)  # (F, 3, 2) 1-based
    if c[..., 0].min() < 1 or c[..., 0].max() > num_vertices:
        raise InputError(p, None, f"has faces indexing vertices 1..{int(c[..., 0].max())} but the body model "
                                  f"has {num_vertices} vertices", fix)
    if c[..., 1].min() < 1 or c[..., 1].max() > len(uv):
        raise InputError(p, None, f"has faces indexing texture coordinates up to {int(c[..., 1].max())} but "
                                  f"only {len(uv)} 'vt' lines", fix)
    bad = np.nonzero(np.any(c[..., 0] - 1 != faces, axis=1))[0]
    if len(bad):
        raise InputError(p, None, f"face {int(bad[0]) + 1} (and {len(bad) - 1} more) does not match the body "
                                  "model's face in the same row", fix)
    uv_arr = np.asarray(uv, np.float32)
    if not np.all(np.isfinite(uv_arr)):
        raise InputError(p, None, "has 'vt' lines with NaN or Inf", fix)
    return UVLayout(p, uv_arr, c[..., 1] - 1)


def split_seams(faces: np.ndarray, layout: UVLayout) -> SeamSplit:
    """One split vertex per distinct (vertex, texture coordinate) pair of ``faces`` (F, 3)."""
    faces = np.asarray(faces, np.int64)
    pairs = np.stack([faces.ravel(), layout.face_uv.ravel()], axis=1)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    return SeamSplit(vertex=unique[:, 0].copy(), uv=np.ascontiguousarray(layout.uv[unique[:, 1]]),
                     faces=inverse.reshape(-1, 3).astype(np.uint32))


def read_texture(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 sRGB pixels of a PNG or JPEG texture image (alpha dropped, grey expanded)."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    fix = "give the body texture as a PNG or JPEG image"
    if not p.is_file():
        raise InputError(p, None, "does not exist", fix)
    try:
        with Image.open(p) as im:
            w, h = im.size
            if max(w, h) > MAX_TEXTURE_PX:
                raise InputError(p, None, f"is {w}x{h} pixels", f"use a texture of at most {MAX_TEXTURE_PX} pixels a side")
            return np.asarray(im.convert("RGB"), np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise InputError(p, None, f"is not a readable image ({type(e).__name__})", fix) from None


def load_body_texture(texture: str | Path, layout: str | Path, faces: np.ndarray, num_vertices: int) -> BodyTexture:
    """A :class:`BodyTexture` from a texture image and a UV layout OBJ checked against the model."""
    lay = read_uv_layout(layout, faces, num_vertices)
    image = read_texture(texture)
    return BodyTexture(image, split_seams(faces, lay), Path(texture), Path(layout))


def write_uv_layout(path: str | Path, faces: np.ndarray, uv: np.ndarray, face_uv: np.ndarray,
                    vertices: np.ndarray | None = None) -> None:
    """Write a UV layout OBJ in the SMPL-X file's form (``v`` lines only if ``vertices`` given)."""
    lines = ["# SMPL-X UV topology"]
    if vertices is not None:
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(vertices, float)]
    lines += [f"vt {u:.8f} {v:.8f}" for u, v in np.asarray(uv, float)]
    f = np.asarray(faces, np.int64) + 1
    t = np.asarray(face_uv, np.int64) + 1
    lines += [f"f {a}/{ta} {b}/{tb} {c}/{tc}" for (a, b, c), (ta, tb, tc) in zip(f, t)]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def attach_texture(model, texture: str | Path, layout: str | Path):
    """Give ``model`` (a :class:`~vr_study.body.BodyModel`) the base-colour texture ``texture``
    through the UV layout ``layout``; returns the model. Renderers then draw the texture
    (and not the model's vertex colours)."""
    if not hasattr(model, "faces") or not hasattr(model, "num_vertices"):
        raise InputError(None, "--texture", f"cannot be used with {type(model).__name__}",
                         "install an SMPL-X body model (or build the default one)")
    model.texture = load_body_texture(texture, layout, model.faces, model.num_vertices)
    return model


def check_texture_options(texture: str | None, layout: str | None) -> None:
    """Both of ``--texture`` and ``--uv-layout`` or neither (:class:`InputError` otherwise)."""
    if (texture is None) != (layout is None):
        given, missing = ("--texture", "--uv-layout") if texture is not None else ("--uv-layout", "--texture")
        raise InputError(None, given, f"was given without {missing}",
                         "give the texture image together with its UV layout (smplx_uv.obj)")
