"""Data quality per participant: attention checks, straight-lining, response times, exclusions.

Definitions (seconds throughout):

- **attention check passed**: every item the check's ``expect`` names was answered with
  exactly the expected value (numbers compared as numbers, options as text);
- **straight-lining index**: the share (0..1) of questionnaire screens with at least
  :data:`MIN_STRAIGHTLINE_ITEMS` rating items that were answered with one value throughout
  (attention checks not counted); empty when a participant has no such screen;
- **median response time**: the median over answered screens of the time from the screen
  opening to its committed answer (``rt_s``);
- **too-fast screens**: screens answered in less than ``exclude.too_fast_s`` (default 2 s).

:func:`exclusion_reasons` applies a spec's ``exclude:`` rules to one participant's numbers.
Pure functions; :func:`screens_from_db` is the one place that reads the database.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy import select

from vr_study.storage import StudyDatabase
from vr_study.storage.database import ATTENTION_RESULT_EVENT
from vr_study.storage import schema as s

#: Fewest rating items a screen needs to count for the straight-lining index.
MIN_STRAIGHTLINE_ITEMS = 3
#: Event kind of an attention check's result (logged by the session as it happens).
CHECK_RESULT_EVENT = ATTENTION_RESULT_EVENT


@dataclass(frozen=True)
class Screen:
    """One answered questionnaire screen (current attempt of its trial)."""
    session_id: int
    trial_index: int
    trial_kind: str
    instrument: str
    rt_s: float | None
    answers: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)
    rating_items: tuple[str, ...] = ()  # items that are ratings (from the instrument definitions)


@dataclass(frozen=True)
class Quality:
    """Quality numbers of one participant's session."""
    participant_id: str
    session_id: int
    status: str
    pilot: bool
    screens: int
    checks_passed: int
    checks_failed: int
    straightlining: float | None
    median_rt_s: float | None
    too_fast_screens: int


def check_passed(expect: Mapping[str, Any], answers: Mapping[str, Any]) -> bool:
    """Whether ``answers`` give every expected value (numbers as numbers, text case-insensitive)."""
    for item, want in expect.items():
        got = answers.get(item)
        if isinstance(want, (int, float)) and not isinstance(want, bool):
            try:
                if got is None or isinstance(got, bool) or float(got) != float(want):
                    return False
            except (TypeError, ValueError):
                return False
        elif str(got).strip().lower() != str(want).strip().lower():
            return False
    return True


def check_failures(expect: Mapping[str, Any], answers: Mapping[str, Any]) -> list[str]:
    """``item: expected X, got Y`` for every expected value that was not given."""
    return [f"{k}: expected {v!r}, got {answers.get(k)!r}" for k, v in expect.items()
            if not check_passed({k: v}, answers)]


def is_straight_lined(screen: Screen) -> bool | None:
    """True when all rating answers of the screen are one value (None: too few ratings to say)."""
    vals = [screen.answers[i] for i in screen.rating_items if isinstance(screen.answers.get(i), (int, float))]
    if len(vals) < MIN_STRAIGHTLINE_ITEMS:
        return None
    return len(set(vals)) == 1


def quality(participant_id: str, session_id: int, status: str, pilot: bool, screens: list[Screen],
            too_fast_s: float = 2.0) -> Quality:
    """The quality numbers of one session from its answered screens."""
    checks = [check_passed(sc.expect, sc.answers) for sc in screens if sc.trial_kind == "attention_check"
              and sc.expect]
    lined = [x for x in (is_straight_lined(sc) for sc in screens if sc.trial_kind != "attention_check")
             if x is not None]
    rts = [sc.rt_s for sc in screens if sc.rt_s is not None]
    return Quality(participant_id, session_id, status, pilot, len(screens), sum(checks), len(checks) - sum(checks),
                   round(sum(lined) / len(lined), 4) if lined else None,
                   round(statistics.median(rts), 4) if rts else None, sum(1 for r in rts if r < too_fast_s))


def exclusion_reasons(q: Quality, rules: Any) -> list[str]:
    """Why ``q``'s participant is excluded under ``rules`` (a spec's ``exclude:``); empty if kept."""
    out = []
    if rules is None:
        return out
    if rules.attention_failures is not None and q.checks_failed >= rules.attention_failures:
        out.append(f"failed {q.checks_failed} attention check(s) (rule: exclude at {rules.attention_failures})")
    if rules.min_median_rt_s is not None and q.median_rt_s is not None and q.median_rt_s < rules.min_median_rt_s:
        out.append(f"median response time {q.median_rt_s:g} s < {rules.min_median_rt_s:g} s")
    if rules.max_straightlining is not None and q.straightlining is not None \
            and q.straightlining >= rules.max_straightlining:
        out.append(f"straight-lined {q.straightlining:.0%} of rating screens (rule: exclude at "
                   f"{rules.max_straightlining:.0%})")
    if rules.max_too_fast is not None and q.too_fast_screens >= rules.max_too_fast:
        out.append(f"{q.too_fast_screens} screens answered in < {rules.too_fast_s:g} s (rule: exclude at "
                   f"{rules.max_too_fast})")
    if rules.incomplete and q.status != "finished":
        out.append(f"session {q.status}, not finished")
    return out


def screens_from_db(db: StudyDatabase, rating_items: Mapping[str, set[str]] | None = None
                    ) -> dict[int, list[Screen]]:
    """Answered screens of every session (current attempts only), by session id.

    ``rating_items`` maps instrument id -> ids of its rating items; without it every numeric
    answer counts as a rating.
    """
    with db._read() as c:  # noqa: SLF001 - one consistent snapshot
        trials = {(r.session_id, r.trial_index): r for r in c.execute(select(s.trials))}
        prompts = {r.prompt_id: r for r in c.execute(select(s.prompts))}
        responses = list(c.execute(select(s.responses).order_by(s.responses.c.response_id)))
    by_prompt: dict[int, list[Any]] = {}
    for r in responses:
        t = trials[(r.session_id, r.trial_index)]
        if r.attempt == t.attempt:
            by_prompt.setdefault(r.prompt_id, []).append(r)
    out: dict[int, list[Screen]] = {}
    for pid, rows in sorted(by_prompt.items()):
        p = prompts[pid]
        t = trials[(p.session_id, p.trial_index)]
        ctx = json.loads(p.context)
        answers = {r.item_id: json.loads(r.value_json) for r in rows}
        rts = [r.rt_s for r in rows if r.rt_s is not None]
        if rating_items is not None:
            ratings = tuple(i for i in answers if i in rating_items.get(p.instrument_id, set()))
        else:
            ratings = tuple(i for i, v in answers.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
        expect = ctx.get("expect") if isinstance(ctx.get("expect"), dict) else {}
        out.setdefault(p.session_id, []).append(Screen(p.session_id, p.trial_index, t.trial_kind, p.instrument_id,
                                                       max(rts) if rts else None, answers, expect, ratings))
    return out


def quality_by_session(db: StudyDatabase, too_fast_s: float = 2.0,
                       rating_items: Mapping[str, set[str]] | None = None) -> list[Quality]:
    """:class:`Quality` of every session in the database (superseded ones included)."""
    screens = screens_from_db(db, rating_items)
    pilots = db.pilot_sessions()
    return [quality(x.participant_id, x.session_id, x.status, x.session_id in pilots,
                    screens.get(x.session_id, []), too_fast_s) for x in db.sessions()]


def read_manual_exclusions(path: str) -> dict[str, str]:
    """Manual exclusion decisions: a CSV with columns ``participant_id`` and ``reason`` (or a
    text file with one ``ID reason...`` per line; ``#`` starts a comment). Returns id -> reason."""
    import csv
    from pathlib import Path

    from vr_study.errors import InputError

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        raise InputError(p, None, "is not a readable text file", "give a CSV with participant_id,reason") from None
    out: dict[str, str] = {}
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    if "participant_id" in first:
        for n, row in enumerate(csv.DictReader(text.splitlines()), start=2):
            pid = (row.get("participant_id") or "").strip()
            if not pid:
                raise InputError(p, f"row {n}", "has no participant_id", "give one id per row")
            out[pid] = (row.get("reason") or "").strip() or "excluded by the experimenter"
        return out
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if line:
            pid, _, reason = line.partition(" ")
            out[pid.strip(",")] = reason.strip(" ,") or "excluded by the experimenter"
    return out
