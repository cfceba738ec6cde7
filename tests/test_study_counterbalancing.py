"""Counterbalancing designs: balance properties, not just shapes."""
from __future__ import annotations

from collections import Counter

import pytest

from vr_study.study import counterbalancing as cb
from vr_study.study.plan import build_plan, design_size, main_order
from vr_study.study.spec import parse_spec

BASE = """\
study: {{id: cb, participants: 48}}
factors:
  method: [emage, talkshow, amuse, reconstruction]
  emotion: [happy, neutral]
counterbalancing: {{design: {design}, block_by: {block_by}}}
trials: {{kind: playback}}
questionnaires: {{after_trial: [trial_ratings], after_session: []}}
"""


def _spec(design="williams", block_by="null"):
    return parse_spec(BASE.format(design=design, block_by=block_by))


@pytest.mark.parametrize("n", range(2, 11))
def test_williams_each_condition_once_per_position_and_pairs_equally_often(n):
    rows = cb.williams(n)
    assert len(rows) == (n if n % 2 == 0 else 2 * n)
    assert all(sorted(r) == list(range(n)) for r in rows)
    pos = cb.position_counts(rows)
    assert (pos == len(rows) // n).all()
    carry = cb.carryover_counts(rows)
    want = 1 if n % 2 == 0 else 2
    for a in range(n):
        for b in range(n):
            assert carry[a, b] == (0 if a == b else want), (a, b)


def test_cyclic_latin_square_is_not_carryover_balanced():
    rows = cb.latin(4)
    assert cb.is_position_balanced(rows)
    assert not cb.is_carryover_balanced(rows)  # 0->1 follows in every row


def test_full_permutations_and_seeded_random_orders():
    rows = cb.permutations(4)
    assert len({tuple(r) for r in rows}) == 24
    assert cb.is_position_balanced(rows) and cb.is_carryover_balanced(rows)
    a = cb.random_order(8, cb.derived_seed(1, 7))
    assert a == cb.random_order(8, cb.derived_seed(1, 7))
    assert sorted(a) == list(range(8))
    others = {tuple(cb.random_order(8, cb.derived_seed(1, k))) for k in range(20)}
    assert len(others) > 15
    with pytest.raises(ValueError):
        cb.permutations(9)


def _main_sequences(spec, n):
    seqs = []
    for i in range(1, n + 1):
        plan = build_plan(spec, f"P{i:02d}", None)
        seqs.append([(t.method, t.emotion) for t in plan.steps if t.trial_kind == "playback"])
    return seqs


def test_48_participants_complete_and_balanced_over_the_8_cells():
    spec = _spec()
    assert design_size(spec) == 8 and 48 % design_size(spec) == 0
    seqs = _main_sequences(spec, 48)
    cells = sorted(set(seqs[0]))
    assert len(cells) == 8
    for pos in range(8):
        assert Counter(s[pos] for s in seqs) == {c: 6 for c in cells}
    pairs = cb.pair_counts(seqs)
    assert set(pairs.values()) == {6} and len(pairs) == 8 * 7
    # participant numbers map to rows cyclically: P01 and P09 share an order, P01 and P02 do not
    assert seqs[0] == seqs[8] and seqs[0] != seqs[1]


def test_blocked_design_keeps_emotion_blocks_and_balances_methods_within():
    spec = _spec(block_by="emotion")
    assert design_size(spec) == 2 * 4
    seqs = _main_sequences(spec, 48)
    first_blocks = Counter()
    for s in seqs:
        assert len({e for _, e in s[:4]}) == 1 and len({e for _, e in s[4:]}) == 1
        assert s[0][1] != s[4][1]
        first_blocks[s[0][1]] += 1
    assert first_blocks == {"happy": 24, "neutral": 24}
    for block in (slice(0, 4), slice(4, 8)):
        methods = [[m for m, _ in s[block]] for s in seqs]
        for pos in range(4):
            assert Counter(m[pos] for m in methods) == {m: 12 for m in ("emage", "talkshow", "amuse",
                                                                        "reconstruction")}
        assert set(cb.pair_counts(methods).values()) == {12}


def test_odd_number_of_conditions_uses_the_two_square_design():
    spec = parse_spec(BASE.format(design="williams", block_by="null").replace(
        "method: [emage, talkshow, amuse, reconstruction]", "method: [emage, talkshow, amuse]").replace(
        "emotion: [happy, neutral]", "emotion: [happy]"))
    assert design_size(spec) == 6
    seqs = _main_sequences(spec, 12)
    pairs = cb.pair_counts([[m for m, _ in s] for s in seqs])
    assert len(pairs) == 6 and set(pairs.values()) == {4}


def test_random_design_is_seeded_per_participant():
    spec = _spec(design="random")
    a = _main_sequences(spec, 10)
    assert a == _main_sequences(spec, 10)
    assert len({tuple(s) for s in a}) > 5
    assert all(sorted(s) == sorted(a[0]) for s in a)


def test_main_order_rows_cover_all_cells():
    spec = _spec()
    for row in range(8):
        (block,) = main_order(spec, row, 0)
        assert sorted(tuple(c.values()) for c in block) == sorted(
            (m, e) for m in spec.factors["method"] for e in spec.factors["emotion"])
