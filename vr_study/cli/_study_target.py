"""The study a server or renderer works on: a study spec (.yaml) or its database."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vr_study.errors import InputError


@dataclass(frozen=True)
class StudyTarget:
    """Where a command finds the study's data.

    ``database``: file path or SQLAlchemy URL; ``instruments_dir``: extra instrument
    definitions (None: the built-in ones only); ``participant_pattern``: the spec's
    participant-ID pattern (None when only a database was given: the database's own).
    """

    database: str
    instruments_dir: str | None = None
    participant_pattern: str | None = None


def resolve_study_target(target: str, instruments: str | None = None, option: str | None = None) -> StudyTarget:
    """``target`` (a study .yaml, a database file or a database URL) resolved to its database,
    instruments folder and participant-ID pattern. ``instruments`` (``--instruments``) wins
    over the spec's ``questionnaires.instruments_dir``; ``option`` names the command-line
    option ``target`` came from, for the error line. A missing database file is refused."""
    if target.endswith((".yaml", ".yml")):
        from vr_study.study.spec import load_spec

        spec = load_spec(target)
        q_dir = spec.questionnaires.instruments_dir
        return StudyTarget(spec.database, instruments or (str(spec.resolve(q_dir)) if q_dir else None),
                           spec.study.participant_pattern)
    if "://" not in target and not Path(target).is_file():
        raise InputError(target, option, "does not exist",
                         "give the study .yaml (or its database); the first session creates the database")
    return StudyTarget(target, instruments)
