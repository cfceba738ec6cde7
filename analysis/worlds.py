"""Simulated worlds shaped like a study's design: null worlds for calibration, effect
worlds for power.

A *design* is the table of trials (one row per participant x clip rating: participant,
within factors, clip), taken from a study's data (:func:`design_from_data`, so gaps and
unequal clips per cell are kept) or built before data collection
(:func:`design_from_levels`, e.g. from a study spec). A world adds, on a latent rating
scale, a grand mean, fixed cell shifts (none in a null world), normal random effects
(participant, participant x each within term, clip) and residual noise; ratings are then
rounded and clipped to the scale (e.g. integers 1..7), as the platform's rating items
record them.

All draws come from the ``numpy.random.Generator`` passed in; nothing uses global state.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from analysis.design import AnalysisError, check_columns, effect_terms, levels, term_name


@dataclass
class Design:
    """Trial rows of a within-participant rating study.

    ``frame`` has the columns ``subject``, the ``factors`` and ``clip`` (one row per
    rating); ``scale`` is (min, max) of integer ratings, or None for continuous data.
    """

    frame: pd.DataFrame
    factors: list[str]
    subject: str = "participant_id"
    clip: str = "clip_id"
    scale: tuple[int, int] | None = (1, 7)

    @property
    def n_participants(self) -> int:
        return int(self.frame[self.subject].nunique())

    def clips_per_cell(self) -> pd.Series:
        """Number of distinct clips in each cell of the factors."""
        return self.frame.groupby(self.factors, observed=True)[self.clip].nunique()

    def with_participants(self, n: int) -> "Design":
        """The same design for ``n`` participants (the first participant's trials copied)."""
        first = self.frame[self.frame[self.subject] == self.frame[self.subject].iloc[0]]
        frames = [first.assign(**{self.subject: f"P{i + 1:03d}"}) for i in range(n)]
        return Design(pd.concat(frames, ignore_index=True), self.factors, self.subject,
                      self.clip, self.scale)

    def summary(self) -> dict:
        cpc = self.clips_per_cell()
        return {"participants": self.n_participants, "rows": len(self.frame),
                "factors": {f: [str(v) for v in levels(self.frame, f)] for f in self.factors},
                "clips_per_cell": {"min": int(cpc.min()), "max": int(cpc.max())},
                "scale": list(self.scale) if self.scale else None}


@dataclass
class World:
    """Latent-scale parameters: grand mean, SDs of the random effects, fixed shifts.

    ``sd`` maps component -> SD in rating points: ``participant``, ``participant:<term>``
    (e.g. ``participant:method``), ``clip``, ``residual``. ``effects`` maps factor ->
    {level: shift in rating points}, or an interaction ``"a:b"`` -> {``"level_a,level_b"``:
    shift} (a cell shift on top of the main effects); empty in a null world.
    """

    mean: float
    sd: dict[str, float]
    effects: dict[str, dict] = field(default_factory=dict)

    def null(self) -> "World":
        return World(self.mean, dict(self.sd), {})


def design_from_data(df: pd.DataFrame, factors: Sequence[str], subject: str,
                     clip: str | None = None, scale: tuple[int, int] | None = None,
                     dv: str | None = None) -> Design:
    """The trial rows of a data set (all rows; ``clip`` None: one clip per cell).

    ``scale`` defaults to the integer range of ``dv`` when its values are whole numbers.
    """
    factors = list(factors)
    check_columns(df, [subject, *factors] + ([clip] if clip else []) + ([dv] if dv else []))
    frame = df[[subject, *factors]].copy().reset_index(drop=True)
    if clip:
        frame["clip_id"] = df[clip].astype(str).to_numpy()
    else:
        frame["clip_id"] = frame[factors].astype(str).agg(",".join, axis=1)
    if scale is None and dv is not None:
        y = pd.to_numeric(df[dv], errors="coerce").dropna()
        if len(y) and np.allclose(y, np.round(y)):
            scale = (int(y.min()), int(y.max()))
    return Design(frame, factors, subject, "clip_id", scale)


def design_from_levels(factors: dict[str, Sequence], participants: int,
                       clips_per_cell: int = 1, scale: tuple[int, int] | None = (1, 7)
                       ) -> Design:
    """A complete design: every participant rates every clip once, ``clips_per_cell``
    distinct clips per cell of the crossed ``factors`` (e.g. from a study spec)."""
    if participants < 2:
        raise AnalysisError(f"participants is {participants}", "simulate at least 2")
    if clips_per_cell < 1:
        raise AnalysisError(f"clips per cell is {clips_per_cell}", "give 1 or more")
    names = list(factors)
    rows = []
    for p in range(participants):
        for cell in itertools.product(*[factors[f] for f in names]):
            for c in range(clips_per_cell):
                rows.append({"participant_id": f"P{p + 1:03d}", **dict(zip(names, cell)),
                             "clip_id": ",".join(map(str, cell)) + f"#{c + 1}"})
    return Design(pd.DataFrame(rows), names, "participant_id", "clip_id", scale)


def world_from_fit(fit, mean: float, factors: Sequence[str]) -> World:
    """A null world with the variance components of a fitted ``study_model``."""
    sd = {"participant": 0.0, "clip": 0.0, "residual": 0.0}
    for name, var in fit.variance_components.items():
        sd[name] = float(np.sqrt(max(var, 0.0)))
    return World(float(mean), sd)


def _codes(frame: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    return pd.MultiIndex.from_frame(frame[list(cols)].astype(str)).factorize()[0] \
        if len(cols) > 1 else pd.factorize(frame[cols[0]].astype(str))[0]


def simulate(design: Design, world: World, n_sims: int, rng: np.random.Generator
             ) -> np.ndarray:
    """Ratings of ``n_sims`` simulated studies, shape (n_sims, len(design.frame)).

    latent = mean + fixed shifts + participant + participant x term + clip + residual,
    then rounded and clipped to ``design.scale`` (if set).
    """
    fr = design.frame
    N = len(fr)
    y = np.full((n_sims, N), float(world.mean))
    for f, shifts in world.effects.items():
        cols = f.split(":")
        missing = [c for c in cols if c not in design.factors]
        if missing:
            raise AnalysisError(f"effect on '{f}', which is not a factor of the design",
                                f"use one of {design.factors} or an interaction 'a:b'")
        key = fr[cols].astype(str).agg(",".join, axis=1) if len(cols) > 1 \
            else fr[f].astype(str)
        unknown = set(map(str, shifts)) - set(key)
        if unknown:
            raise AnalysisError(f"effect on unknown level(s) {sorted(unknown)} of '{f}'",
                                f"levels are {sorted(key.unique())}")
        y += key.map({str(k): float(v) for k, v in shifts.items()}) \
            .fillna(0.0).to_numpy()[None, :]
    comps = [("participant", [design.subject])]
    for term in effect_terms(design.factors):
        comps.append(("participant:" + term_name(term), [design.subject, *term]))
    comps.append(("clip", [design.clip]))
    for name, cols in comps:
        s = float(world.sd.get(name, 0.0))
        if s <= 0:
            continue
        codes = _codes(fr, cols)
        u = rng.normal(0.0, s, size=(n_sims, int(codes.max()) + 1))
        y += u[:, codes]
    y += rng.normal(0.0, float(world.sd.get("residual", 1.0)), size=(n_sims, N))
    if design.scale is not None:
        y = np.clip(np.rint(y), design.scale[0], design.scale[1])
    return y


def cell_mean_operator(design: Design) -> tuple[np.ndarray, list[str], list[int]] | None:
    """(N, n*c) matrix turning trial rows into participant x cell means (cells in C order
    of the factors' levels), the within factors and their level counts; None when some
    participant lacks a cell (by-participant tests cannot run)."""
    fr = design.frame
    lv = [levels(fr, f) for f in design.factors]
    k = [len(v) for v in lv]
    subj = pd.factorize(fr[design.subject])[0]
    n = int(subj.max()) + 1
    cell = np.zeros(len(fr), dtype=np.int64)
    for f, levs in zip(design.factors, lv):
        cell = cell * len(levs) + fr[f].map({v: i for i, v in enumerate(levs)}).to_numpy()
    c = int(np.prod(k))
    col = subj * c + cell
    G = np.zeros((len(fr), n * c))
    G[np.arange(len(fr)), col] = 1.0
    counts = G.sum(axis=0)
    if (counts == 0).any():
        return None
    return G / counts, list(design.factors), k


__all__ = ["Design", "World", "design_from_data", "design_from_levels", "world_from_fit",
           "simulate", "cell_mean_operator"]
