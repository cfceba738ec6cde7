"""Export a study database as tidy CSV (one row per answered item) plus a codebook.

Files written to the output folder (each through a temporary file, then renamed):

- ``responses.csv``: one row per response of the current attempt of every trial, with every
  condition and order column (see :data:`COLUMNS`; factors other than method and emotion
  follow as extra columns, then ``attempt`` and ``expected``);
- ``trials.csv``: every planned step of every session with its status;
- ``events.csv``: the event log (wall and monotonic time, LSL time of markers);
- ``codebook.md`` and ``codebook.csv``: what every column and instrument item means.

Text cells that a spreadsheet would run as a formula get a leading ``'`` (see
:func:`neutralise`, documented in the codebook); numbers are written as numbers.

Instrument knowledge (subscales, ranges, reversed items, which option is correct) comes from
``item_info``, built by the CLI from the questionnaire definitions; the core does not import
``questionnaires``.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import select

from vr_study.atomic import atomic_write_text
from vr_study.storage import StudyDatabase
from vr_study.storage import schema as s
from vr_study.study.quality import check_passed

COLUMNS = ["study_id", "participant_id", "session_id", "trial_index", "block", "trial_kind", "position_in_block",
           "method", "emotion", "clip_id", "utterance", "seed", "instrument", "item", "subscale", "value",
           "value_scored", "response_text", "correct", "scale_min", "scale_max", "reversed", "answered_at", "rt_s"]

COLUMN_DOC = {
    "study_id": "study id from the spec (study.id)",
    "participant_id": "pseudonymous participant id (never a name)",
    "session_id": "database id of the participant's session",
    "trial_index": "0-based position of the step in the participant's session (practice, breaks and "
                   "questionnaire-only steps included)",
    "block": "block number: 0 practice, 1..B main blocks, B+1 end-of-session questionnaires",
    "trial_kind": "practice | playback | interaction | attention_check | questionnaire",
    "position_in_block": "0-based position of the step within its block",
    "method": "level of the 'method' factor (motion source) shown in this trial; empty for non-stimulus steps",
    "emotion": "level of the 'emotion' factor shown in this trial",
    "clip_id": "stimulus library id of the clip shown",
    "utterance": "utterance id of the clip's speech",
    "seed": "generator seed of the clip",
    "instrument": "questionnaire instrument id",
    "item": "item id within the instrument",
    "subscale": "subscale(s) the item belongs to (';'-separated); empty if none",
    "value": "rating items: the number tapped; choice items: the 1-based position of the chosen option",
    "value_scored": "rating items: value after reverse keying (scale_min + scale_max - value when reversed)",
    "response_text": "free-text answers, and the chosen label of choice items",
    "correct": "1/0 for choice items with a correct answer (emotion recognition: the chosen option equals "
               "the trial's emotion); empty otherwise",
    "scale_min": "lowest point of the item's scale (1 for choice items)",
    "scale_max": "highest point of the item's scale (the number of options for choice items)",
    "reversed": "1 when the item is reverse keyed, else 0",
    "answered_at": "wall-clock UTC time the answer was committed (ISO 8601)",
    "rt_s": "seconds from the questionnaire screen opening to the committed answer",
    "attempt": "0 for the first showing of a trial; n after n experimenter-ordered redos",
    "expected": "attention-check items: the answer the instruction asked for (passed when value == expected)",
    "check_passed": "attention-check screens: 1 when every expected answer was given, else 0; empty otherwise",
    "pilot": "1 for a pilot session (session run --pilot; exported only with --include-pilots), else 0",
    "excluded": "1 when the participant is excluded (spec 'exclude:' rules or a manual decision; see "
                "exclusions.csv), else 0; analyze drops these rows",
}

#: Columns of quality.csv (one row per session).
QUALITY_COLUMNS = ["participant_id", "session_id", "status", "pilot", "screens", "checks_passed", "checks_failed",
                   "straightlining", "median_rt_s", "too_fast_screens", "excluded", "exclusion_reasons"]
QUALITY_DOC = {
    "status": "session status: finished, aborted, running, created",
    "screens": "questionnaire screens answered (current attempts)",
    "checks_passed": "attention checks answered as instructed",
    "checks_failed": "attention checks not answered as instructed",
    "straightlining": "share (0..1) of screens with >= 3 rating items answered with one value throughout",
    "median_rt_s": "median seconds from a screen opening to its answer",
    "too_fast_screens": "screens answered faster than exclude.too_fast_s (default 2 s)",
    "excluded": "1 when excluded (see exclusion_reasons), else 0",
    "exclusion_reasons": "why: the spec's exclude rules that apply, or 'manual: ...'",
}


@dataclass(frozen=True)
class ItemInfo:
    """What the export needs to know about one instrument item."""
    instrument: str
    item: str
    text: str = ""
    type: str = "likert"  # likert | semantic_differential | choice | text
    subscales: tuple[str, ...] = ()
    scale_min: int | None = None
    scale_max: int | None = None
    reversed: bool = False
    options: tuple[str, ...] = field(default_factory=tuple)
    correct_from: str | None = None


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

FORMULA_NOTE = ("Text cells (free-text answers, labels, ids) that begin with `=`, `+`, `-`, `@`, a tab or a "
                "carriage return are written with a leading single quote (`'`) so that spreadsheet programs show "
                "them as text instead of running them as formulas (OWASP CSV-injection rule). Strip that one "
                "leading quote to get the typed text back. Numbers are never changed: a negative number stays a "
                "number.")


def neutralise(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula.

    >>> neutralise("=HYPERLINK(\"http://x\")"), neutralise("-1"), neutralise("fine")
    ('\'=HYPERLINK("http://x")', "'-1", 'fine')
    """
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float)):
        return str(v)  # numbers stay numbers (a negative number is not a formula)
    return neutralise(str(v))


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    # RFC 4180 line ends: the writer then quotes every cell holding a CR or LF (with "\n" alone a
    # bare CR in free text went out unquoted and split the row in every reader)
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for r in rows:
        w.writerow([_fmt(v) for v in r])
    return buf.getvalue()


def tidy_rows(db: StudyDatabase, item_info: Mapping[tuple[str, str], ItemInfo] | None = None,
              study_id: str | None = None, *, include_pilots: bool = False,
              excluded: set[int] | None = None) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of ``responses.csv``.

    Superseded sessions (``session run --restart``) are left out, and pilot sessions unless
    ``include_pilots``; ``excluded`` (session ids) are kept and marked ``excluded = 1``.
    """
    item_info = item_info or {}
    excluded = excluded or set()
    pilots = db.pilot_sessions()
    with db._read() as c:  # noqa: SLF001 - one consistent snapshot for the whole export
        sessions = {r.session_id: r for r in c.execute(select(s.sessions))}
        trials = {(r.session_id, r.trial_index): r for r in c.execute(select(s.trials))}
        prompts = {r.prompt_id: r for r in c.execute(select(s.prompts))}
        responses = list(c.execute(select(s.responses).order_by(s.responses.c.session_id, s.responses.c.trial_index,
                                                               s.responses.c.response_id)))
    factors: list[str] = []
    for t in trials.values():
        for k in json.loads(t.conditions):
            if k not in ("method", "emotion") and k not in factors:
                factors.append(k)
    header = COLUMNS + factors + ["attempt", "expected", "check_passed", "pilot", "excluded"]
    rows = []
    screen_answers: dict[int, dict[str, Any]] = {}
    for r in responses:
        screen_answers.setdefault(r.prompt_id, {})[r.item_id] = json.loads(r.value_json)
    for r in responses:
        t = trials[(r.session_id, r.trial_index)]
        if r.attempt != t.attempt:
            continue  # superseded by a redo (kept in the database)
        sess = sessions[r.session_id]
        if sess.status == "superseded" or (r.session_id in pilots and not include_pilots):
            continue
        ctx = json.loads(prompts[r.prompt_id].context)
        cond = json.loads(t.conditions)
        info = item_info.get((r.instrument_id, r.item_id))
        value = json.loads(r.value_json)
        kind = info.type if info else ("text" if isinstance(value, str) and r.instrument_id != "emotion_recognition"
                                       else "choice" if isinstance(value, str) else "likert")
        val_out = scored = text = correct = None
        lo = info.scale_min if info else None
        hi = info.scale_max if info else None
        if kind == "text":
            text = value
        elif kind == "choice":
            text = value  # the chosen label; value is its 1-based position among the options
            if info and info.options:
                lo, hi = 1, len(info.options)
                if value in info.options:
                    val_out = info.options.index(value) + 1
            key = info.correct_from if info else ("emotion" if r.instrument_id == "emotion_recognition" else None)
            if key and ctx.get(key) not in (None, "") and value is not None:
                correct = int(str(value).lower() == str(ctx[key]).lower())
        else:
            val_out = r.value_num
            if r.value_num is not None:
                scored = r.value_num
                if info and info.reversed and lo is not None and hi is not None:
                    scored = lo + hi - r.value_num
        expect = ctx.get("expect") if isinstance(ctx.get("expect"), dict) else {}
        expected = expect.get(r.item_id)
        passed = (check_passed(expect, screen_answers[r.prompt_id])
                  if t.trial_kind == "attention_check" and expect else None)
        rows.append([study_id or sess.study_id, sess.participant_id, r.session_id, r.trial_index, t.block,
                     t.trial_kind, t.position_in_block, t.method, t.emotion, t.clip_id, t.utterance, t.clip_seed,
                     r.instrument_id, r.item_id, ";".join(info.subscales) if info else "", val_out, scored, text,
                     correct, lo, hi, int(bool(info and info.reversed)), r.answered_at,
                     None if r.rt_s is None else round(r.rt_s, 4)]
                    + [cond.get(f) for f in factors] + [r.attempt, expected, passed, r.session_id in pilots,
                                                        r.session_id in excluded])
    return header, rows


def export_study(db: StudyDatabase, out_dir: str | Path,
                 item_info: Mapping[tuple[str, str], ItemInfo] | None = None,
                 study_id: str | None = None, *, rules: Any = None, include_pilots: bool = False,
                 manual_exclusions: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Write responses.csv, trials.csv, events.csv, codebook.md, codebook.csv, quality.csv and
    exclusions.csv; return their paths.

    ``quality.csv``: one row per exported session with the quality numbers of
    :mod:`vr_study.study.quality` and whether (and why) it is excluded, by the spec's
    ``exclude:`` ``rules`` or by ``manual_exclusions`` (participant id -> reason);
    ``exclusions.csv``: only the excluded, with their reasons (the table for the paper).
    """
    from vr_study.storage import canonical_participant_id
    from vr_study.study.quality import exclusion_reasons, quality_by_session

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rating = {}
    for info in (item_info or {}).values():
        if info.type in ("likert", "semantic_differential"):
            rating.setdefault(info.instrument, set()).add(info.item)
    too_fast = rules.too_fast_s if rules is not None else 2.0
    manual = {canonical_participant_id(k, db.participant_pattern): v for k, v in (manual_exclusions or {}).items()}
    qrows, excluded, ex_rows = [], set(), []
    for q in quality_by_session(db, too_fast, rating if item_info else None):
        if q.status == "superseded" or (q.pilot and not include_pilots):
            continue
        reasons = exclusion_reasons(q, rules)
        if q.participant_id in manual:
            reasons.append(f"manual: {manual[q.participant_id]}")
        if reasons:
            excluded.add(q.session_id)
            ex_rows.append([q.participant_id, q.session_id, "; ".join(reasons)])
        qrows.append([q.participant_id, q.session_id, q.status, q.pilot, q.screens, q.checks_passed, q.checks_failed,
                      q.straightlining, q.median_rt_s, q.too_fast_screens, bool(reasons), "; ".join(reasons)])
    header, rows = tidy_rows(db, item_info, study_id, include_pilots=include_pilots, excluded=excluded)
    paths = {name: out / name for name in ("responses.csv", "trials.csv", "events.csv", "codebook.md",
                                           "codebook.csv", "quality.csv", "exclusions.csv")}
    atomic_write_text(paths["responses.csv"], _csv(header, rows))
    atomic_write_text(paths["quality.csv"], _csv(QUALITY_COLUMNS, qrows))
    atomic_write_text(paths["exclusions.csv"], _csv(["participant_id", "session_id", "reasons"], ex_rows))

    trial_header = ["participant_id", "session_id", "trial_index", "block", "block_label", "trial_kind",
                    "position_in_block", "conditions", "method", "emotion", "clip_id", "utterance", "seed",
                    "questionnaires", "status", "attempt", "started_at", "completed_at"]
    trows = []
    sessions = {x.session_id: x for x in db.sessions()}
    for sid, sess in sessions.items():
        for t in db.trials(sid):
            trows.append([sess.participant_id, sid, t.trial_index, t.block, t.block_label, t.trial_kind,
                          t.position_in_block, json.dumps(t.conditions, sort_keys=True), t.method, t.emotion,
                          t.clip_id, t.utterance, t.clip_seed, ";".join(t.questionnaires), t.status, t.attempt,
                          t.started_at, t.completed_at])
    atomic_write_text(paths["trials.csv"], _csv(trial_header, trows))

    ev_header = ["event_id", "session_id", "participant_id", "trial_index", "kind", "wall_at", "mono_ns",
                 "lsl_time_s", "payload"]
    erows = [[e.event_id, e.session_id, sessions[e.session_id].participant_id if e.session_id in sessions else "",
              e.trial_index, e.kind, e.wall_at, e.mono_ns, e.lsl_time_s, json.dumps(e.payload, sort_keys=True)]
             for e in db.events()]
    atomic_write_text(paths["events.csv"], _csv(ev_header, erows))

    atomic_write_text(paths["codebook.md"], codebook_markdown(header, item_info or {}))
    items = sorted((item_info or {}).values(), key=lambda i: (i.instrument, i.item))
    atomic_write_text(paths["codebook.csv"], _csv(
        ["instrument", "item", "type", "text", "subscale", "scale_min", "scale_max", "reversed", "options",
         "correct_from"],
        [[i.instrument, i.item, i.type, i.text, ";".join(i.subscales), i.scale_min, i.scale_max, int(i.reversed),
          ";".join(i.options), i.correct_from] for i in items]))
    return paths


def codebook_markdown(header: list[str], item_info: Mapping[tuple[str, str], ItemInfo]) -> str:
    lines = ["# Codebook", "", "## Text cells that look like formulas", "", FORMULA_NOTE, "",
             "## responses.csv", "", "One row per answered item (tidy/long format).", "",
             "| column | meaning |", "|---|---|"]
    for col in header:
        lines.append(f"| `{col}` | {COLUMN_DOC.get(col, 'level of the study factor of this name')} |")
    lines += ["", "## quality.csv", "", "One row per exported session (data quality; exclusions.csv lists the "
              "excluded with their reasons).", "", "| column | meaning |", "|---|---|"]
    lines += [f"| `{c}` | {QUALITY_DOC.get(c, COLUMN_DOC.get(c, ''))} |" for c in QUALITY_COLUMNS]
    by_inst: dict[str, list[ItemInfo]] = {}
    for info in item_info.values():
        by_inst.setdefault(info.instrument, []).append(info)
    for inst in sorted(by_inst):
        lines += ["", f"## Instrument `{inst}`", "", "| item | type | text | scale | reversed | subscale |",
                  "|---|---|---|---|---|---|"]
        for i in by_inst[inst]:
            scale = (f"{i.scale_min}..{i.scale_max}" if i.scale_min is not None else
                     ", ".join(i.options) if i.options else "")
            text = i.text.replace("|", "/").replace("\n", " ")
            lines.append(f"| `{i.item}` | {i.type} | {text} | {scale} | {'yes' if i.reversed else ''} | "
                         f"{';'.join(i.subscales)} |")
    return "\n".join(lines) + "\n"
