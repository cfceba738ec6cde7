"""Body models: one interface over real SMPL-X files and the project's default body.

:func:`load_body_model` reads an SMPL-X model file (``.npz``, or ``.pkl`` from a path the
user named) and returns a :class:`BodyModel` that turns poses into vertices with the same
math as ``smplx.SMPLX.forward`` (``use_pca=False, flat_hand_mean=True``), in numpy, with
everything that does not depend on the pose computed once per shape.

Units: metres, radians (axis-angle, SMPL-X's parent-relative joint rotations). Shapes: V
vertices, F faces, T frames, 55 joints, E expression coefficients, B shape coefficients.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from vr_study.body.skinning import apply_transforms, rigid_transforms, tree_levels
from vr_study.errors import InputError
from vr_study.npy_header import check_npy_headers
from vr_study.rotations import axis_angle_to_matrix

if TYPE_CHECKING:  # pragma: no cover
    from vr_study.motion import MotionClip

NUM_JOINTS = 55
SHAPE_SPACE_DIM = 300
ENV_VAR = "VR_STUDY_SMPLX_DIR"
GENDERS = ("neutral", "male", "female")

#: key -> (expected shape with None for "any"; description) of a SMPL-X model file.
REQUIRED_KEYS: dict[str, tuple[tuple[int | None, ...], str]] = {
    "v_template": ((None, 3), "template vertices (V, 3)"),
    "f": ((None, 3), "faces (F, 3)"),
    "shapedirs": ((None, 3, None), "shape and expression directions (V, 3, >= 20)"),
    "posedirs": ((None, 3, 486), "pose corrective directions (V, 3, 486)"),
    "J_regressor": ((NUM_JOINTS, None), "joint regressor (55, V)"),
    "weights": ((None, NUM_JOINTS), "skinning weights (V, 55)"),
    "kintree_table": ((2, NUM_JOINTS), "kinematic tree (2, 55)"),
    "hands_componentsl": ((None, 45), "left hand PCA components (N, 45)"),
    "hands_componentsr": ((None, 45), "right hand PCA components (N, 45)"),
    "hands_meanl": ((45,), "left hand mean pose (45,)"),
    "hands_meanr": ((45,), "right hand mean pose (45,)"),
    "lmk_faces_idx": ((None,), "landmark faces (51,)"),
    "lmk_bary_coords": ((None, 3), "landmark barycentric coordinates (51, 3)"),
}


def default_body_model_path() -> Path:
    """The project's own default body model (``assets/body/SMPLX_NEUTRAL.npz``)."""
    import assets

    return Path(assets.__file__).resolve().parent / "body" / "SMPLX_NEUTRAL.npz"


@dataclass
class Skinned:
    """Posed vertices (T, V, 3) and joints (T, 55, 3), float32 metres."""

    vertices: np.ndarray
    joints: np.ndarray


@dataclass
class _Shaped:
    betas: np.ndarray
    v_shaped: np.ndarray  # (V, 3) float32
    joints: np.ndarray  # (55, 3) float64
    joints_expr: np.ndarray  # (55, 3, E) float64: joint shift per expression coefficient


@dataclass
class BodyModel:
    """An SMPL-X body model ready for fast posing. Build it with :func:`load_body_model`.

    Arrays are float32 unless noted. ``shapedirs`` (V, 3, B) and ``exprdirs`` (V, 3, E) keep
    only the columns up to the last non-zero one (all of them for real SMPL-X files).
    ``posedirs`` is (486, 3V) or None when the file's are all zero.
    """

    path: Path
    gender: str
    v_template: np.ndarray
    faces: np.ndarray  # (F, 3) int32
    shapedirs: np.ndarray
    exprdirs: np.ndarray
    posedirs: np.ndarray | None
    J_regressor: np.ndarray  # (55, V) float64
    weights: np.ndarray  # (V, 55)
    parents: np.ndarray  # (55,) int64, parents[0] == -1
    hands_components_l: np.ndarray  # (N, 45)
    hands_components_r: np.ndarray
    hands_mean_l: np.ndarray  # (45,) radians
    hands_mean_r: np.ndarray
    lmk_faces_idx: np.ndarray
    lmk_bary_coords: np.ndarray
    expression_names: tuple[str, ...] | None = None
    vertex_colors: np.ndarray | None = None  # (V, 3) float32 linear RGB in [0, 1], if the file has them
    #: a base-colour texture and the mesh split at its UV seams
    #: (:class:`vr_study.body.uv.BodyTexture`, set by :func:`vr_study.body.uv.attach_texture`)
    texture: Any = None
    _weights_sparse: Any = field(default=None, repr=False)
    _levels: list = field(default_factory=list, repr=False)
    _shaped: _Shaped | None = field(default=None, repr=False)
    _regions: dict | None = field(default=None, repr=False)
    _expr_rows: np.ndarray | None = field(default=None, repr=False)
    _expr_mat: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import scipy.sparse as sp

        self._weights_sparse = sp.csr_matrix(self.weights.astype(np.float32))
        self._levels = tree_levels(self.parents)
        # expressions move only some vertices (the face): keep those rows as one (E, 3R) matrix
        rows = np.nonzero(np.any(self.exprdirs != 0, axis=(1, 2)))[0]
        self._expr_rows = rows
        self._expr_mat = np.ascontiguousarray(
            self.exprdirs[rows].transpose(2, 0, 1).reshape(self.num_expression, -1), dtype=np.float32)

    # ------------------------------------------------------------ sizes
    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[2])

    @property
    def num_expression(self) -> int:
        return int(self.exprdirs.shape[2])

    @property
    def hands_mean(self) -> tuple[np.ndarray, np.ndarray]:
        """(left (15, 3), right (15, 3)) mean hand poses in radians (the relaxed hand).

        MotionClips use the flat-hand convention (zero = flat hand); add these to convert
        poses that are offsets from the mean.
        """
        return self.hands_mean_l.reshape(15, 3).copy(), self.hands_mean_r.reshape(15, 3).copy()

    # ------------------------------------------------------------ shape
    def _fit_betas(self, betas: np.ndarray | Sequence[float] | None) -> np.ndarray:
        b = np.zeros(self.num_betas, dtype=np.float64)
        if betas is not None:
            src = np.asarray(betas, dtype=np.float64).reshape(-1)[: self.num_betas]
            b[: len(src)] = src
        return b

    def _fit_expression(self, expression: np.ndarray | None, frames: int | None = None) -> np.ndarray:
        E = self.num_expression
        if expression is None:
            return np.zeros((frames or 1, E), dtype=np.float32) if frames is not None else np.zeros(E, np.float32)
        e = np.asarray(expression, dtype=np.float32)
        out = np.zeros(e.shape[:-1] + (E,), dtype=np.float32)
        n = min(E, e.shape[-1])
        out[..., :n] = e[..., :n]
        return out

    def shaped(self, betas: np.ndarray | Sequence[float] | None = None) -> _Shaped:
        """Shaped template and rest joints for ``betas`` (padded/truncated), cached per betas."""
        b = self._fit_betas(betas)
        if self._shaped is not None and np.array_equal(self._shaped.betas, b):
            return self._shaped
        v = self.v_template.astype(np.float32) + np.einsum(
            "vcb,b->vc", self.shapedirs, b.astype(np.float32))
        joints = self.J_regressor.astype(np.float32) @ v
        je = np.einsum("jv,vce->jce", self.J_regressor.astype(np.float32), self.exprdirs)
        self._shaped = _Shaped(b, v.astype(np.float32), joints.astype(np.float64), je.astype(np.float64))
        return self._shaped

    def rest_joints(self, betas: np.ndarray | Sequence[float] | None = None) -> np.ndarray:
        """Rest-pose joint positions (55, 3) float32 metres for ``betas`` (zeros by default)."""
        return self.shaped(betas).joints.astype(np.float32)

    # ------------------------------------------------------------ posing
    def pose_frame(self, full_pose: np.ndarray, transl: np.ndarray | None = None,
                   expression: np.ndarray | None = None,
                   betas: np.ndarray | Sequence[float] | None = None) -> np.ndarray:
        """Vertices (V, 3) float32 metres of one frame: the real-time path.

        full_pose: (55, 3) axis-angle radians in SMPL-X joint order, hands flat-hand
        convention (zero = flat). transl: (3,) metres. expression: (E',) coefficients,
        padded with zeros or truncated to the model's E.
        """
        verts, _ = self._pose(np.asarray(full_pose, np.float64).reshape(1, NUM_JOINTS, 3),
                              None if transl is None else np.asarray(transl, np.float64).reshape(1, 3),
                              None if expression is None else np.asarray(expression).reshape(1, -1),
                              betas)
        return np.ascontiguousarray(verts[0])

    def pose_batch(self, full_pose: np.ndarray, transl: np.ndarray | None = None,
                   expression: np.ndarray | None = None,
                   betas: np.ndarray | Sequence[float] | None = None, chunk: int = 64) -> Skinned:
        """Vertices (T, V, 3) and joints (T, 55, 3), float32 metres, for T frames at once.

        full_pose (T, 55, 3) radians; transl (T, 3) metres; expression (T, E') padded or
        truncated to the model's E; betas (B',) padded or truncated to the model's B.
        """
        full_pose = np.asarray(full_pose, np.float64).reshape(-1, NUM_JOINTS, 3)
        T = len(full_pose)
        verts = np.empty((T, self.num_vertices, 3), np.float32)
        joints = np.empty((T, NUM_JOINTS, 3), np.float32)
        for a in range(0, T, chunk):
            b = min(T, a + chunk)
            verts[a:b], joints[a:b] = self._pose(
                full_pose[a:b], None if transl is None else np.asarray(transl, np.float64)[a:b],
                None if expression is None else np.asarray(expression)[a:b], betas)
        return Skinned(verts, joints)

    def pose_clip(self, clip: "MotionClip", frames: slice | Sequence[int] | np.ndarray | None = None,
                  betas: np.ndarray | Sequence[float] | None = None) -> Skinned:
        """Pose a :class:`~vr_study.motion.MotionClip` (all frames or ``frames``).

        The clip's hands are in the flat-hand convention. Its expression vector may be
        longer or shorter than the model's: extra coefficients are dropped, missing ones
        are zero. ``betas`` default to the clip's, padded or truncated the same way.
        """
        pose = clip.full_pose()
        transl = clip.transl
        expr = clip.expression
        if frames is not None:
            pose, transl, expr = pose[frames], transl[frames], expr[frames]
        return self.pose_batch(pose, transl, expr, clip.betas if betas is None else betas)

    def _pose(self, full_pose: np.ndarray, transl: np.ndarray | None, expression: np.ndarray | None,
              betas) -> tuple[np.ndarray, np.ndarray]:
        T = full_pose.shape[0]
        sh = self.shaped(betas)
        e = self._fit_expression(expression, T)
        # layout (V, xyz, T): frames innermost, so the element-wise work runs on long rows
        V = self.num_vertices
        v = np.broadcast_to(sh.v_shaped[:, :, None], (V, 3, T))
        J = np.broadcast_to(sh.joints, (T, NUM_JOINTS, 3))
        if self.num_expression and np.any(e):
            v = v.copy()
            v[self._expr_rows] += (e @ self._expr_mat).reshape(T, -1, 3).transpose(1, 2, 0)
            J = J + (e.astype(np.float64) @ sh.joints_expr.reshape(-1, self.num_expression).T
                     ).reshape(T, NUM_JOINTS, 3)
        rot = axis_angle_to_matrix(full_pose)
        if self.posedirs is not None:
            feat = (rot[:, 1:] - np.eye(3)).reshape(T, -1).astype(np.float32)
            v = v + (feat @ self.posedirs).reshape(T, -1, 3).transpose(1, 2, 0)
        posed_joints, A = rigid_transforms(rot, J, self.parents, self._levels)
        # (55, column k of the 3x4 transform, row, T)
        A32 = np.ascontiguousarray(A.astype(np.float32).transpose(1, 3, 2, 0)).reshape(NUM_JOINTS, -1)
        Av = np.asarray(self._weights_sparse @ A32).reshape(V, 4, 3, T)
        verts = apply_transforms(Av, v)  # (V, 3, T)
        if transl is not None:
            verts += transl.T[None].astype(np.float32)
            posed_joints = posed_joints + transl[:, None, :]
        return verts.transpose(2, 0, 1), posed_joints.astype(np.float32)

    # ------------------------------------------------------------ vertex groups
    @property
    def regions(self) -> dict[str, np.ndarray]:
        """Vertex index arrays of named parts, from the skinning weights and face landmarks.

        'head' (head, jaw, eyes), 'face' (front of the head), 'mouth' (within 3 cm of the
        lip landmarks' centre), 'jaw', 'left_eye', 'right_eye', 'left_hand', 'right_hand'.
        """
        if self._regions is None:
            dom = np.argmax(self.weights, axis=1)
            v = self.v_template
            head = np.isin(dom, (15, 22, 23, 24))
            J = self.rest_joints()
            face = head & (v[:, 2] > J[15, 2] + 0.03)
            lm = self.landmarks(v[None])[0]
            mouth_c = lm[31:51].mean(0) if len(lm) >= 51 else J[22]
            mouth = head & (np.linalg.norm(v - mouth_c, axis=1) < 0.03)
            self._regions = {
                "head": np.nonzero(head)[0], "face": np.nonzero(face)[0], "mouth": np.nonzero(mouth)[0],
                "jaw": np.nonzero(dom == 22)[0], "left_eye": np.nonzero(dom == 23)[0],
                "right_eye": np.nonzero(dom == 24)[0],
                "left_hand": np.nonzero(np.isin(dom, [20] + list(range(25, 40))))[0],
                "right_hand": np.nonzero(np.isin(dom, [21] + list(range(40, 55))))[0],
            }
        return self._regions

    def landmarks(self, vertices: np.ndarray) -> np.ndarray:
        """The file's static face landmarks (T, L, 3) on posed vertices (T, V, 3)."""
        tri = vertices[:, self.faces[self.lmk_faces_idx]]  # (T, L, 3, 3)
        return np.einsum("tlkc,lk->tlc", tri, self.lmk_bary_coords.astype(vertices.dtype))


# ---------------------------------------------------------------- loading

def _resolve_path(path: str | Path | None, gender: str) -> tuple[Path, bool]:
    """(file, named_by_user). A folder gives SMPLX_<GENDER>.npz, then .pkl."""
    named = path is not None
    if path is None:
        env = os.environ.get(ENV_VAR)
        if env:
            path, named = Path(env), True
    if path is None:
        return default_body_model_path(), False
    p = Path(path).expanduser()
    if p.is_dir():
        for ext in ("npz", "pkl"):
            cand = p / f"SMPLX_{gender.upper()}.{ext}"
            if cand.is_file():
                return cand, named
        raise InputError(p, None, f"has no SMPLX_{gender.upper()}.npz or .pkl",
                         "point --body-model / VR_STUDY_SMPLX_DIR at a folder with SMPL-X model files or at one file")
    if not p.exists():
        raise InputError(p, None, "does not exist", "give the path of an SMPL-X model file (.npz or .pkl) or its folder")
    return p, named


def _read_arrays(p: Path, named: bool) -> dict[str, Any]:
    suffix = p.suffix.lower()
    if suffix == ".npz":
        check_npy_headers(p)
        try:
            data = np.load(p, allow_pickle=False)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            raise InputError(p, None, f"is not a readable .npz file ({type(e).__name__})",
                             "give an SMPL-X model file saved with numpy (.npz)") from None
        out: dict[str, Any] = {}
        for key in list(REQUIRED_KEYS) + ["expression_names", "vertex_colors"]:
            if key in data.files:
                try:
                    out[key] = data[key]
                except ValueError:
                    raise InputError(p, key, "is an object array that would need pickle",
                                     "save plain numeric arrays (np.savez)") from None
        return out
    if suffix == ".pkl":
        if not named:
            raise InputError(p, None, "is a pickle that nobody named", "pass the .pkl path explicitly")
        from vr_study.safe_pickle import RefusedPickle, loads

        try:
            obj = loads(p.read_bytes())
        except RefusedPickle as e:
            raise InputError(p, None, f"is not a plain SMPL-X model pickle ({e})",
                             "only numpy arrays, scipy sparse matrices and chumpy arrays are read from "
                             ".pkl files; use the .npz release of the SMPL-X model") from None
        except OSError as e:
            raise InputError(p, None, f"cannot be read ({e.strerror or e})", "check the path and its permissions") from None
        except Exception as e:  # noqa: BLE001 - any other unpickling failure is a malformed file
            raise InputError(p, None, f"is not a readable pickle ({type(e).__name__})",
                             "give an SMPL-X model file (.npz or .pkl)") from None
        if not isinstance(obj, dict):
            raise InputError(p, None, "does not hold a dictionary of arrays", "give an SMPL-X model file")
        return dict(obj)
    raise InputError(p, None, f"has the unknown extension '{p.suffix}'", "give an SMPL-X .npz or .pkl model file")


def _checked(p: Path, arrays: dict[str, Any]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key, (shape, what) in REQUIRED_KEYS.items():
        if key not in arrays:
            raise InputError(p, key, "is missing", f"an SMPL-X model file needs {what}")
        try:
            a = np.asarray(arrays[key])
            if a.dtype == object:
                raise ValueError
            a = a.astype(np.float64) if key not in ("f", "lmk_faces_idx", "kintree_table") else a.astype(np.int64)
        except (ValueError, TypeError):
            raise InputError(p, key, "is not a numeric array", f"expected {what}") from None
        if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
            raise InputError(p, key, f"has shape {a.shape}", f"expected {what}")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise InputError(p, key, "contains NaN or Inf", "use an intact SMPL-X model file")
        out[key] = a
    V = out["v_template"].shape[0]
    for key, axis in (("shapedirs", 0), ("posedirs", 0), ("J_regressor", 1), ("weights", 0)):
        if out[key].shape[axis] != V:
            raise InputError(p, key, f"has {out[key].shape[axis]} vertices but v_template has {V}",
                             "use a consistent SMPL-X model file")
    if out["shapedirs"].shape[2] < 20:
        raise InputError(p, "shapedirs", f"has {out['shapedirs'].shape[2]} directions",
                         "SMPL-X needs at least 10 shape + 10 expression directions (V, 3, >= 20)")
    f = out["f"]
    if f.min() < 0 or f.max() >= V:
        raise InputError(p, "f", "indexes vertices that do not exist", f"face indices must be in [0, {V})")
    if out["lmk_faces_idx"].max(initial=0) >= len(f) or out["lmk_faces_idx"].min(initial=0) < 0:
        raise InputError(p, "lmk_faces_idx", "indexes faces that do not exist", f"indices must be in [0, {len(f)})")
    if "expression_names" in arrays:
        out["expression_names"] = np.asarray(arrays["expression_names"]).astype(str)
    if "vertex_colors" in arrays:
        c = np.asarray(arrays["vertex_colors"])
        if c.shape != (V, 3) or c.dtype.kind != "f" or not np.all((c >= 0) & (c <= 1)):
            raise InputError(p, "vertex_colors", f"has shape {c.shape} and dtype {c.dtype}",
                             f"vertex colours are linear RGB floats in [0, 1], shape ({V}, 3)")
        out["vertex_colors"] = c.astype(np.float32)
    return out


def _last_nonzero(dirs: np.ndarray) -> int:
    nz = np.nonzero(np.any(dirs != 0, axis=(0, 1)))[0]
    return int(nz[-1]) + 1 if len(nz) else 0


def load_body_model(path: str | Path | None = None, gender: str = "neutral") -> BodyModel:
    """Load an SMPL-X body model.

    ``path``: an SMPL-X model file (``.npz``; ``.pkl`` only when named here or in the
    environment) or a folder holding ``SMPLX_{NEUTRAL,MALE,FEMALE}.npz|pkl`` (``gender``
    picks one). Without a path: the file or folder in ``$VR_STUDY_SMPLX_DIR``, else the
    project's default body (:func:`default_body_model_path`). Bad or missing files raise
    :class:`~vr_study.errors.InputError` naming the file and the key.
    """
    if gender not in GENDERS:
        raise InputError(None, "gender", f"is '{gender}'", f"use one of {', '.join(GENDERS)}")
    p, named = _resolve_path(path, gender)
    if not p.exists():
        raise InputError(p, None, "does not exist",
                         "run `vr-study body build` to make the default body model, or give an SMPL-X file")
    a = _checked(p, _read_arrays(p, named))
    sd = a["shapedirs"].astype(np.float32)
    if sd.shape[2] >= SHAPE_SPACE_DIM + 100:
        betas_all, expr_all = sd[:, :, :SHAPE_SPACE_DIM], sd[:, :, SHAPE_SPACE_DIM:SHAPE_SPACE_DIM + 100]
    else:  # smplx's rule for short files: 10 shape + 10 expression directions
        betas_all, expr_all = sd[:, :, :10], sd[:, :, 10:20]
    nb = max(1, _last_nonzero(betas_all))
    ne = max(1, _last_nonzero(expr_all))
    posedirs = a["posedirs"]
    posedirs = None if not np.any(posedirs) else posedirs.reshape(-1, 486).T.astype(np.float32).copy()
    parents = a["kintree_table"][0].astype(np.int64)
    parents[0] = -1
    if np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, NUM_JOINTS)):
        raise InputError(p, "kintree_table", "is not a tree with parents before children",
                         "use SMPL-X's kinematic tree")
    names = tuple(str(x) for x in a["expression_names"][:ne]) if "expression_names" in a else None
    return BodyModel(
        path=p, gender=gender, v_template=a["v_template"].astype(np.float32),
        faces=a["f"].astype(np.int32), shapedirs=np.ascontiguousarray(betas_all[:, :, :nb]),
        exprdirs=np.ascontiguousarray(expr_all[:, :, :ne]), posedirs=posedirs,
        J_regressor=a["J_regressor"], weights=a["weights"].astype(np.float32), parents=parents,
        hands_components_l=a["hands_componentsl"].astype(np.float32),
        hands_components_r=a["hands_componentsr"].astype(np.float32),
        hands_mean_l=a["hands_meanl"].astype(np.float32), hands_mean_r=a["hands_meanr"].astype(np.float32),
        lmk_faces_idx=a["lmk_faces_idx"], lmk_bary_coords=a["lmk_bary_coords"].astype(np.float32),
        expression_names=names, vertex_colors=a.get("vertex_colors"))
