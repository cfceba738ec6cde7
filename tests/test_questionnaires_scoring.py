"""Answer checking and scoring: required items, ranges, reversed items, subscales, recognition."""
from __future__ import annotations

import pytest

from questionnaires.instruments import load_instruments, parse_instrument
from questionnaires.scoring import AnswerError, keyed_value, score, validate_answers


@pytest.fixture(scope="module")
def inst():
    return load_instruments()


def _all(instrument, value):
    return {i.id: value for i in instrument.items}


def test_form_strings_become_integers(inst):
    clean = validate_answers(inst["trial_ratings"], {k: ["5"] for k in inst["trial_ratings"].item_ids})
    assert clean == {k: 5 for k in inst["trial_ratings"].item_ids}


def test_every_required_item_must_be_answered(inst):
    answers = _all(inst["trial_ratings"], "4")
    del answers["diversity"]
    answers["enjoyment"] = "  "
    with pytest.raises(AnswerError) as e:
        validate_answers(inst["trial_ratings"], answers)
    assert e.value.problems == {"diversity": "is required", "enjoyment": "is required"}


@pytest.mark.parametrize("bad, why", [("0", "outside 1..7"), ("8", "outside 1..7"), ("3.5", "not a whole number"),
                                      ("abc", "not a whole number"), (["3", "4"], "more than once")])
def test_out_of_range_and_malformed_ratings_are_refused(inst, bad, why):
    answers = _all(inst["trial_ratings"], "4")
    answers["naturalness"] = bad
    with pytest.raises(AnswerError) as e:
        validate_answers(inst["trial_ratings"], answers)
    assert list(e.value.problems) == ["naturalness"] and why in e.value.problems["naturalness"]


def test_unknown_items_are_refused(inst):
    answers = _all(inst["trial_ratings"], "4")
    answers["sneaky"] = "1"
    with pytest.raises(AnswerError, match="sneaky: is not an item of 'trial_ratings'"):
        validate_answers(inst["trial_ratings"], answers)


def test_optional_items_may_be_left_blank(inst):
    clean = validate_answers(inst["face_quality"], {"face_quality": "6", "lip_sync": ""})
    assert clean == {"face_quality": 6, "lip_sync": None}


def test_choice_must_be_one_of_the_options(inst):
    e = inst["emotion_recognition"]
    assert validate_answers(e, {"emotion": "sad"}) == {"emotion": "sad", "confidence": None}
    with pytest.raises(AnswerError, match="'bored' is not one of"):
        validate_answers(e, {"emotion": "bored"})


def test_free_text_length_is_limited():
    inst = parse_instrument("id: t\ntitle: T\nsource: s\nitems:\n  - {id: c, type: text, text: Why, max_length: 5}\n")
    assert validate_answers(inst, {"c": " hello "}) == {"c": "hello"}
    with pytest.raises(AnswerError, match="at most 5"):
        validate_answers(inst, {"c": "hello world"})


def test_reversed_items_are_keyed_min_plus_max_minus_value(inst):
    ipq = inst["ipq"]
    assert keyed_value(ipq.item("sp2"), 1) == 7 and keyed_value(ipq.item("sp2"), 7) == 1
    assert keyed_value(ipq.item("sp1"), 2) == 2
    answers = {i: 6 for i in ipq.item_ids}
    answers.update(sp2=2, inv3=2, real1=2)  # "present" answers on the reverse-keyed items
    s = score(ipq, answers)
    assert s == {"general_presence": 6.0, "spatial_presence": 6.0, "involvement": 6.0, "experienced_realism": 6.0}
    answers.update(sp2=6)                    # now SP2 says "just pictures": spatial presence drops
    assert score(ipq, answers)["spatial_presence"] == pytest.approx((6 * 4 + 2) / 5)


def test_subscale_sum_and_missing_items():
    inst = parse_instrument("""
id: s
title: S
source: s
items:
  - {id: a, type: likert, text: A, min: 0, max: 4}
  - {id: b, type: likert, text: B, min: 0, max: 4, reversed: true}
  - {id: c, type: likert, text: C, min: 0, max: 4, required: false}
subscales:
  - {id: total, items: [a, b], method: sum}
  - {id: with_c, items: [a, c]}
""")
    assert score(inst, {"a": 3, "b": 1, "c": None}) == {"total": 6.0, "with_c": None}
    assert score(inst, {"a": 3, "b": 1, "c": 1}) == {"total": 6.0, "with_c": 2.0}


def test_godspeed_subscale_means(inst):
    g = inst["godspeed"]
    answers = {i: 1 for i in g.item_ids}
    for i in g.subscales[0].items:
        answers[i] = 5
    s = score(g, answers)
    assert s["anthropomorphism"] == 5.0 and s["animacy"] == 1.0 and len(s) == 5


def test_emotion_recognition_correctness_uses_the_trial_emotion(inst):
    e = inst["emotion_recognition"]
    assert score(e, {"emotion": "happy"}, {"emotion": "happy"})["emotion_correct"] == 1.0
    assert score(e, {"emotion": "neutral"}, {"emotion": "happy"})["emotion_correct"] == 0.0
    assert score(e, {"emotion": "neutral"}, {})["emotion_correct"] is None
