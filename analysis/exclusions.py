"""Exclusions before analysis: the export's decisions, pilots, and manual decisions.

``vr-study export`` marks every row of an excluded participant (``excluded = 1``, reasons in
``exclusions.csv`` next to ``responses.csv``) and of a pilot session (``pilot = 1``, only
present with ``--include-pilots``). :func:`apply_exclusions` drops those participants and
those named in a manual file (``analyze --exclude FILE``: CSV ``participant_id,reason``),
and returns the table of who was dropped and why, which the report writes as
``exclusions.csv``. Participant ids are compared in canonical form (``P4`` = ``P04``).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from vr_study.storage import canonical_participant_id
from vr_study.study.quality import read_manual_exclusions

COLUMNS = ["participant_id", "reason"]


def _flagged(raw: pd.DataFrame, column: str) -> set[str]:
    if column not in raw.columns or "participant_id" not in raw.columns:
        return set()
    return set(raw.loc[raw[column].astype(str).str.strip().isin(["1", "1.0", "True", "true"]), "participant_id"]
               .astype(str))


def apply_exclusions(data: pd.DataFrame, data_path: str | Path | None = None, *, exclude_file: str | None = None,
                     include_pilots: bool = False, keep_excluded: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(kept rows, table of excluded participants with reasons)``.

    The export's ``excluded``/``pilot`` flags are read from ``data_path`` itself (so they count
    whatever columns the loader kept), reasons from ``exclusions.csv`` beside it.
    """
    reasons: dict[str, list[str]] = {}
    raw = None
    if data_path is not None and Path(data_path).suffix.lower() == ".csv" and Path(data_path).is_file():
        head = pd.read_csv(data_path, dtype=str, nrows=0)
        cols = [c for c in ("participant_id", "excluded", "pilot") if c in head.columns]
        if "participant_id" in cols and len(cols) > 1:
            raw = pd.read_csv(data_path, dtype=str, keep_default_na=False, usecols=cols)
    if raw is not None:
        if not include_pilots:
            for pid in sorted(_flagged(raw, "pilot")):
                reasons.setdefault(pid, []).append("pilot session")
        if not keep_excluded:
            why: dict[str, str] = {}
            side = Path(data_path).with_name("exclusions.csv")
            if side.is_file():
                ex = pd.read_csv(side, dtype=str, keep_default_na=False)
                if {"participant_id", "reasons"} <= set(ex.columns):
                    why = dict(zip(ex["participant_id"], ex["reasons"]))
            for pid in sorted(_flagged(raw, "excluded")):
                reasons.setdefault(pid, []).append(why.get(pid) or "excluded in the export")
    if exclude_file:
        for pid, why in read_manual_exclusions(exclude_file).items():
            reasons.setdefault(canonical_participant_id(pid), []).append(f"manual: {why}")
    if not reasons or "participant_id" not in data.columns:
        return data, pd.DataFrame(columns=COLUMNS)
    canon = {canonical_participant_id(p): "; ".join(r) for p, r in reasons.items()}
    ids = data["participant_id"].astype(str)
    mask = ids.map(lambda p: canonical_participant_id(p) in canon)
    present = sorted(set(ids[mask]))
    table = pd.DataFrame([[p, canon[canonical_participant_id(p)]] for p in present], columns=COLUMNS)
    return data.loc[~mask].copy(), table
