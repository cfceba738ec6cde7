"""Instrument files: the shipped ones load with the right structure; bad files fail clearly."""
from __future__ import annotations

import pytest

from questionnaires.instruments import (ChoiceItem, LikertItem, SemanticDifferentialItem, load_instrument,
                                        load_instruments, parse_instrument)
from vr_study.errors import InputError


@pytest.fixture(scope="module")
def shipped():
    return load_instruments()


def test_all_shipped_instruments_load_and_cite_a_source(shipped):
    assert set(shipped) >= {"trial_ratings", "face_quality", "emotion_recognition", "sam", "godspeed", "ipq",
                            "ho_macdorman"}
    for inst in shipped.values():
        assert inst.source.strip(), inst.id
        assert inst.wording_note.strip(), f"{inst.id} must say where its wording comes from"


def test_trial_ratings_are_the_five_seven_point_measures(shipped):
    inst = shipped["trial_ratings"]
    assert inst.item_ids == ["arousal_realism", "naturalness", "enjoyment", "diversity", "interaction_quality"]
    assert all(isinstance(i, LikertItem) and (i.min, i.max) == (1, 7) and i.required for i in inst.items)
    assert "not publish" in inst.wording_note


def test_godspeed_has_24_five_point_pairs_in_five_subscales(shipped):
    inst = shipped["godspeed"]
    assert len(inst.items) == 24
    assert all(isinstance(i, SemanticDifferentialItem) and (i.min, i.max) == (1, 5) for i in inst.items)
    sizes = {s.id: len(s.items) for s in inst.subscales}
    assert sizes == {"anthropomorphism": 5, "animacy": 6, "likeability": 5, "perceived_intelligence": 5,
                     "perceived_safety": 3}
    first = inst.item("anth_fake_natural")
    assert (first.left, first.right) == ("Fake", "Natural")
    assert (inst.item("safe_quiescent_surprised").left, inst.item("safe_quiescent_surprised").right) == \
        ("Quiescent", "Surprised")


def test_ipq_has_14_items_and_exactly_sp2_inv3_real1_reversed(shipped):
    inst = shipped["ipq"]
    assert inst.item_ids == ["g1", "sp1", "sp2", "sp3", "sp4", "sp5", "inv1", "inv2", "inv3", "inv4",
                             "real1", "real2", "real3", "real4"]
    assert {i.id for i in inst.items if i.reversed} == {"sp2", "inv3", "real1"}
    assert all((i.min, i.max) == (1, 7) for i in inst.items)
    assert {s.id: len(s.items) for s in inst.subscales} == {"general_presence": 1, "spatial_presence": 5,
                                                           "involvement": 4, "experienced_realism": 4}


def test_sam_is_nine_point_text_anchored(shipped):
    inst = shipped["sam"]
    assert inst.item_ids == ["valence", "arousal", "dominance"]
    assert all((i.min, i.max) == (1, 9) for i in inst.items)
    assert "manikin" in inst.wording_note.lower()


def test_ho_macdorman_indices(shipped):
    sizes = {s.id: len(s.items) for s in shipped["ho_macdorman"].subscales}
    assert sizes["humanness"] == 6 and sizes["eeriness"] == 8 and sizes["warmth"] == 5
    assert sizes["attractiveness"] == 5


def test_emotion_recognition_takes_the_answer_from_the_context(shipped):
    item = shipped["emotion_recognition"].item("emotion")
    assert isinstance(item, ChoiceItem) and item.correct_from == "emotion"
    assert {"happy", "neutral", "sad", "angry", "surprised"} <= set(item.options)


GOOD = """\
id: mini
title: Mini
source: test
items:
  - id: a
    type: likert
    text: Question A
  - id: b
    type: semantic_differential
    left: Cold
    right: Warm
    min: 1
    max: 5
subscales:
  - {id: both, items: [a, b]}
"""


def _error(text: str, name: str = "mini.yaml") -> str:
    with pytest.raises(InputError) as e:
        parse_instrument(text, name)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_minimal_instrument_parses():
    inst = parse_instrument(GOOD, "mini.yaml")
    assert inst.item("a").max == 7 and inst.item("b").max == 5


def test_error_names_file_line_and_field_for_a_bad_range():
    msg = _error(GOOD.replace("max: 5", "max: 1"))
    assert msg.startswith("mini.yaml:9:") or msg.startswith("mini.yaml:8:"), msg
    assert "items[1] (id 'b')" in msg and "greater than min" in msg


def test_error_for_an_unknown_field_names_its_line():
    msg = _error(GOOD.replace("    text: Question A", "    txet: Question A"))
    assert msg.startswith("mini.yaml:7:"), msg
    assert "txet" in msg and "not a known field" in msg


def test_error_for_an_unknown_item_type():
    msg = _error(GOOD.replace("type: likert", "type: slider"))
    assert msg.startswith("mini.yaml:5:") and "items[0]" in msg and "likert, semantic_differential" in msg, msg


def test_error_for_a_subscale_listing_an_unknown_item():
    msg = _error(GOOD.replace("items: [a, b]", "items: [a, c]"))
    assert msg.startswith("mini.yaml:15: field 'subscales[0] (id 'both').items'") and "unknown items ['c']" in msg, msg


def test_error_for_duplicate_item_ids():
    assert "duplicate item ids ['a']" in _error(GOOD.replace("  - id: b", "  - id: a"))


def test_error_for_reversed_choice_item():
    bad = GOOD + "  \n"
    bad = bad.replace("  - id: b\n    type: semantic_differential\n    left: Cold\n    right: Warm\n    min: 1\n    max: 5\n",
                      "  - id: b\n    type: choice\n    text: Which?\n    reversed: true\n")
    bad = bad.replace("items: [a, b]", "items: [a]")
    msg = _error(bad)
    assert "reversed" in msg and "not a known field" in msg, msg


def test_error_for_yaml_syntax_gives_the_line():
    msg = _error(GOOD.replace("    left: Cold", "    left: [Cold"))
    assert msg.startswith("mini.yaml:") and "not valid YAML" in msg, msg


def test_error_for_missing_source():
    msg = _error(GOOD.replace("source: test\n", ""))
    assert "field 'source' is missing" in msg, msg


def test_file_name_must_match_id(tmp_path):
    p = tmp_path / "other.yaml"
    p.write_text(GOOD)
    with pytest.raises(InputError, match=r"other.yaml:1: field 'id' is 'mini'"):
        load_instrument(p)
    with pytest.raises(InputError, match="does not exist"):
        load_instrument(tmp_path / "nope.yaml")


def test_randomized_item_order_is_reproducible_per_prompt():
    inst = parse_instrument(GOOD.replace("source: test\n", "source: test\nrandomize_items: true\n")
                            .replace("subscales:", "  - {id: c, type: likert, text: C}\n  - {id: d, type: likert, "
                                     "text: D}\nsubscales:"))
    orders = {tuple(i.id for i in inst.presentation_order(seed)) for seed in range(20)}
    assert len(orders) > 5 and all(sorted(o) == ["a", "b", "c", "d"] for o in orders)
    assert inst.presentation_order(7) == inst.presentation_order(7)
    fixed = parse_instrument(GOOD)
    assert [i.id for i in fixed.presentation_order(7)] == ["a", "b"]
