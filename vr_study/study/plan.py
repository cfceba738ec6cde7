"""A participant's plan: the ordered steps of their session, built from the spec.

Steps are :class:`vr_study.storage.TrialRecord` rows (what the database stores) with
``trial_kind`` one of ``practice``, ``playback``, ``interaction``, ``attention_check``,
``break``, ``questionnaire``. Blocks: 0 = practice, 1..B = main blocks, B+1 = the
end-of-session questionnaires. Pure functions of (spec, participant number, clips).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import numpy as np

from vr_study.errors import InputError
from vr_study.storage import TrialRecord
from vr_study.study import counterbalancing as cb
from vr_study.study.allocation import cell_offsets, utterance_for
from vr_study.study.spec import StudySpec
from vr_study.study.stimuli import Clip


@dataclass(frozen=True)
class ParticipantPlan:
    participant_id: str
    participant_number: int
    plan_row: int
    seed: int
    steps: list[TrialRecord]


def participant_number(participant_id: str) -> int:
    """The number in a pseudonymous id (``P07`` -> 7)."""
    m = re.search(r"(\d+)(?!.*\d)", participant_id)
    if not m:
        raise InputError(None, "participant", f"id {participant_id!r} holds no number",
                         "use ids such as P01..P48 so that they map to counterbalancing rows")
    return int(m.group(1))


def design_size(spec: StudySpec) -> int:
    """Participants in one complete, balanced replication of the spec's design."""
    c = spec.counterbalancing
    if c.block_by is None:
        return cb.n_rows(c.design, len(spec.cells))
    n_outer = len(spec.factors[c.block_by])
    n_inner = len(spec.cells) // n_outer
    return cb.n_rows(c.block_design, n_outer) * cb.n_rows(c.design, n_inner)


def main_order(spec: StudySpec, row: int, seed: int) -> list[list[dict[str, str]]]:
    """Main-trial cells for design row ``row``, grouped into blocks (one repetition)."""
    c = spec.counterbalancing
    cells = spec.cells
    if c.block_by is None:
        order = cb.order_for(c.design, len(cells), row, cb.derived_seed(seed, 0, "order"))
        return [[cells[i] for i in order]]
    levels = spec.factors[c.block_by]
    inner_cells = [{k: v for k, v in cell.items() if k != c.block_by}
                   for cell in cells if cell[c.block_by] == levels[0]]
    n_outer_rows = cb.n_rows(c.block_design, len(levels))
    n_inner_rows = cb.n_rows(c.design, len(inner_cells))
    outer = cb.order_for(c.block_design, len(levels), row % n_outer_rows, cb.derived_seed(seed, 0, "blocks"))
    base = (row // n_outer_rows) % n_inner_rows
    blocks = []
    for b, lv_index in enumerate(outer):
        inner = cb.order_for(c.design, len(inner_cells), base + b, cb.derived_seed(seed, b, "inner"))
        blocks.append([{**inner_cells[i], c.block_by: levels[lv_index]} for i in inner])
    return blocks


def _pick_clip(spec: StudySpec, clips: list[Clip], number: int, rep: int, rng: np.random.Generator) -> Clip:
    sel = spec.stimuli.selection
    if sel == "first" or len(clips) == 1:
        return clips[0]
    if sel == "rotate":
        return clips[(number - 1 + rep) % len(clips)]
    return clips[int(rng.integers(len(clips)))]


def _utt(c: Clip) -> str:
    return c.fields.get("utterance", "")


def main_utterances(spec: StudySpec, library: dict[tuple[str, ...], list[Clip]]) -> list[str]:
    """Utterances of the main trials: those every cell has a clip of, minus the practice ones
    (for interaction trials: the agent turns' ids)."""
    if spec.trials.kind == "interaction" and spec.interaction.turns:
        return [uid for _, uid, _ in spec.interaction.agent_turn_ids()]
    practice = set(spec.trials.practice.utterance_ids)
    sets = [{_utt(c) for c in clips} - practice for clips in library.values()]
    return sorted(set.intersection(*sets)) if sets else []


def _from_seeds(clips: list[Clip], k: int) -> Clip:
    return clips[k % len(clips)]


def build_plan(spec: StudySpec, participant_id: str, library: dict[tuple[str, ...], list[Clip]] | None,
               arrival_index: int | None = None) -> ParticipantPlan:
    """Every step of one participant's session.

    ``library`` maps cells (levels in factor order) to clips (see
    :func:`vr_study.study.stimuli.clips_by_cell`); ``None`` plans without clips (ids empty).
    ``arrival_index`` (0-based) is used instead of the id's number when
    ``counterbalancing.assignment`` is ``by_arrival``.
    """
    number = participant_number(participant_id)
    index = number - 1 if spec.counterbalancing.assignment == "by_number" or arrival_index is None else arrival_index
    size = design_size(spec)
    row = index % size
    seed = cb.derived_seed(spec.study.seed, number, "participant")
    design_seed = seed if spec.counterbalancing.design == "random" or spec.counterbalancing.block_design == "random" \
        else spec.study.seed
    rng = np.random.default_rng(seed)
    names = list(spec.factors)
    q = spec.questionnaires
    flow = spec.trials
    steps: list[TrialRecord] = []

    def add(kind: str, block: int, label: str, pos: int, cell: dict[str, str] | None, questionnaires: list[str],
            clip: Clip | None = None, **extra) -> None:
        cell = cell or {}
        if clip is not None:
            extra.update(clip_path=str(clip.path), audio_path=str(clip.audio) if clip.audio else None,
                         duration_s=clip.duration_s)
        if kind in ("practice", "playback", "interaction") and extra.get("duration_s") is None:
            extra["duration_s"] = flow.default_clip_duration_s
        seed_val = clip.fields.get("seed") if clip else None
        steps.append(TrialRecord(
            trial_index=len(steps), block=block, block_label=label, trial_kind=kind, position_in_block=pos,
            conditions=dict(cell), questionnaires=list(questionnaires), method=cell.get("method"),
            emotion=cell.get("emotion"), clip_id=clip.clip_id if clip else None,
            utterance=clip.fields.get("utterance") if clip else None,
            clip_seed=int(seed_val) if seed_val is not None and str(seed_val).lstrip("-").isdigit() else None,
            extra={k: v for k, v in extra.items() if v is not None}))

    practice_utts = set(flow.practice.utterance_ids)
    per_turn = flow.kind == "interaction" and bool(spec.interaction.turns)
    utts = main_utterances(spec, library) if library is not None else []
    offsets = cell_offsets(tuple(len(v) for v in spec.factors.values()), len(utts)) if utts else ()
    cell_pos = {tuple(c[f] for f in names): j for j, c in enumerate(spec.cells)}

    def clip_for(cell: dict[str, str], rep: int) -> tuple[Clip | None, dict]:
        """The main-trial clip of ``cell`` (and, for interaction trials, one clip per agent turn)."""
        if library is None:
            return None, {}
        key = tuple(cell[f] for f in names)
        pool = [c for c in library[key] if _utt(c) not in practice_utts]
        if per_turn:
            turns = []
            for i, uid, _turn in spec.interaction.agent_turn_ids():
                found = [c for c in pool if _utt(c) == uid]
                if not found:
                    raise InputError(spec.source, "interaction.turns", f"no clip of utterance '{uid}' for "
                                     + ", ".join(f"{f}={v}" for f, v in cell.items()),
                                     "generate it: vr-study generate batch STUDY.yaml --methods ...")
                c = _from_seeds(found, index + rep)
                turns.append({"turn": i, "utterance": uid, "clip_id": c.clip_id, "clip_path": str(c.path),
                              "audio_path": str(c.audio) if c.audio else None, "duration_s": c.duration_s})
            first = next(c for c in pool if c.clip_id == turns[0]["clip_id"])
            return first, {"turns": turns}
        if spec.stimuli.selection == "balanced" and utts:
            u = utts[utterance_for(offsets, cell_pos[key], index, rep, len(utts))]
            return _from_seeds([c for c in pool if _utt(c) == u], index // len(utts) + rep), {}
        return _pick_clip(spec, pool, number, rep, rng), {}

    def practice_clip(cell: dict[str, str], i: int) -> Clip | None:
        if library is None:
            return None
        key = tuple(cell[f] for f in names)
        pool = [c for c in library[key] if _utt(c) in practice_utts] or sorted(
            (c for clips in library.values() for c in clips if _utt(c) in practice_utts), key=lambda c: c.clip_id)
        if not pool:
            raise InputError(spec.source, "trials.practice.utterances",
                             "no clip of a practice utterance: the practice would reuse a main-trial stimulus",
                             "list utterances reserved for practice (and generate their clips)")
        return pool[(index + i) % len(pool)]

    # practice: dedicated stimuli (trials.practice.utterances) that no main trial plays
    pr = flow.practice
    for i in range(pr.trials):
        cell = pr.cells[i % len(pr.cells)] if pr.cells else spec.cells[int(rng.integers(len(spec.cells)))]
        full = {f: cell.get(f, spec.factors[f][0]) for f in names}
        clip = practice_clip(full, i)
        if clip is not None:  # the practice clip's own levels (it may come from another cell)
            full = {f: clip.fields.get(spec.stimuli.match.get(f, f), full[f]) for f in names}
        add("practice", 0, "practice", i, full, pr.questionnaires or q.after_trial, clip, mode=flow.kind)
    # main blocks
    block_no = 0
    main_count = 0
    attention = sorted(flow.attention_checks.after_trials)
    for rep in range(flow.repetitions):
        blocks = main_order(spec, row + rep, design_seed)
        for cells in blocks:
            block_no += 1
            if block_no > 1 and flow.breaks.between_blocks:
                add("break", block_no, "break", 0, None, [], duration_s=flow.breaks.duration_s)
            label = (f"{spec.counterbalancing.block_by}={cells[0][spec.counterbalancing.block_by]}"
                     if spec.counterbalancing.block_by else f"repetition {rep + 1}")
            pos = 0
            for cell in cells:
                clip, more = clip_for(cell, rep)
                add(flow.kind, block_no, label, pos, cell, q.after_trial, clip, **more)
                pos += 1
                main_count += 1
                if main_count in attention:
                    ac = flow.attention_checks
                    add("attention_check", block_no, label, pos, None, [ac.instrument],
                        instruction=ac.instruction, expect=ac.expect)
                    pos += 1
                every = flow.breaks.every_trials
                if every and main_count % every == 0 and pos < len(cells):
                    add("break", block_no, label, pos, None, [], duration_s=flow.breaks.duration_s)
                    pos += 1
            if q.after_block:
                add("questionnaire", block_no, label, pos, {k: v for k, v in cells[0].items()
                                                            if k == spec.counterbalancing.block_by},
                    q.after_block, when="after_block")
    if q.after_session:
        add("questionnaire", block_no + 1, "post", 0, None, q.after_session, when="after_session")
    return ParticipantPlan(participant_id, number, row, seed, steps)


PLAN_COLUMNS = ["participant_id", "plan_row", "seed", "trial_index", "block", "block_label", "trial_kind",
                "position_in_block", "conditions", "method", "emotion", "clip_id", "utterance", "questionnaires"]


def plans_csv(spec: StudySpec, plans: list[ParticipantPlan]) -> str:
    """All plans as CSV text (one row per step; factor columns after the fixed ones)."""
    factors = [f for f in spec.factors if f not in ("method", "emotion")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(PLAN_COLUMNS + factors)
    for p in plans:
        for t in p.steps:
            w.writerow([p.participant_id, p.plan_row, p.seed, t.trial_index, t.block, t.block_label, t.trial_kind,
                        t.position_in_block, ";".join(f"{k}={v}" for k, v in t.conditions.items()),
                        t.method or "", t.emotion or "", t.clip_id or "", t.utterance or "",
                        ";".join(t.questionnaires)] + [t.conditions.get(f, "") for f in factors])
    return buf.getvalue()
