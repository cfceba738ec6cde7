"""FaceFormer's FLAME vertices -> SMPL-X jaw + expression (generators.face_fit).

FLAME-like vertex sequences are made from known jaw and expression values on a head (the
default body posed by vr_study.body), then fitted back. The numbers in docs/generators.md
come from these cases (30 frames; the runner's own tests use longer sequences).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from generators.face_fit import (FLAME_VERTICES, Correspondence, computed_correspondence, fit_face, flame_frames,
                                 head_vertices)
from vr_study.body import load_body_model
from vr_study.errors import InputError


@pytest.fixture(scope="module")
def case():
    body = load_body_model()
    rng = np.random.default_rng(0)
    T = 30
    t = np.arange(T) / 30.0
    jaw = np.zeros((T, 3))
    jaw[:, 0] = 0.15 + 0.12 * np.sin(2 * np.pi * 1.3 * t)        # opening, radians
    jaw[:, 1] = 0.03 * np.sin(2 * np.pi * 0.7 * t)               # a little sideways
    K = body.num_expression
    expr = 0.4 * np.sin(2 * np.pi * np.outer(t, rng.uniform(0.2, 1.0, K)) + rng.uniform(0, 6, K))
    pose = np.zeros((T, 55, 3))
    pose[:, 22] = jaw
    posed = body.pose_batch(pose, None, expr).vertices.astype(np.float64)
    rest = body.pose_batch(np.zeros((1, 55, 3))).vertices[0].astype(np.float64)
    head = head_vertices(body)
    ids = rng.choice(head, FLAME_VERTICES)
    template = rest[ids] + 0.002 * rng.standard_normal((FLAME_VERTICES, 3))   # another identity
    flame = template[None] + (posed[:, ids] - rest[None, ids])
    return dict(body=body, jaw=jaw, expr=expr, posed=posed, head=head, ids=ids, template=template, flame=flame)


def _head_error_mm(case, fit) -> np.ndarray:
    pose = np.zeros((len(fit.jaw), 55, 3))
    pose[:, 22] = fit.jaw
    v = case["body"].pose_batch(pose, None, fit.expression).vertices.astype(np.float64)
    return 1000 * np.linalg.norm(v[:, case["head"]] - case["posed"][:, case["head"]], axis=-1)


def test_fit_with_smplx_correspondence_recovers_jaw_and_face(case):
    fit = fit_face(case["flame"].reshape(len(case["jaw"]), -1), case["body"],
                   Correspondence(case["ids"], np.eye(3), 1.0, "test"), case["template"])
    err_deg = np.degrees(np.abs(fit.jaw - case["jaw"]))
    assert np.median(err_deg) < 0.05 and err_deg[1:].max() < 1.0
    assert np.abs(fit.expression - case["expr"]).mean() < 0.02
    head = _head_error_mm(case, fit)
    assert head.mean() < 0.01 and head.max() < 0.5
    assert fit.rms_residual_m.max() < 1e-4 < fit.rms_offset_m.min()


def test_fit_with_computed_correspondence_in_another_frame(case):
    """The default-body path: a FLAME template in its own frame (turned, scaled, shifted)."""
    R = Rotation.from_rotvec([0.05, -0.03, 0.02]).as_matrix()
    s, shift = 1.07, np.array([0.01, -1.55, 0.03])
    template = s * case["template"] @ R.T + shift
    flame = s * case["flame"] @ R.T + shift
    corr = computed_correspondence(case["body"], template)
    assert abs(corr.scale * s - 1.0) < 0.05                       # the scale was undone
    fit = fit_face(flame.reshape(len(case["jaw"]), -1), case["body"], corr, template)
    err_deg = np.degrees(np.abs(fit.jaw[:, 0] - case["jaw"][:, 0]))
    # jaw opening and the mouth_open shape can stand in for each other: the angle is close,
    # the face it makes is closer
    assert np.median(err_deg) < 2.0
    assert np.corrcoef(fit.jaw[:, 0], case["jaw"][:, 0])[0, 1] > 0.9
    head = _head_error_mm(case, fit)
    assert head.mean() < 0.2 and np.percentile(head, 99) < 2.0


def test_flame_frames_refuse_other_layouts():
    with pytest.raises(InputError, match="BIWI"):
        flame_frames(np.zeros((3, 23370 * 3)))
    with pytest.raises(InputError, match="5023"):
        flame_frames(np.zeros((3, 300)))
    with pytest.raises(InputError, match="NaN"):
        flame_frames(np.full((2, FLAME_VERTICES * 3), np.nan))
