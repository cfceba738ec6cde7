"""Load the tidy response table (``vr-study export`` or any CSV with the needed columns).

Needed columns (after optional renaming with a column mapping):

* ``participant_id``, ``method``, ``emotion``, ``item``, ``value``: always.
* ``value_scored`` (reverse-scored value) is used instead of ``value`` when present.
* ``clip_id`` enables clip random effects and the objective-vs-perceptual join.
* ``correct`` (0/1; empty on rating rows) marks emotion-recognition answers; with
  ``response_text`` (the chosen label) it gives confusion matrices; ``scale_min`` /
  ``scale_max`` on those rows give the number of options (chance = 1/options).
* ``instrument`` / ``subscale`` group items for Cronbach's alpha; ``trial_index`` tells
  which answers were given together (else ``clip_id`` is used).
* ``study_id`` starting with ``SIMULATED`` labels the report as simulated.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vr_study.errors import InputError

REQUIRED = ("participant_id", "method", "emotion", "item", "value")
OPTIONAL = ("value_scored", "clip_id", "correct", "response_text", "scale_min", "scale_max",
            "instrument", "subscale", "trial_index", "study_id", "utterance", "block")
#: short names accepted on the left of a mapping
ALIASES = {"participant": "participant_id", "subject": "participant_id", "clip": "clip_id",
           "response": "value", "rating": "value", "answer": "response_text"}


def parse_mapping(spec: str | None) -> dict[str, str]:
    """``"participant_id=pid,method=condition"`` or a JSON file -> {our name: their name}."""
    if not spec:
        return {}
    p = Path(spec)
    if spec.endswith(".json") or p.is_file():
        try:
            raw = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            raise InputError(spec, None, f"cannot read the column mapping ({e})",
                             'write a JSON object like {"participant_id": "pid"}') from None
        if not isinstance(raw, dict):
            raise InputError(spec, None, "the column mapping is not a JSON object",
                             'write {"participant_id": "pid", ...}')
        pairs = raw.items()
    else:
        pairs = []
        for part in spec.split(","):
            if "=" not in part:
                raise InputError(None, "--columns", f"'{part}' is not NAME=COLUMN",
                                 "write e.g. --columns participant_id=pid,method=condition")
            a, b = part.split("=", 1)
            pairs.append((a.strip(), b.strip()))
    out = {}
    for ours, theirs in pairs:
        ours = ALIASES.get(ours, ours)
        if ours not in REQUIRED + OPTIONAL:
            raise InputError(None, "--columns", f"unknown column name '{ours}'",
                             f"use one of {', '.join(REQUIRED + OPTIONAL)}")
        out[ours] = str(theirs)
    return out


def load_responses(path: str | Path, columns: dict[str, str] | str | None = None
                   ) -> pd.DataFrame:
    """Read the CSV (all as text), rename mapped columns, check the required ones.

    Raises InputError for an unreadable file, unknown mapped columns or missing columns.
    """
    path = Path(path)
    mapping = parse_mapping(columns) if isinstance(columns, str) or columns is None \
        else {ALIASES.get(k, k): v for k, v in columns.items()}
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(path, None, "does not exist",
                         "give the CSV written by 'vr-study export'") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as e:
        raise InputError(path, None, f"cannot be read as CSV ({type(e).__name__})",
                         "give a comma-separated UTF-8 file with a header row") from None
    return prepare_responses(df, mapping, source=str(path))


def prepare_responses(df: pd.DataFrame, mapping: dict[str, str] | None = None,
                      source: str = "data") -> pd.DataFrame:
    """Rename and check an in-memory table the same way as :func:`load_responses`."""
    mapping = mapping or {}
    missing_src = [theirs for theirs in mapping.values() if theirs not in df.columns]
    if missing_src:
        raise InputError(source, missing_src[0], "named in --columns is not in the file",
                         f"the file has columns: {', '.join(map(str, df.columns))}")
    df = df.rename(columns={theirs: ours for ours, theirs in mapping.items()})
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(source, missing[0], "is missing",
                         f"the analysis needs columns {', '.join(REQUIRED)}; map yours with "
                         f"--columns {missing[0]}=YOUR_COLUMN")
    df = df.copy()
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].astype(str).str.strip()
    if len(df) == 0:
        raise InputError(source, None, "has no data rows", "export the study again")
    return df


def is_simulated(df: pd.DataFrame) -> bool:
    """True when study_id marks the data as simulated."""
    return "study_id" in df.columns and df["study_id"].astype(str).str.upper()\
        .str.startswith("SIMULATED").any()


#: trial kinds that are not part of the analysed design
EXCLUDED_TRIAL_KINDS = ("practice", "attention_check")


@dataclass
class Responses:
    """The rows of a tidy table, sorted by their role in the analysis."""

    ratings: pd.DataFrame      # numeric items answered per condition (column ``rating``)
    recognition: pd.DataFrame  # rows with a 0/1 ``correct`` in a condition
    session: pd.DataFrame      # items answered once per session (no method/emotion)
    notes: list[str]           # what was set aside and why


def split_responses(df: pd.DataFrame) -> Responses:
    """Sort rows into condition ratings, recognition answers and session questionnaires.

    * rows of practice and attention-check trials (``trial_kind``) are set aside;
    * rows with a non-empty ``correct`` are recognition answers;
    * items answered with labels (``response_text``, no ``correct``: choice or free-text
      items) are not ratings and are set aside;
    * rows without a method or emotion (end-of-session questionnaires) are session items;
    * the response of a rating is ``value_scored`` when present, else ``value``
      (column ``rating``, still text; the report converts it).
    """
    notes = []
    excluded = pd.Series(False, index=df.index)
    if "trial_kind" in df.columns:
        excluded = df["trial_kind"].isin(EXCLUDED_TRIAL_KINDS)
        for kind in EXCLUDED_TRIAL_KINDS:
            k = int((df["trial_kind"] == kind).sum())
            if k:
                notes.append(f"{k} answer(s) of {kind.replace('_', '-')} trials are not analysed")
    correct = df["correct"].astype(str).str.strip() if "correct" in df.columns \
        else pd.Series("", index=df.index)
    in_condition = (df["method"].astype(str) != "") & (df["emotion"].astype(str) != "")
    rec_mask = (correct != "") & ~excluded & in_condition
    labelled = pd.Series(False, index=df.index)
    if "response_text" in df.columns:
        text_items = df.loc[(df["response_text"].astype(str) != "") & (correct == ""), "item"]
        labelled = df["item"].isin(set(text_items))
        for item in sorted(set(text_items)):
            notes.append(f"item '{item}' is answered with labels or text (choice/free-text), "
                         "not a rating; it is not analysed statistically")
    rest = ~rec_mask & ~excluded & ~labelled & (correct == "")
    ratings = df[rest & in_condition].copy()
    session = df[rest & ~in_condition].copy()
    for part in (ratings, session):
        src = part["value"]
        if "value_scored" in part.columns:
            vs = part["value_scored"].astype(str).str.strip()
            src = vs.where(vs != "", part["value"])
        part["rating"] = src
    if len(session):
        notes.append(f"{session['item'].nunique()} session-level item(s) (no method/emotion) "
                     "get descriptives and reliability only")
    return Responses(ratings, df[rec_mask].copy(), session, notes)
