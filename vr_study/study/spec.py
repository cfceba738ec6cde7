"""The study spec: one YAML file validated into typed models.

Errors name the file, the line and the field, one per line, e.g.
``study.yaml:14: factors.method[2]: unknown method 'EMAG'; known: EMAGE, TalkSHOW, ...``.
See docs/study.md for the format. Times are seconds, distances metres, rates Hz.
"""
from __future__ import annotations

import difflib
import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from vr_study.errors import InputError
from vr_study.yaml_lines import YamlProblem, line_for, line_map, load_checked

#: Motion sources a ``method`` factor may name (the generators' names, case-insensitive; a lab's
#: own generator is allowed after listing it in ``study.extra_methods``).
KNOWN_METHODS = ("emage", "talkshow", "amuse", "reconstruction", "prosody", "ground_truth")
#: Instrument ids shipped in assets/instruments (a study may add its own folder).
KNOWN_INSTRUMENTS = ("trial_ratings", "emotion_recognition", "face_quality", "sam", "godspeed", "ipq",
                     "ho_macdorman")
_ID = r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$"
#: The prompt-context key that says where a prompt is answered (``tablet`` or ``headset``; absent
#: means tablet): the session runner sets it from ``questionnaires.mode``/``headset``/``tablet``.
ANSWER_CHANNEL_KEY = "answer_in"


class SpecError(InputError):
    """One or more problems in a study spec; each names ``file:line: field``."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more; run 'vr-study study validate')" if len(problems) > 1 else ""
        super().__init__(None, None, problems[0] + more)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StudyInfo(_Strict):
    id: str = Field(pattern=_ID)
    title: str = ""
    reference: str = ""
    participants: int = Field(default=48, ge=1, le=100000, description="planned number of participants")
    participant_pattern: str = Field(default=r"P\d{1,4}",
                                     description="regular expression every pseudonymous id must match")
    seed: int = Field(default=2025, ge=0)
    extra_methods: list[str] = Field(default_factory=list, description="method names beyond the built-in ones")

    @field_validator("participant_pattern")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"is not a regular expression ({e})") from None
        return v


class StimulusSpec(_Strict):
    """Where clips come from and how a cell (one level per factor) maps to clips."""
    library: str = Field(default="stimuli", description="folder with manifest.json, relative to the spec")
    match: dict[str, str] = Field(default_factory=dict,
                                  description="factor -> manifest field; default: same name")
    selection: Literal["balanced", "rotate", "random", "first"] = Field(
        default="balanced", description="balanced: a Latin square of utterances over the cells, rotated by "
                                        "participant (see vr_study.study.allocation); rotate/random/first: "
                                        "a clip of the cell by participant number, seeded draw, or the first")
    require_audio: bool = False


class CounterbalancingSpec(_Strict):
    design: Literal["williams", "latin", "permutations", "random", "fixed"] = "williams"
    block_by: str | None = Field(default=None, description="factor whose levels form blocks")
    block_design: Literal["williams", "latin", "permutations", "random", "fixed"] = "williams"
    assignment: Literal["by_number", "by_arrival"] = "by_number"


class PracticeSpec(_Strict):
    trials: int = Field(default=0, ge=0, le=20)
    cells: list[dict[str, str]] = Field(default_factory=list, description="levels for each practice trial")
    questionnaires: list[str] = Field(default_factory=list)
    utterances: list[str] = Field(default_factory=list,
                                  description="utterance ids reserved for practice: never used in main trials")
    agent: str | None = Field(default=None, description="text of a practice utterance 'practice' (spoken by TTS; "
                                                        "'generate batch STUDY.yaml' makes its clips)")

    @property
    def utterance_ids(self) -> list[str]:
        """The practice utterances: ``utterances``, or ``['practice']`` when only ``agent`` text is given."""
        return list(self.utterances) or (["practice"] if self.agent else [])


class AttentionCheckSpec(_Strict):
    after_trials: list[int] = Field(default_factory=list, description="1-based main-trial positions")
    instrument: str = "trial_ratings"
    instruction: str = "Attention check: please answer 7 to the first question on the next screen."
    expect: dict[str, Any] = Field(default_factory=dict, description="item -> expected value")


class BreakSpec(_Strict):
    between_blocks: bool = True
    every_trials: int = Field(default=0, ge=0, description="also after every N main trials (0 = never)")
    duration_s: float = Field(default=30.0, ge=0, le=3600)


class TrialFlowSpec(_Strict):
    kind: Literal["playback", "interaction"] = "interaction"
    repetitions: int = Field(default=1, ge=1, le=20)
    practice: PracticeSpec = Field(default_factory=PracticeSpec)
    attention_checks: AttentionCheckSpec = Field(default_factory=AttentionCheckSpec)
    breaks: BreakSpec = Field(default_factory=BreakSpec)
    default_clip_duration_s: float = Field(default=8.0, gt=0, le=600)


class QuestionnaireSpec(_Strict):
    instruments_dir: str | None = Field(default=None, description="extra instrument folder, relative to the spec")
    after_trial: list[str] = Field(default_factory=lambda: ["trial_ratings", "emotion_recognition", "face_quality"])
    after_block: list[str] = Field(default_factory=list)
    after_session: list[str] = Field(default_factory=lambda: ["godspeed", "ipq", "ho_macdorman"])
    timeout_s: float = Field(default=900.0, gt=0, description="how long to wait for one screen")
    mode: Literal["tablet", "headset"] = Field(
        default="tablet", description="where screens are answered: on the tablet, or on a panel in the headset")
    headset: list[str] = Field(default_factory=list,
                               description="instruments answered in the headset although mode is tablet")
    tablet: list[str] = Field(default_factory=list,
                              description="instruments answered on the tablet although mode is headset")

    @model_validator(mode="after")
    def _channels(self):
        for name, ids, other in (("headset", self.headset, "tablet"), ("tablet", self.tablet, "headset")):
            dup = sorted({x for x in ids if ids.count(x) > 1})
            if dup:
                raise ValueError(_Located(("questionnaires", name), f"lists {dup[0]!r} twice"))
            if ids and self.mode == name:
                raise ValueError(_Located(("questionnaires", name),
                                          f"lists instruments for the {name} while mode is already {name}; "
                                          f"remove the list or set mode: {other}"))
        both = [x for x in self.headset if x in self.tablet]
        if both:
            raise ValueError(_Located(("questionnaires", "tablet"),
                                      f"lists {both[0]!r}, which questionnaires.headset lists too; keep it in one"))
        return self

    def channel(self, instrument_id: str) -> str:
        """Where ``instrument_id`` is answered: ``"tablet"`` or ``"headset"``."""
        if instrument_id in self.headset:
            return "headset"
        if instrument_id in self.tablet:
            return "tablet"
        return self.mode


class TtsSpec(_Strict):
    backend: Literal["espeak-ng", "none"] = "espeak-ng"
    voice: str = "en-us"
    rate_wpm: int = Field(default=165, ge=80, le=450)
    pitch: int = Field(default=50, ge=0, le=99)


class AgentTurn(_Strict):
    id: str | None = Field(default=None, pattern=_ID,
                           description="utterance id of this turn's speech in the stimulus library "
                                       "(default turn1, turn2, ... by agent-turn order)")
    agent: str | None = Field(default=None, description="text the agent says (spoken by TTS)")
    wav: str | None = Field(default=None, description="pre-recorded speech, relative to the spec")

    @model_validator(mode="after")
    def _one(self):
        if not self.agent and not self.wav:
            raise ValueError("an agent turn needs 'agent' text or a 'wav'")
        return self


class ParticipantTurn(_Strict):
    participant: Literal["vad", "key", "timed"] = "vad"
    max_s: float = Field(default=20.0, gt=0, le=600)
    silence_s: float = Field(default=1.0, gt=0, le=10, description="silence that ends a spoken turn")
    threshold_db: float = Field(default=-40.0, le=0, description="energy VAD threshold, dBFS")


class InteractionSpec(_Strict):
    tts: TtsSpec = Field(default_factory=TtsSpec)
    turns: list[AgentTurn | ParticipantTurn] = Field(default_factory=list)

    def agent_turn_ids(self, turns: list | None = None, prefix: str = "turn") -> list[tuple[int, str, "AgentTurn"]]:
        """``(index in turns, utterance id, turn)`` of every agent turn (ids default to turn1, turn2, ...)."""
        out = []
        for i, t in enumerate(self.turns if turns is None else turns):
            if isinstance(t, AgentTurn):
                out.append((i, t.id or f"{prefix}{len(out) + 1}", t))
        return out


class SceneSpec(_Strict):
    environment: str = "neutral_room"
    agent_position_m: tuple[float, float, float] = (0.0, 0.0, -1.5)
    agent_yaw_rad: float = 0.0
    eye_height_m: float = 1.6
    lighting: Literal["studio", "daylight", "dim"] = "studio"
    audio_gain_db: float = Field(default=0.0, ge=-60, le=20)


class ExclusionSpec(_Strict):
    """Pre-registered rules that exclude a participant's data from export and analysis."""
    attention_failures: int | None = Field(default=None, ge=1,
                                           description="exclude at this many failed attention checks")
    min_median_rt_s: float | None = Field(default=None, gt=0,
                                          description="exclude when the median screen time is below this, seconds")
    max_straightlining: float | None = Field(default=None, gt=0, le=1,
                                             description="exclude when this share (0..1] of multi-item rating "
                                                         "screens or more were answered with one value throughout")
    too_fast_s: float = Field(default=2.0, gt=0, description="a screen answered faster than this counts as too fast")
    max_too_fast: int | None = Field(default=None, ge=1, description="exclude at this many too-fast screens")
    incomplete: bool = Field(default=False, description="exclude participants whose session did not finish")


class AnalysisPlanSpec(_Strict):
    """For the pre-registration: what will be analysed and how."""
    dependent_variables: list[str] = Field(default_factory=list, description="e.g. trial_ratings.naturalness")
    tests: str = Field(default="", description="planned tests in words, e.g. 'ART ANOVA method x emotion'")
    alpha: float = Field(default=0.05, gt=0, lt=1)
    power: float = Field(default=0.8, gt=0, lt=1)
    effect_size: str = Field(default="", description="smallest effect of interest, e.g. 'f = 0.25'")
    n_justification: str = Field(default="", description="why N participants (e.g. the output of "
                                                          "'vr-study analyze power')")


class StorageSpec(_Strict):
    database: str = Field(default="data/study.sqlite",
                          description="SQLite file (relative to the spec) or an SQLAlchemy URL")


class StudySpec(_Strict):
    study: StudyInfo
    factors: dict[str, list[str]] = Field(default_factory=lambda: {
        "method": ["emage", "talkshow", "amuse", "reconstruction"], "emotion": ["happy", "neutral"]})
    stimuli: StimulusSpec = Field(default_factory=StimulusSpec)
    counterbalancing: CounterbalancingSpec = Field(default_factory=CounterbalancingSpec)
    trials: TrialFlowSpec = Field(default_factory=TrialFlowSpec)
    questionnaires: QuestionnaireSpec = Field(default_factory=QuestionnaireSpec)
    interaction: InteractionSpec = Field(default_factory=InteractionSpec)
    scene: SceneSpec = Field(default_factory=SceneSpec)
    storage: StorageSpec = Field(default_factory=StorageSpec)
    exclude: ExclusionSpec = Field(default_factory=ExclusionSpec)
    analysis: AnalysisPlanSpec = Field(default_factory=AnalysisPlanSpec)

    # set by load_spec (not part of the YAML)
    source: str = Field(default="<spec>", exclude=True)
    base_dir: str = Field(default=".", exclude=True)
    sha256: str = Field(default="", exclude=True)
    _lines: dict = PrivateAttr(default_factory=dict)

    @field_validator("factors")
    @classmethod
    def _factors(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        if not v:
            raise ValueError("needs at least one factor")
        for name, levels in v.items():
            if not re.match(_ID, name):
                raise ValueError(f"factor name {name!r} is not an identifier")
            if not levels:
                raise ValueError(f"factor {name!r} has no levels")
            dup = sorted({x for x in levels if levels.count(x) > 1})
            if dup:
                raise ValueError(f"factor {name!r} repeats levels {dup}")
        return v

    @model_validator(mode="after")
    def _cross(self):
        cb = self.counterbalancing
        if cb.block_by is not None and cb.block_by not in self.factors:
            raise ValueError(_Located(("counterbalancing", "block_by"),
                                      f"unknown factor {cb.block_by!r}; known: {', '.join(self.factors)}"))
        for key in self.stimuli.match:
            if key not in self.factors:
                raise ValueError(_Located(("stimuli", "match", key),
                                          f"unknown factor {key!r}; known: {', '.join(self.factors)}"))
        for i, cell in enumerate(self.trials.practice.cells):
            for f, lv in cell.items():
                if f not in self.factors:
                    raise ValueError(_Located(("trials", "practice", "cells", i, f),
                                              f"unknown factor {f!r}; known: {', '.join(self.factors)}"))
                if lv not in self.factors[f]:
                    raise ValueError(_Located(("trials", "practice", "cells", i, f),
                                              _unknown(f"level of {f}", lv, self.factors[f])))
        return self

    # -- derived ---------------------------------------------------------------------------
    @property
    def cells(self) -> list[dict[str, str]]:
        """All cells of the full-factorial design, first factor slowest."""
        out: list[dict[str, str]] = [{}]
        for name, levels in self.factors.items():
            out = [dict(c, **{name: lv}) for c in out for lv in levels]
        return out

    def resolve(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else Path(self.base_dir) / p

    @property
    def database(self) -> str:
        """The database URL or absolute SQLite path."""
        db = self.storage.database
        return db if "://" in db else str(self.resolve(db))

    @property
    def library_dir(self) -> Path:
        return self.resolve(self.stimuli.library)

    def instrument_ids(self) -> list[str]:
        q = self.questionnaires
        ids = list(q.after_trial) + list(q.after_block) + list(q.after_session) + list(self.trials.practice.questionnaires)
        if self.trials.attention_checks.after_trials:
            ids.append(self.trials.attention_checks.instrument)
        return list(dict.fromkeys(ids))


class _Located(str):
    """A validator message that carries the path of the field it is about."""

    def __new__(cls, loc: tuple, msg: str):
        obj = str.__new__(cls, msg)
        obj.loc = loc
        return obj


def _unknown(what: str, value: str, known: list[str] | tuple[str, ...]) -> str:
    lower = {str(k).lower(): k for k in known}
    near = difflib.get_close_matches(str(value).lower(), list(lower), n=1)
    hint = f" (did you mean {lower[near[0]]!r}?)" if near else ""
    return f"unknown {what} {value!r}{hint}; known: {', '.join(known)}"


# -- loading with line numbers -----------------------------------------------------------------
def _field(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out or "(document)"


def _clean_loc(loc: tuple, data: Any) -> tuple:
    """Drop pydantic's union-branch names (``AgentTurn``) from an error location."""
    out, cur = [], data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
        elif isinstance(part, str) and not part[:1].isupper() and not part.startswith("function-"):
            out.append(part)
            cur = None
    return tuple(out)


def parse_spec(text: str, source: str = "study.yaml", base_dir: str | Path = ".") -> StudySpec:
    """Validate spec ``text``; raises :class:`SpecError` listing every problem with file:line."""
    try:
        data, root = load_checked(text)
    except YamlProblem as e:
        raise SpecError([f"{source}:{e.line}: {e.message}"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise SpecError([f"{where}: not valid YAML ({getattr(e, 'problem', None) or e}); fix the syntax"]) from None
    if not isinstance(data, dict):
        raise SpecError([f"{source}:1: a study spec is a mapping with 'study:', 'factors:', ... "
                         "(run 'vr-study study init' for an example)"])
    lines = line_map(root)
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        seen = set()
        for err in exc.errors():
            loc = _clean_loc(tuple(err["loc"]), data)
            ctx_err = (err.get("ctx") or {}).get("error")
            if isinstance(ctx_err, ValueError) and ctx_err.args and isinstance(ctx_err.args[0], _Located):
                loc = ctx_err.args[0].loc
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                parent = _parent_model(loc[:-1])
                known = list(parent.model_fields) if parent else []
                known = [k for k in known if k not in ("source", "base_dir", "sha256")]
                msg = _unknown("field", loc[-1], known) if known else "is not a known field"
            elif err["type"] == "missing":
                msg = "is missing; add it"
            key = (loc, msg)
            if key in seen:
                continue
            seen.add(key)
            line = line_for(lines, loc)
            problems.append(f"{source}:{line or 1}: {_field(loc)}: {msg}")
        raise SpecError(problems) from None
    spec.source = source
    spec.base_dir = str(base_dir)
    spec.sha256 = hashlib.sha256(text.encode()).hexdigest()
    problems = [f"{source}:{line_for(lines, loc) or 1}: {_field(loc)}: {msg}" for loc, msg in _semantic_checks(spec)]
    if problems:
        raise SpecError(problems)
    spec._lines = lines  # kept for later library checks
    return spec


def _parent_model(loc: tuple) -> type[BaseModel] | None:
    model: Any = StudySpec
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        ann = model.model_fields[part].annotation
        model = ann
        args = getattr(ann, "__args__", ())
        for a in args:
            if isinstance(a, type) and issubclass(a, BaseModel):
                model = a
                break
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _semantic_checks(spec: StudySpec) -> list[tuple[tuple, str]]:
    out: list[tuple[tuple, str]] = []
    if "method" in spec.factors:
        known = list(KNOWN_METHODS) + [m.lower() for m in spec.study.extra_methods]
        for i, m in enumerate(spec.factors["method"]):
            if m.lower() not in known:
                out.append((("factors", "method", i),
                            _unknown("method", m, known) + " (or list it in study.extra_methods)"))
    known_inst = set(KNOWN_INSTRUMENTS)
    if spec.questionnaires.instruments_dir:
        d = spec.resolve(spec.questionnaires.instruments_dir)
        if not d.is_dir():
            out.append((("questionnaires", "instruments_dir"), f"folder {d} does not exist; create it or remove the line"))
        else:
            known_inst |= {p.stem for p in d.glob("*.y*ml")}
    q = spec.questionnaires
    for when, ids in (("after_trial", q.after_trial), ("after_block", q.after_block),
                      ("after_session", q.after_session)):
        for i, inst in enumerate(ids):
            if inst not in known_inst:
                out.append((("questionnaires", when, i), _unknown("instrument", inst, sorted(known_inst))))
    used = set(spec.instrument_ids())
    for when, ids in (("headset", q.headset), ("tablet", q.tablet)):
        for i, inst in enumerate(ids):
            if inst not in known_inst:
                out.append((("questionnaires", when, i), _unknown("instrument", inst, sorted(known_inst))))
            elif inst not in used:
                out.append((("questionnaires", when, i), f"instrument {inst!r} is not asked in this study; "
                            f"it asks: {', '.join(sorted(used))}"))
    for i, inst in enumerate(spec.trials.practice.questionnaires):
        if inst not in known_inst:
            out.append((("trials", "practice", "questionnaires", i), _unknown("instrument", inst, sorted(known_inst))))
    ac = spec.trials.attention_checks
    if ac.after_trials and ac.instrument not in known_inst:
        out.append((("trials", "attention_checks", "instrument"), _unknown("instrument", ac.instrument, sorted(known_inst))))
    n_main = len(spec.cells) * spec.trials.repetitions
    for i, pos in enumerate(ac.after_trials):
        if not 1 <= pos <= n_main:
            out.append((("trials", "attention_checks", "after_trials", i),
                        f"position {pos} is outside 1..{n_main} (the number of main trials)"))
    if spec.trials.kind == "interaction" and not spec.interaction.turns:
        out.append((("interaction", "turns"), "interaction trials need at least one turn; add "
                    "'- agent: ...' and '- participant: vad', or set trials.kind: playback"))
    for i, t in enumerate(spec.interaction.turns):
        if isinstance(t, AgentTurn) and t.wav and not spec.resolve(t.wav).is_file():
            out.append((("interaction", "turns", i, "wav"), f"file {spec.resolve(t.wav)} does not exist"))
    return out


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study spec file (paths inside are relative to its folder)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, None, "does not exist", "give a study .yaml file (vr-study study init writes one)") from None
    except (UnicodeDecodeError, IsADirectoryError):
        raise InputError(path, None, "is not a UTF-8 text file", "give a study .yaml file") from None
    return parse_spec(text, str(path), path.parent)


def spec_line(spec: StudySpec, loc: tuple) -> int:
    """The line of ``loc`` in the spec file (1 when unknown)."""
    return line_for(getattr(spec, "_lines", {}), loc) or 1
