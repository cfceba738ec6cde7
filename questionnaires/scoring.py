"""Checking submitted answers against an instrument, and scoring them.

Pure functions: no I/O. Values are integers for rating items, option strings for choice
items, strings for free text, and ``None`` for an optional item left unanswered.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from questionnaires.instruments import (ChoiceItem, Instrument, LikertItem, SemanticDifferentialItem, TextItem)

Answer = int | str | None


class AnswerError(ValueError):
    """A submission that must not be stored; ``problems`` maps item id to what is wrong."""

    def __init__(self, problems: Mapping[str, str]):
        self.problems = dict(problems)
        text = "; ".join(f"{k}: {v}" for k, v in self.problems.items())
        super().__init__(f"answers rejected ({text})")


def _rating(item: LikertItem | SemanticDifferentialItem, raw: Any) -> tuple[Answer, str | None]:
    if isinstance(raw, bool):
        return None, "must be a whole number"
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        try:
            value = int(text, 10)
        except ValueError:
            return None, f"'{text[:20]}' is not a whole number from {item.min} to {item.max}"
    if not item.min <= value <= item.max:
        return None, f"{value} is outside {item.min}..{item.max}"
    return value, None


def validate_answers(instrument: Instrument, raw: Mapping[str, Any]) -> dict[str, Answer]:
    """Check one screen's raw answers; return clean values for every item.

    ``raw`` maps item id to the submitted value (a form string, an int, or a one-element
    list as form parsers give). Blank strings count as unanswered. Every required item
    must be answered and in range; unknown item ids are refused too. Optional items left
    blank come back as ``None``. Raises :class:`AnswerError` listing every problem.
    """
    problems: dict[str, str] = {}
    clean: dict[str, Answer] = {}
    known = set(instrument.item_ids)
    for key in raw:
        if key not in known:
            problems[str(key)] = f"is not an item of '{instrument.id}'"
    for item in instrument.items:
        value = raw.get(item.id)
        if isinstance(value, (list, tuple)):
            if len(value) > 1:
                problems[item.id] = "was answered more than once"
                continue
            value = value[0] if value else None
        if value is None or (isinstance(value, str) and not value.strip()):
            if item.required:
                problems[item.id] = "is required"
            clean[item.id] = None
            continue
        if isinstance(item, (LikertItem, SemanticDifferentialItem)):
            v, err = _rating(item, value)
        elif isinstance(item, ChoiceItem):
            v, err = (str(value), None) if str(value) in item.options else \
                (None, f"'{str(value)[:30]}' is not one of {list(item.options)}")
        elif isinstance(item, TextItem):
            text = str(value).strip()
            v, err = (text, None) if len(text) <= item.max_length else \
                (None, f"is {len(text)} characters long; at most {item.max_length}")
        else:  # pragma: no cover - the model admits no other item type
            v, err = None, "has an unknown type"
        if err:
            problems[item.id] = err
        else:
            clean[item.id] = v
    if problems:
        raise AnswerError(problems)
    return clean


def keyed_value(item: LikertItem | SemanticDifferentialItem, value: int) -> int:
    """The value used for scoring: ``min + max - value`` for reversed items."""
    return item.min + item.max - value if item.reversed else value


def score(instrument: Instrument, answers: Mapping[str, Answer],
          context: Mapping[str, Any] | None = None) -> dict[str, float | None]:
    """Subscale scores and recognition correctness for one completed screen.

    Returns ``{subscale_id: mean or sum of keyed values}`` (``None`` when any of its items
    is unanswered) and, for every choice item with ``correct_from``, ``{item_id +
    '_correct': 1.0 or 0.0}`` comparing the answer with ``context[correct_from]`` (``None``
    when either is missing).
    """
    out: dict[str, float | None] = {}
    for sub in instrument.subscales:
        values = []
        for item_id in sub.items:
            v = answers.get(item_id)
            if v is None:
                values = None
                break
            values.append(keyed_value(instrument.item(item_id), int(v)))
        if values is None:
            out[sub.id] = None
        else:
            total = float(sum(values))
            out[sub.id] = total / len(values) if sub.method == "mean" else total
    for item in instrument.items:
        if isinstance(item, ChoiceItem) and item.correct_from:
            truth = (context or {}).get(item.correct_from)
            given = answers.get(item.id)
            if truth is None or given is None:
                out[f"{item.id}_correct"] = None
            else:
                out[f"{item.id}_correct"] = 1.0 if str(given).lower() == str(truth).lower() else 0.0
    return out
