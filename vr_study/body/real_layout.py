"""A stand-in for a real SMPL-X file's layout: the default body with dense pose correctives.

A lab's SMPL-X model (``SMPLX_NEUTRAL.npz``) carries ``posedirs`` on all 10,475 vertices
(486 pose features = 54 joints x 9 entries of R - I); the default body has none. Renderers
treat the two differently (pose correctives in the vertex shader, larger model files), so
tests and benchmarks need a model with that layout, and the real file cannot ship with the
project. This one is made up but has the real shape and cost: each pose feature scales the
body about its centre by a seeded amount.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from vr_study.body.model import BodyModel

NUM_POSE_FEATURES = 486
"""SMPL-X pose-corrective features: 54 non-root joints x 9 entries of (R - I)."""


def with_dense_posedirs(body: BodyModel, scale: float = 0.01, seed: int = 0) -> BodyModel:
    """``body`` with posedirs (486, 3V) float32 on every vertex: feature k scales the body
    about its centre by ``a_k`` ~ N(0, ``scale``) per unit feature (``scale`` 0.01: about 1 %),
    ``a`` drawn from ``numpy.random.default_rng(seed)``."""
    v = np.asarray(body.v_template, np.float64)
    a = np.random.default_rng(seed).normal(0.0, scale, NUM_POSE_FEATURES)
    pd = (v - v.mean(axis=0))[:, :, None] * a[None, None, :]  # (V, 3, 486), as in a model file
    return dataclasses.replace(body, posedirs=np.ascontiguousarray(pd.reshape(-1, NUM_POSE_FEATURES).T, np.float32))
