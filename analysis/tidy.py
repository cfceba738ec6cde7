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

Besides this long layout (one row per answer), :func:`read_responses` reads the *wide*
layout of published data sets and of other experiment tools (one row per trial, one column
per rated item: PsychoPy data files, jsPsych CSV with survey answers as a JSON object,
Qualtrics exports with their two extra header rows) and turns it into the long one; see
:func:`detect_layout`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
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

    Any layout :func:`read_responses` understands is accepted (detected automatically).
    Raises InputError for an unreadable file, unknown mapped columns or missing columns.
    """
    return read_responses(path, columns)[0]


def _read_csv(path: Path) -> pd.DataFrame:
    if path.is_dir():  # one file per participant (PsychoPy's data/ folder)
        files = sorted(path.glob("*.csv"))
        if not files:
            raise InputError(path, None, "is a folder without .csv files",
                             "give a CSV file or a folder of per-participant CSV files")
        return pd.concat([_read_csv(f) for f in files], ignore_index=True).fillna("")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(path, None, "does not exist",
                         "give the CSV written by 'vr-study export'") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as e:
        raise InputError(path, None, f"cannot be read as CSV ({type(e).__name__})",
                         "give a comma-separated UTF-8 file with a header row") from None


def read_responses(path: str | Path, columns: dict[str, str] | str | None = None, *,
                   layout: str = "auto", items: list[str] | None = None,
                   pattern: str | None = None) -> tuple[pd.DataFrame, "Layout"]:
    """Read any supported layout into the long table; returns (table, how it was read).

    Args:
        path: CSV file.
        columns: column mapping (see :func:`parse_mapping`).
        layout: ``"auto"``, ``"long"`` or ``"wide"`` (see :func:`detect_layout`).
        items: wide layout: the rated-item columns (default: detected).
        pattern: one row per participant (e.g. Qualtrics): a regular expression with named
            groups (``item`` and any of ``method``, ``emotion``, ``clip_id``) matching the
            answer columns, e.g. ``(?P<method>[^_]+)_(?P<emotion>[^_]+)_(?P<item>.+)``.
    """
    path = Path(path)
    mapping = parse_mapping(columns) if isinstance(columns, str) or columns is None \
        else {ALIASES.get(k, k): v for k, v in columns.items()}
    raw = _read_csv(path)
    found = detect_layout(raw, mapping, layout=layout, items=items, pattern=pattern,
                          source=str(path))
    return prepare_responses(found.table, found.mapping, source=str(path)), found


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
    #: items answered once per block, with one factor only (e.g. SAM after each emotion
    #: block: emotion set, method empty); column ``block_factor`` names that factor
    blocks: pd.DataFrame = field(default_factory=pd.DataFrame)


def split_responses(df: pd.DataFrame) -> Responses:
    """Sort rows into condition ratings, recognition answers and session questionnaires.

    * rows of practice and attention-check trials (``trial_kind``) are set aside;
    * rows with a non-empty ``correct`` are recognition answers;
    * items answered with labels (``response_text``, no ``correct``: choice or free-text
      items) are not ratings and are set aside;
    * rows with exactly one of method and emotion (questionnaires after each block of a
      blocked design, e.g. SAM after each emotion block) are block items, analysed with
      that factor, never pooled over blocks;
    * rows with neither (end-of-session questionnaires) are session items;
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
    has_m, has_e = df["method"].astype(str) != "", df["emotion"].astype(str) != ""
    one = has_m ^ has_e
    ratings = df[rest & in_condition].copy()
    session = df[rest & ~in_condition & ~one].copy()
    blocks = df[rest & one].copy()
    blocks["block_factor"] = np.where(has_m[rest & one], "method", "emotion")
    for part in (ratings, session, blocks):
        src = part["value"]
        if "value_scored" in part.columns:
            vs = part["value_scored"].astype(str).str.strip()
            src = vs.where(vs != "", part["value"])
        part["rating"] = src
    if len(session):
        notes.append(f"{session['item'].nunique()} session-level item(s) (no method/emotion) "
                     "get descriptives and reliability only")
    if len(blocks):
        notes.append(f"{blocks['item'].nunique()} item(s) with only one of method and "
                     "emotion (e.g. a questionnaire after each emotion block) are analysed "
                     "with that factor, not pooled")
    return Responses(ratings, df[rec_mask].copy(), session, notes, blocks)


# --- input layouts --------------------------------------------------------------------------

LAYOUTS = ("auto", "long", "wide")
#: what other tools call the participant column (used when there is no participant_id)
PARTICIPANT_NAMES = ("participant", "subject", "subject_id", "participant_code", "pid",
                     "ResponseId")
#: columns of the export that describe a trial, never a rated item
_DESIGN = set(REQUIRED + OPTIONAL) | {"session_id", "position_in_block", "trial_kind", "seed",
                                      "attempt", "expected", "answered_at", "rt_s", "reversed"}
#: bookkeeping columns of PsychoPy, jsPsych and Qualtrics (never rated items)
TOOL_COLUMNS = {
    # PsychoPy (expInfo and window; loop counters are 'loop.thisN' etc., caught by the '.')
    "date", "expName", "psychopyVersion", "frameRate", "expStart", "session",
    # jsPsych (data every plugin writes)
    "rt", "time_elapsed", "internal_node_id", "trial_type", "stimulus", "success", "timeout",
    "failed_images", "failed_audio", "failed_video", "view_history", "question_order",
    # Qualtrics response metadata
    "StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)",
    "Finished", "RecordedDate", "ResponseId", "RecipientLastName", "RecipientFirstName",
    "RecipientEmail", "ExternalReference", "LocationLatitude", "LocationLongitude",
    "DistributionChannel", "UserLanguage",
}


@dataclass
class Layout:
    """How :func:`detect_layout` read a file: enough to explain it in one line."""

    kind: str                  # "long", "wide" (one row per trial) or "participant" (per row)
    tool: str                  # "vr-study export", "PsychoPy", "jsPsych", "Qualtrics", "generic"
    forced: bool               # given with --layout / --pattern rather than detected
    items: list[str] = field(default_factory=list)         # rated items (wide layouts)
    item_columns: list[str] = field(default_factory=list)  # their source columns
    ignored: list[str] = field(default_factory=list)       # other columns set aside
    renamed: dict[str, str] = field(default_factory=dict)  # our name -> their column
    notes: list[str] = field(default_factory=list)
    table: pd.DataFrame | None = field(default=None, repr=False)   # long (or to be renamed)
    mapping: dict[str, str] = field(default_factory=dict, repr=False)  # still to apply

    def explain(self) -> str:
        """One line: which layout, why, what was used and how to override it."""
        how = "given" if self.forced else "detected"
        ren = "".join(f"; {ours} = column '{theirs}'" for ours, theirs in self.renamed.items())
        if self.kind == "long":
            return (f"input: long layout {how} (one row per answer, columns item and value; "
                    f"{self.tool}){ren}; use --layout wide for one column per rated item")
        ign = ""
        if self.ignored:
            shown = ", ".join(self.ignored[:5]) + (", ..." if len(self.ignored) > 5 else "")
            ign = f"; {len(self.ignored)} other column(s) ignored ({shown})"
        src = "" if self.item_columns == self.items else \
            f" from {', '.join(self.item_columns[:4])}{', ...' if len(self.item_columns) > 4 else ''}"
        shape = "one row per participant" if self.kind == "participant" else "one row per trial"
        return (f"input: wide layout {how} ({self.tool}: {shape}, one column per rated item); "
                f"items {', '.join(self.items)}{src}{ren}{ign}; pick items with --items")


def _numeric(col: pd.Series) -> bool:
    v = col.astype(str).str.strip()
    v = v[~v.isin(["", "None", "nan", "NA"])]
    return len(v) > 0 and pd.to_numeric(v, errors="coerce").notna().all()


def _integer_valued(col: pd.Series) -> bool:
    y = pd.to_numeric(col.astype(str).str.strip(), errors="coerce").dropna()
    return bool(len(y)) and bool(np.all(np.isclose(y, np.round(y))))


def _as_object(x: str) -> dict | None:
    x = str(x).strip()
    if not x.startswith("{"):
        return None
    try:
        v = json.loads(x)
    except ValueError:
        return None
    return v if isinstance(v, dict) else None


def _json_columns(df: pd.DataFrame) -> list[str]:
    """Columns holding JSON objects (jsPsych survey responses; other rows of other plugins
    hold key names or button indices there, which are not answers)."""
    return [c for c in df.columns
            if df[c].astype(str).str.strip().str.startswith("{").any()
            and any(_as_object(x) is not None for x in df[c])]


def _expand_json(df: pd.DataFrame, cols: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """One column per key of the JSON objects; returns (table, new column -> source)."""
    df = df.copy()
    src: dict[str, str] = {}
    for c in cols:
        parsed = [_as_object(x) or {} for x in df[c]]
        keys: list[str] = []
        for d in parsed:
            keys += [k for k in d if k not in keys]
        for k in keys:
            name = k if k not in df.columns else f"{c}.{k}"
            df[name] = ["" if d.get(k) is None else str(d.get(k)) for d in parsed]
            src[name] = f"{c}{{{k}}}"
        df = df.drop(columns=[c])
    return df, src


def _strip_qualtrics(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]] | None:
    """Drop the question-text and ImportId header rows of a Qualtrics export (else None)."""
    if len(df) < 2 or not df.iloc[1].astype(str).str.startswith('{"ImportId"').any():
        return None
    df = df.iloc[2:].reset_index(drop=True)
    notes = ["Qualtrics export: its question-text and ImportId header rows were skipped"]
    if "Status" in df.columns:
        test = df["Status"].isin(["Survey Preview", "Survey Test", "Spam", "1", "2", "8"])
        if test.any():
            notes.append(f"{int(test.sum())} Qualtrics preview/test/spam response(s) dropped")
            df = df[~test].reset_index(drop=True)
    return df, notes


def _tool(cols: list[str]) -> str:
    if {"psychopyVersion", "frameRate"} & set(cols) or any(c.endswith(".thisN") for c in cols):
        return "PsychoPy"
    if "internal_node_id" in cols or {"trial_type", "time_elapsed"} <= set(cols):
        return "jsPsych"
    return "generic"


def detect_layout(raw: pd.DataFrame, mapping: dict[str, str] | None = None, *,
                  layout: str = "auto", items: list[str] | None = None,
                  pattern: str | None = None, source: str = "data") -> Layout:
    """Tell the layout of a table read as text, and turn a wide one into the long layout.

    * **long** (the ``vr-study export`` layout): columns ``item`` and ``value``.
    * **wide**, one row per trial: ``participant_id``, ``method``, ``emotion`` (mapped or
      named ``participant``/``subject``/...) plus one column per rated item. Items are
      ``--items`` when given, else PsychoPy's ``<component>.response`` columns, else the
      keys of JSON-object columns (jsPsych ``response``), else every numeric column that
      is neither a design column nor tool bookkeeping (``TOOL_COLUMNS``, names with a
      ``.``) and varies within participants.
    * **one row per participant** (Qualtrics): ``pattern`` names the parts of the answer
      columns' names.

    Refuses (InputError, one line with the fix) when neither layout fits, when a file has
    both long and wide signs, or when detected item columns mix integer ratings with
    non-integer numbers (e.g. a duration column): the user names them with ``--items``.
    """
    if layout not in LAYOUTS:
        raise InputError(None, "--layout", f"is '{layout}'", f"use one of {', '.join(LAYOUTS)}")
    mapping = dict(mapping or {})
    notes: list[str] = []
    tool = _tool(list(raw.columns))
    q = _strip_qualtrics(raw)
    if q is not None:
        raw, notes = q
        tool = "Qualtrics"
    cols = [str(c) for c in raw.columns]
    renamed: dict[str, str] = {}
    if "participant_id" not in mapping and "participant_id" not in cols:
        for name in PARTICIPANT_NAMES:
            if name in cols and name not in mapping.values():
                mapping["participant_id"] = renamed["participant_id"] = name
                break
    if "clip_id" not in mapping and "clip_id" not in cols and "clip" in cols:
        mapping["clip_id"] = renamed["clip_id"] = "clip"
    has = lambda c: c in mapping or c in cols  # noqa: E731
    if pattern:
        return _from_pattern(raw, mapping, pattern, tool, renamed, notes, source)
    json_cols = _json_columns(raw)
    resp_cols = [c for c in cols if c.endswith(".response")]
    long_ok = has("item") and has("value")
    if layout == "auto":
        if long_ok and (resp_cols or json_cols):
            raise InputError(source, None, "is ambiguous: it has item/value columns (long layout) "
                             f"and per-item answer columns ({', '.join((resp_cols + json_cols)[:3])})",
                             "say which with --layout long or --layout wide")
        if long_ok:
            layout = "long"
        elif has("participant_id") and (has("method") or has("emotion")):
            layout = "wide"
        elif tool == "Qualtrics":
            raise InputError(source, None, "is a Qualtrics export (one row per respondent) "
                             "without method/emotion columns",
                             "say how its column names encode the conditions, e.g. --pattern "
                             "'(?P<method>[^_]+)_(?P<emotion>[^_]+)_(?P<item>.+)'")
        else:
            missing = [c for c in ("participant_id", "method", "emotion") if not has(c)]
            raise InputError(source, None, "has neither item/value columns (long layout) nor "
                             f"the columns {', '.join(missing)} of a wide layout",
                             f"map yours with --columns {missing[0]}=YOUR_COLUMN (and name the "
                             "rated columns with --items), or give --layout")
        forced = False
    else:
        forced = True
    if layout == "long":
        return Layout("long", "vr-study export" if "trial_kind" in cols else tool, forced,
                      renamed=renamed, notes=notes, table=raw, mapping=mapping)
    return _from_wide(raw, mapping, items, json_cols, resp_cols, tool, forced, renamed, notes,
                      source)


def _from_wide(raw, mapping, items, json_cols, resp_cols, tool, forced, renamed, notes,
               source) -> Layout:
    df, json_src = _expand_json(raw, json_cols) if json_cols else (raw, {})
    missing_src = [theirs for theirs in mapping.values() if theirs not in df.columns]
    if missing_src:
        raise InputError(source, missing_src[0], "named in --columns is not in the file",
                         f"the file has columns: {', '.join(map(str, df.columns))}")
    source_of = {ours: json_src.get(theirs, theirs) for ours, theirs in mapping.items()}
    json_src = {k: v for k, v in json_src.items() if k not in mapping.values()}
    df = df.rename(columns={theirs: ours for ours, theirs in mapping.items()})
    source_of.update({c: json_src.get(c, c) for c in df.columns if c not in source_of})
    if "participant_id" not in df.columns or not {"method", "emotion"} & set(df.columns):
        c = "participant_id" if "participant_id" not in df.columns else "method"
        raise InputError(source, c, "is missing (wide layout)",
                         f"map yours with --columns {c}=YOUR_COLUMN")
    for c in ("method", "emotion"):
        if c not in df.columns:  # a one-factor study: the other factor has one level
            df = df.assign(**{c: "all"})
            notes.append(f"no {c} column: every trial counts as {c} 'all' (one level)")
    if items:
        cols = []
        for it in items:
            if it in df.columns:
                cols.append(it)
            elif f"{it}.response" in df.columns:
                cols.append(f"{it}.response")
            else:
                raise InputError(source, it, "named in --items is not a column",
                                 f"the file has columns: {', '.join(map(str, df.columns))}")
    elif resp_cols:
        cols = resp_cols
    elif json_src:
        cols = [c for c in json_src if _numeric(df[c])]
        for c in json_src:
            if c not in cols and df[c].astype(str).str.strip().ne("").any():
                notes.append(f"answer '{c}' holds labels, not ratings; if it is the emotion "
                             f"recognition answer, map it with --columns response_text={c}")
    else:
        cols = [c for c in df.columns if c not in _DESIGN and c not in TOOL_COLUMNS
                and "." not in c and not c.startswith("Unnamed") and _numeric(df[c])]
        constant = [c for c in cols if (df.groupby("participant_id")[c].nunique() <= 1).all()]
        if constant:
            notes.append(f"column(s) {', '.join(constant)} are constant within each "
                         "participant (participant data, not ratings) and are not analysed")
            cols = [c for c in cols if c not in constant]
        whole = [c for c in cols if _integer_valued(df[c])]
        frac = [c for c in cols if c not in whole]
        if whole and frac:
            raise InputError(source, None, "is ambiguous: cannot tell which columns are ratings "
                             f"(integer columns {', '.join(whole)}; non-integer columns "
                             f"{', '.join(frac)})",
                             f"name the rated items with --items {','.join(whole)}")
    if not cols and "response_text" not in df.columns:
        raise InputError(source, None, "has no rated-item columns (wide layout)",
                         "name them with --items a,b,c, or give --layout long")
    names = [c[:-len(".response")] if c.endswith(".response") else c for c in cols]
    names = [n.split(".", 1)[1] if n.startswith(tuple(f"{j}." for j in json_cols)) else n
             for n in names]
    keep = [c for c in df.columns if c in _DESIGN
            and c not in ("item", "value", "response_text", "correct")]
    body = df[keep].copy()
    if "trial_index" not in body.columns:
        body["trial_index"] = [str(i) for i in range(len(df))]  # answers given together
    vals = df[cols].astype(str).apply(lambda s: s.str.strip())
    answered = ~vals.isin(["", "None", "nan"]).all(axis=1)  # rows without any rating
    parts = []
    if "response_text" in df.columns:  # the emotion-recognition answer (a label)
        ans = df["response_text"].astype(str).str.strip()
        has = ~ans.isin(["", "None", "nan"]) & (df["emotion"].astype(str) != "")
        rec = body[has].copy()
        rec["item"] = mapping.get("response_text", "recognition")  # codebook looks it up
        rec["value"], rec["response_text"] = "", ans[has]
        given = df["correct"].astype(str).str.strip() if "correct" in df.columns else None
        rec["correct"] = given[has] if given is not None and (given[has] != "").all() else \
            (ans[has].str.lower() == df.loc[has, "emotion"].astype(str).str.lower()).astype(
                int).astype(str)
        parts.append(rec)
        notes.append(f"{int(has.sum())} emotion-recognition answer(s) from column "
                     f"'{source_of.get('response_text')}' (correct = answer equals the emotion)")
    for c, name in zip(cols, names):
        part = body[answered].copy()
        part["item"] = name
        part["value"] = vals.loc[answered, c].replace({"None": ""})
        parts.append(part)
    long = pd.concat(parts, ignore_index=True).fillna("")
    ignored = [str(c) for c in raw.columns if c not in cols and c not in keep
               and c not in mapping.values() and c not in json_cols]
    return Layout("wide", tool, forced, names, [source_of.get(c, c) for c in cols], ignored,
                  renamed, notes, long, {})


def _from_pattern(raw, mapping, pattern, tool, renamed, notes, source) -> Layout:
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise InputError(None, "--pattern", f"is not a regular expression ({e})",
                         "write e.g. '(?P<method>[^_]+)_(?P<emotion>[^_]+)_(?P<item>.+)'") from None
    groups = [ALIASES.get(g, g) for g in rx.groupindex]
    bad = [g for g in groups if g not in ("item", "method", "emotion", "clip_id", "block")]
    if "item" not in groups or bad:
        raise InputError(None, "--pattern", "needs a named group 'item' and only the groups "
                         "method, emotion, clip, block" + (f" (not {bad[0]})" if bad else ""),
                         "write e.g. '(?P<method>[^_]+)_(?P<emotion>[^_]+)_(?P<item>.+)'")
    pid = mapping.get("participant_id", "participant_id")
    if pid not in raw.columns:
        raise InputError(source, "participant_id", "is missing",
                         "map the respondent column with --columns participant_id=YOUR_COLUMN")
    matched = {c: rx.fullmatch(str(c)) for c in raw.columns if c != pid}
    matched = {c: m for c, m in matched.items() if m}
    if not matched:
        raise InputError(source, None, "has no column matching --pattern",
                         f"the file has columns: {', '.join(map(str, raw.columns))}")
    rows = []
    for c, m in matched.items():
        g = {ALIASES.get(k, k): v for k, v in m.groupdict().items()}
        cond = "|".join(g.get(k, "") for k in ("method", "emotion", "clip_id", "block"))
        for p, v in zip(raw[pid].astype(str), raw[c].astype(str)):
            if v.strip():
                rows.append({"participant_id": p, "method": "all", "emotion": "all", **g,
                             "value": v.strip(), "trial_index": cond})
    long = pd.DataFrame(rows)
    items = list(dict.fromkeys(long["item"])) if len(long) else []
    extra = {k: v for k, v in mapping.items() if k != "participant_id"}
    if extra:
        raise InputError(None, "--columns", f"maps {next(iter(extra))}, but with --pattern the "
                         "conditions come from the column names", "drop it from --columns")
    ignored = [str(c) for c in raw.columns if c not in matched and c != pid]
    notes.append(f"{len(matched)} answer column(s) matched --pattern")
    return Layout("participant", tool, True, items, items, ignored,
                  renamed, notes, long, {})


# --- item metadata for layouts that lack it (wide files) ------------------------------------

CODEBOOK_COLUMNS = ("instrument", "subscale", "scale_min", "scale_max", "reversed")


def read_codebook(path: str | Path) -> pd.DataFrame:
    """``codebook.csv`` of ``vr-study export`` (or any CSV with ``item`` and some of
    ``instrument, subscale, scale_min, scale_max, reversed``)."""
    cb = _read_csv(Path(path))
    if "item" not in cb.columns:
        raise InputError(path, "item", "is missing",
                         "give the codebook.csv written by 'vr-study export' (columns item, "
                         "instrument, subscale, scale_min, scale_max, reversed)")
    return cb


def apply_item_info(df: pd.DataFrame, codebook: pd.DataFrame | None = None,
                    scale: tuple[float, float] | None = None) -> pd.DataFrame:
    """Fill instrument/subscale/scale/reversed per item where the table has none.

    ``codebook``: one row per item (:func:`read_codebook`, or built from instrument
    definitions by the CLI). ``scale``: (min, max) of every rating item without one.
    Reverse-keyed items get ``value_scored = scale_min + scale_max - value``.
    """
    df = df.copy()
    if codebook is not None and len(codebook):
        cb = codebook.drop_duplicates("item", keep="first").set_index("item")
        for c in CODEBOOK_COLUMNS:
            if c not in cb.columns:
                continue
            filled = df["item"].map(cb[c].astype(str)).fillna("")
            cur = df[c].astype(str) if c in df.columns else pd.Series("", index=df.index)
            df[c] = cur.where(cur.str.strip() != "", filled)
    if scale is not None:  # rating rows only (recognition rows' scale is their options)
        rating = df["correct"].astype(str).str.strip() == "" if "correct" in df.columns \
            else pd.Series(True, index=df.index)
        for c, v in zip(("scale_min", "scale_max"), scale):
            cur = df[c].astype(str) if c in df.columns else pd.Series("", index=df.index)
            df[c] = cur.where((cur.str.strip() != "") | ~rating, f"{v:g}")
    if "reversed" in df.columns and {"scale_min", "scale_max"} <= set(df.columns):
        rev = df["reversed"].astype(str).str.strip().isin(["1", "True", "true", "yes"])
        y = pd.to_numeric(df["value"], errors="coerce")
        lo = pd.to_numeric(df["scale_min"], errors="coerce")
        hi = pd.to_numeric(df["scale_max"], errors="coerce")
        scored = (lo + hi - y).where(rev, y)
        cur = df["value_scored"].astype(str) if "value_scored" in df.columns \
            else pd.Series("", index=df.index)
        new = scored.map(lambda v: "" if pd.isna(v) else f"{v:g}")
        df["value_scored"] = cur.where(cur.str.strip() != "", new)
    return df


def parse_scale(spec: str | None) -> tuple[float, float] | None:
    """``"1,7"`` -> (1.0, 7.0)."""
    if not spec:
        return None
    try:
        lo, hi = (float(x) for x in spec.split(","))
    except ValueError:
        raise InputError(None, "--scale", f"is '{spec}'", "write MIN,MAX, e.g. --scale 1,7") \
            from None
    if not hi > lo:
        raise InputError(None, "--scale", f"is '{spec}'", "MAX must be greater than MIN")
    return lo, hi
