"""Questionnaire instruments defined as data: YAML files validated into typed models.

An instrument is one screen on the tablet: a title, instructions and a list of items.
Item types:

- ``likert``: an integer rating from ``min`` to ``max`` (7-point 1..7 by default) with
  anchor labels for the two ends (``anchors: [low, high]``) and optional labels for any
  point (``labels: {4: "Neutral"}``).
- ``semantic_differential``: an integer rating between two opposite adjectives
  (``left``/``right``), e.g. Godspeed's "Fake - Natural" on 1..5.
- ``choice``: forced choice among ``options`` (e.g. emotion recognition); with
  ``correct_from: emotion`` the correct option is read from the prompt's context.
- ``text``: free text (``max_length`` characters).

Every item is required unless it says ``required: false``. ``randomize_items: true``
shuffles the items per prompt, reproducibly (:meth:`Instrument.presentation_order`). Rating items may be
``reversed: true``; scoring then uses ``min + max - value``. ``subscales`` group rating
items and say how they are scored (``mean`` or ``sum``).

Errors in a file are raised as :class:`vr_study.errors.InputError` naming the file, the
line and the field.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vr_study.errors import InputError
from vr_study.yaml_lines import YamlProblem, line_for, load_checked, text_line_map

#: Where the shipped instruments live (``assets/instruments/*.yaml``).
DEFAULT_INSTRUMENTS_DIR = Path(__file__).resolve().parent.parent / "assets" / "instruments"

#: Default options of the forced-choice emotion recognition item.
DEFAULT_EMOTIONS = ("happy", "neutral", "sad", "angry", "surprised", "afraid", "disgusted")

_ID_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RatingItem(_Strict):
    """Common fields of integer rating items (Likert and semantic differential)."""

    id: str = Field(pattern=_ID_PATTERN)
    text: str = ""
    required: bool = True
    reversed: bool = False
    min: int = 1
    max: int = 7
    labels: dict[int, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_range(self):
        if self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be greater than min ({self.min})")
        if self.max - self.min > 20:
            raise ValueError(f"range {self.min}..{self.max} has more than 21 points; use at most 21")
        bad = sorted(k for k in self.labels if not self.min <= k <= self.max)
        if bad:
            raise ValueError(f"labels for {bad} lie outside {self.min}..{self.max}")
        return self

    @property
    def points(self) -> list[int]:
        """The allowed values, lowest first."""
        return list(range(self.min, self.max + 1))

    def label_for(self, value: int) -> str:
        """The label shown under ``value`` (empty when none)."""
        return self.labels.get(value, "")


class LikertItem(_RatingItem):
    """A statement or question rated from ``min`` to ``max``; ``anchors`` label the ends."""

    type: Literal["likert"] = "likert"
    text: str = Field(min_length=1)
    anchors: tuple[str, str] | None = None

    def label_for(self, value: int) -> str:
        if value in self.labels:
            return self.labels[value]
        if self.anchors is not None:
            if value == self.min:
                return self.anchors[0]
            if value == self.max:
                return self.anchors[1]
        return ""


class SemanticDifferentialItem(_RatingItem):
    """A rating between two opposite adjectives: ``left`` at ``min``, ``right`` at ``max``."""

    type: Literal["semantic_differential"] = "semantic_differential"
    left: str = Field(min_length=1)
    right: str = Field(min_length=1)
    #: Self-Assessment Manikin pictures above the points (``questionnaires.manikin``; 9 points:
    #: figures at the odd ones, as in Bradley & Lang 1994).
    manikin: Literal["valence", "arousal", "dominance"] | None = None


class ChoiceItem(_Strict):
    """Forced choice of exactly one option; ``correct_from`` names a prompt-context key."""

    type: Literal["choice"] = "choice"
    id: str = Field(pattern=_ID_PATTERN)
    text: str = Field(min_length=1)
    options: tuple[str, ...] = DEFAULT_EMOTIONS
    option_labels: dict[str, str] = Field(default_factory=dict)
    correct_from: str | None = None
    required: bool = True

    @field_validator("options")
    @classmethod
    def _options(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) < 2:
            raise ValueError("needs at least 2 options")
        if len(set(v)) != len(v):
            dup = sorted({o for o in v if v.count(o) > 1})
            raise ValueError(f"duplicate options {dup}")
        if any(not o.strip() for o in v):
            raise ValueError("options must not be empty")
        return v

    @model_validator(mode="after")
    def _labels_known(self):
        bad = sorted(set(self.option_labels) - set(self.options))
        if bad:
            raise ValueError(f"option_labels for unknown options {bad}")
        return self

    def label_for(self, option: str) -> str:
        """What the button shows for ``option``."""
        return self.option_labels.get(option, option.capitalize())


class TextItem(_Strict):
    """Free text, at most ``max_length`` characters."""

    type: Literal["text"] = "text"
    id: str = Field(pattern=_ID_PATTERN)
    text: str = Field(min_length=1)
    required: bool = True
    max_length: int = Field(default=2000, ge=1, le=100_000)
    rows: int = Field(default=4, ge=1, le=20)


Item = Annotated[Union[LikertItem, SemanticDifferentialItem, ChoiceItem, TextItem], Field(discriminator="type")]
RatingItem = Union[LikertItem, SemanticDifferentialItem]


class Subscale(_Strict):
    """Items scored together: ``mean`` or ``sum`` of (reverse-keyed) values."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str = ""
    items: tuple[str, ...] = Field(min_length=1)
    method: Literal["mean", "sum"] = "mean"


class Instrument(_Strict):
    """One questionnaire screen: items, subscales, and where its wording comes from."""

    id: str = Field(pattern=_ID_PATTERN)
    title: str = Field(min_length=1)
    instructions: str = ""
    source: str = Field(min_length=1, description="citation of the original instrument")
    wording_note: str = ""
    license_note: str = ""
    items: tuple[Item, ...] = Field(min_length=1)
    subscales: tuple[Subscale, ...] = ()
    submit_label: str = "Submit"
    randomize_items: bool = False

    @model_validator(mode="after")
    def _cross_checks(self):
        ids = [it.id for it in self.items]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate item ids {dup}")
        rating = {it.id for it in self.items if isinstance(it, (LikertItem, SemanticDifferentialItem))}
        sub_ids = [s.id for s in self.subscales]
        dup = sorted({i for i in sub_ids if sub_ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate subscale ids {dup}")
        for s in self.subscales:
            unknown = [i for i in s.items if i not in ids]
            if unknown:
                raise ValueError(f"subscale '{s.id}' lists unknown items {unknown}")
            not_rating = [i for i in s.items if i not in rating]
            if not_rating:
                raise ValueError(f"subscale '{s.id}' lists items {not_rating} that are not rating items")
        return self

    def item(self, item_id: str) -> Any:
        """The item with this id (KeyError if none)."""
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    @property
    def item_ids(self) -> list[str]:
        return [it.id for it in self.items]

    def expected_problems(self, expect: dict[str, Any]) -> list[tuple[str, str]]:
        """``(item id, problem)`` for every expected answer (an attention check's ``expect``)
        that no participant could give: an unknown item, a rating outside the item's scale or
        not a whole number, an option the choice item does not offer, or a text item."""
        out: list[tuple[str, str]] = []
        for item_id, value in expect.items():
            try:
                it = self.item(str(item_id))
            except KeyError:
                out.append((str(item_id), f"is not an item of instrument '{self.id}'; its items: "
                                          f"{', '.join(self.item_ids)}"))
                continue
            if isinstance(it, ChoiceItem):
                if str(value) not in it.options:
                    out.append((it.id, f"expects {value!r}, which is not an option of '{it.id}'; "
                                       f"options: {', '.join(it.options)}"))
            elif isinstance(it, TextItem):
                out.append((it.id, "is a free-text item; an attention check needs a rating or choice item"))
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value) \
                    or not it.min <= int(value) <= it.max:
                out.append((it.id, f"expects {value!r}, but '{it.id}' is rated {it.min}..{it.max} in whole "
                                   "numbers"))
        return out

    def presentation_order(self, seed: int | str) -> list[Any]:
        """Items in the order a page shows them: as written, or (``randomize_items``) shuffled
        reproducibly from ``seed`` (the tablet uses the prompt id), so the order any
        participant saw can be recomputed at analysis time."""
        items = list(self.items)
        if self.randomize_items:
            random.Random(f"{self.id}:{seed}").shuffle(items)
        return items


# ---------------------------------------------------------------- loading with line numbers

def _data_path(data: Any, loc: tuple) -> tuple:
    """Keep the parts of a pydantic error location that index into ``data``."""
    path: list = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
            path.append(part)
        elif isinstance(cur, dict) and isinstance(part, int) and str(part) in cur:
            cur = cur[str(part)]
            path.append(part)
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
            path.append(part)
        elif isinstance(cur, dict) and cur.get("type") == part:
            continue  # the discriminator tag pydantic inserts for a tagged union
        elif isinstance(part, str) and isinstance(cur, dict) and part.isidentifier():
            path.append(part)  # a missing field: name it, no deeper line
            break
    return tuple(path)


def _field_name(data: Any, path: tuple) -> str:
    """A readable field name: ``items[3] (id 'sp2').max``."""
    out = ""
    cur = data
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            if isinstance(cur, list) and part < len(cur) and isinstance(cur[part], dict) and "id" in cur[part]:
                out += f" (id '{cur[part]['id']}')"
        else:
            out += ("." if out else "") + str(part)
        if isinstance(cur, (dict, list)):
            try:
                cur = cur[part]
            except (KeyError, IndexError, TypeError):
                cur = None
    return out or "(document)"


def _locate_cross_check(data: dict, msg: str) -> tuple:
    """Point a whole-instrument problem (subscales, duplicate ids) at the offending entry."""
    m = re.search(r"subscale '([a-z0-9_]+)'", msg)
    if m:
        for i, s in enumerate(data.get("subscales") or []):
            if isinstance(s, dict) and s.get("id") == m.group(1):
                return ("subscales", i, "items")
    m = re.search(r"duplicate (item|subscale) ids \['([a-z0-9_]+)'", msg)
    if m:
        key = "items" if m.group(1) == "item" else "subscales"
        seen = [i for i, x in enumerate(data.get(key) or []) if isinstance(x, dict) and x.get("id") == m.group(2)]
        if len(seen) > 1:
            return (key, seen[1], "id")
    return ()


def parse_instrument(text: str, source: str | Path = "<instrument>") -> Instrument:
    """Validate YAML ``text`` into an :class:`Instrument`; errors name file:line and field."""
    source = str(source)
    try:
        data, _root = load_checked(text)
    except YamlProblem as exc:
        raise InputError(f"{source}:{exc.line}", None, exc.message, "fix the file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(where, None, f"is not valid YAML ({problem})", "fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise InputError(source, None, "does not hold a mapping", "an instrument file starts with 'id:', 'title:', 'items:'")
    try:
        return Instrument.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")  # typos first
        err = errors[0]
        lines = text_line_map(text)
        path = _data_path(data, tuple(err["loc"]))
        if not path:
            path = _locate_cross_check(data, err["msg"])
        line = line_for(lines, path)
        where = f"{source}:{line}" if line else source
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err["type"] == "extra_forbidden":
            msg = "is not a known field"
            fix = "remove it or check its spelling (see docs/questionnaires.md)"
        elif err["type"] == "missing":
            msg = "is missing"
            fix = "add it"
        elif err["type"] == "union_tag_invalid":
            fix = "use one of: likert, semantic_differential, choice, text"
        else:
            fix = "see docs/questionnaires.md for the instrument format"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise InputError(where, _field_name(data, path), f"{msg}{more}", fix) from None


def load_instrument(path: str | Path) -> Instrument:
    """Read and validate one instrument YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, None, "does not exist", "give the path of an instrument .yaml file") from None
    except UnicodeDecodeError:
        raise InputError(path, None, "is not UTF-8 text", "save it as UTF-8") from None
    inst = parse_instrument(text, path)
    if inst.id != path.stem:
        lines = text_line_map(text)
        raise InputError(f"{path}:{lines.get(('id',), 1)}", "id",
                         f"is '{inst.id}' but the file is named '{path.name}'",
                         f"rename the file to '{inst.id}.yaml' or set id: {path.stem}")
    return inst


def load_instruments(directory: str | Path | None = None) -> dict[str, Instrument]:
    """All ``*.yaml`` instruments in ``directory`` (default: the shipped ones), by id."""
    directory = Path(directory) if directory is not None else DEFAULT_INSTRUMENTS_DIR
    if not directory.is_dir():
        raise InputError(directory, None, "is not a directory", "give the folder holding instrument .yaml files")
    out: dict[str, Instrument] = {}
    for path in sorted(directory.glob("*.y*ml")):
        inst = load_instrument(path)
        out[inst.id] = inst
    if not out:
        raise InputError(directory, None, "holds no instrument .yaml files", "add at least one instrument")
    return out
