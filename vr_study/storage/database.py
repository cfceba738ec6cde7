"""The study database: participants, sessions, trials, prompts, responses and events.

Every process of a lab session (orchestrator, tablet server, experimenter page) opens the
same database; they talk through it. A plain path means an SQLite file in WAL mode with
``synchronous=FULL`` (a committed answer survives a pulled plug) and a busy timeout; any
SQLAlchemy URL (``postgresql+psycopg://...``) is used as given. Each call is its own
transaction, committed before it returns; :meth:`StudyDatabase.submit_prompts_batch` stores
several screens in one transaction (one flush), each in its own savepoint (see
:mod:`vr_study.storage.group_commit`).
"""
from __future__ import annotations

import json
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from sqlalchemy import create_engine, event, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from vr_study.errors import InputError
from vr_study.storage import schema as s

#: Default pattern for pseudonymous participant ids (``P1``, ``P07``, ``P048``).
DEFAULT_PARTICIPANT_PATTERN = r"P\d{1,4}"
#: Alphabet of tablet join codes: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
#: 31**9 codes: 44.6 bits (the tablet pages show them as ABC-DEF-GHJ and limit guesses).
CODE_LENGTH = 9
SQLITE_BUSY_TIMEOUT_MS = 15000
#: What the experimenter (keyboard, experimenter page) can ask a running session to do.
CONTROL_COMMANDS = ("pause", "resume", "repeat", "skip", "abort", "redo", "turn")
#: Event kind of an attention check's pass/fail (payload: passed, failures, expect, prompt_id).
ATTENTION_RESULT_EVENT = "attention_check_result"
#: Event kind of experimenter commands (the experimenter page writes the same kind).
CONTROL_EVENT = "experimenter_command"


class StorageError(Exception):
    """Base class of the database's refusals."""


class DuplicateSubmission(StorageError):
    """A submission id that was already stored (a replayed or double-tapped submit)."""


class PromptClosed(StorageError):
    """The prompt was already answered or cancelled."""


class UnknownPrompt(StorageError):
    """No prompt with that id."""


class InvalidAnswer(StorageError, ValueError):
    """Answers that cannot be stored: empty, non-scalar, non-finite, bad item id."""


class DuplicateParticipant(InputError):
    """A fresh session was asked for a participant who already has one."""

    def __init__(self, participant_id: str, session_id: int):
        super().__init__(None, "participant", f"{participant_id} already has session {session_id} in this study "
                         "(ids are compared by number: P4 = P04 = P004)",
                         "continue it with --resume, redo trials with --redo N, start over with --restart, "
                         "or use a new participant id")
        self.participant_id = participant_id
        self.session_id = session_id


def _id_number(participant_id: str) -> int | None:
    m = re.fullmatch(r"\D*?(\d+)", participant_id or "")
    return int(m.group(1)) if m else None


def canonical_participant_id(participant_id: str, pattern: str = DEFAULT_PARTICIPANT_PATTERN) -> str:
    """The one spelling of a participant id: letters, then the number zero-padded to 2 digits.

    ``P4``, ``P04``, ``P004`` and ``p004`` are all ``P04``; ``P123`` stays ``P123`` (the number picks the
    counterbalancing row, so ids with one number are one participant). When the padded form
    does not fit the study's ``pattern`` (e.g. ``P\\d{3}``), the first of: the number padded
    to 3 digits, unpadded, the letters as typed, the id as typed, that matches is used.
    An id that holds no trailing number is returned unchanged.
    """
    m = re.fullmatch(r"(\D*?)(\d+)", participant_id.strip())
    if not m:
        return participant_id
    prefix, number = m.group(1), int(m.group(2))
    candidates = [f"{prefix.upper()}{number:02d}", f"{prefix}{number:02d}", f"{prefix.upper()}{number:03d}",
                  f"{prefix}{number:03d}", f"{prefix.upper()}{number}", f"{prefix}{number}", participant_id]
    for cand in candidates:
        if re.fullmatch(pattern, cand):
            return cand
    return participant_id


def utc_now() -> str:
    """Wall-clock UTC time as ISO-8601 with microseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Prompt:
    """A questionnaire screen the orchestrator asked a tablet to show."""
    prompt_id: int
    session_id: int
    trial_index: int
    instrument_id: str
    context: dict[str, Any]
    opened_at: str
    status: str = "open"
    attempt: int = 0
    opened_mono_ns: int = 0


@dataclass(frozen=True)
class SessionInfo:
    session_id: int
    participant_id: str
    study_id: str
    code: str
    plan_row: int
    seed: int
    status: str
    started_at: str
    ended_at: str | None


@dataclass
class TrialRecord:
    """One step of a participant's plan as stored (see :mod:`vr_study.study.plan`)."""
    trial_index: int
    block: int
    trial_kind: str
    position_in_block: int
    conditions: dict[str, str] = field(default_factory=dict)
    questionnaires: list[str] = field(default_factory=list)
    block_label: str = ""
    method: str | None = None
    emotion: str | None = None
    clip_id: str | None = None
    utterance: str | None = None
    clip_seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    status: str = "pending"
    attempt: int = 0
    started_at: str | None = None
    completed_at: str | None = None


@dataclass(frozen=True)
class Response:
    response_id: int
    prompt_id: int
    session_id: int
    trial_index: int
    attempt: int
    instrument_id: str
    item_id: str
    value: Any
    submission_id: str
    client: str
    answered_at: str
    answered_mono_ns: int
    rt_s: float | None


@dataclass(frozen=True)
class Submission:
    """One questionnaire screen as a tablet sent it, ready to store.

    ``answers``: item id -> JSON scalar (already validated against the instrument) or None;
    ``submission_id``: the id rendered into the form (a replay carries the same one);
    ``client``: who sent it (address and user agent, cut to 128 characters).
    """
    prompt_id: int
    answers: Mapping[str, Any]
    submission_id: str
    client: str


@dataclass(frozen=True)
class Event:
    event_id: int
    session_id: int | None
    trial_index: int | None
    kind: str
    payload: dict[str, Any]
    wall_at: str
    mono_ns: int
    lsl_time_s: float | None


def _engine(url: str, shown: str) -> Engine:
    """An engine for ``url`` that is known to connect; bad URLs and unreachable servers are InputErrors."""
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    shown_safe = re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", shown)  # never print a password
    try:
        engine = create_engine(url, future=True)
    except (ArgumentError, NoSuchModuleError, ValueError) as e:
        raise InputError(shown_safe, None, f"is not a database URL this vr-study can use ({type(e).__name__})",
                         "give a file path, sqlite:///PATH or postgresql+psycopg://USER@HOST/DB") from None
    except ImportError as e:
        raise InputError(shown_safe, None, f"needs the database driver '{e.name}'", "install it with pip") from None
    try:
        with engine.connect():
            pass
    except DBAPIError as e:
        engine.dispose()
        reason = " ".join(str(e.orig).split())[:200] if e.orig is not None else type(e).__name__
        raise InputError(shown_safe, None, f"cannot be opened ({reason})",
                         "check the path or URL, that the database server runs, and your access to it") from None
    engine.dispose()  # the probe's pooled connection predates the SQLite pragmas set on connect
    return engine


def _is_url(url_or_path: str) -> bool:
    return "://" in url_or_path


class StudyDatabase:
    """One study's database (SQLite file by default, any SQLAlchemy URL otherwise).

    ``participant_pattern`` (a regular expression matched in full) is fixed when the database
    is created and stored in it, so every process validates ids the same way.
    """

    def __init__(self, url_or_path: str | Path, *, participant_pattern: str | None = None):
        url_or_path = str(url_or_path)
        if _is_url(url_or_path):
            self.url = url_or_path
            self.path: Path | None = None
        else:
            self.path = Path(url_or_path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _create_private(self.path)
            self.url = f"sqlite:///{self.path.resolve()}"
        self.engine: Engine = _engine(self.url, url_or_path)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        with self._write() as c:
            s.metadata.create_all(c)
            if self.is_sqlite:
                for ddl in s.SQLITE_APPEND_ONLY_TRIGGERS:
                    c.exec_driver_sql(ddl)
            have = dict(c.execute(select(s.meta.c.key, s.meta.c.value)).all())
            if "schema_version" not in have:
                c.execute(insert(s.meta), [
                    {"key": "schema_version", "value": s.SCHEMA_VERSION},
                    {"key": "participant_pattern", "value": participant_pattern or DEFAULT_PARTICIPANT_PATTERN},
                    {"key": "created_at", "value": utc_now()}])
                have["participant_pattern"] = participant_pattern or DEFAULT_PARTICIPANT_PATTERN
            elif have["schema_version"] != s.SCHEMA_VERSION:
                raise InputError(url_or_path, "schema_version", f"is {have['schema_version']}",
                                 f"this vr-study reads version {s.SCHEMA_VERSION}")
        self.participant_pattern = have["participant_pattern"]

    # -- plumbing -------------------------------------------------------------------------
    def _write(self):
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite: no lock upgrades, no deadlock).

        On SQLite, writers of this process queue on a lock first: threads wake as soon as the
        previous commit is done instead of sleeping in SQLite's busy-handler back-off (which
        made the p99 of concurrent tablet submissions several times the commit time).
        """
        return _Tx(self.engine, immediate=True, lock=self._write_lock)

    def _read(self):
        return _Tx(self.engine, immediate=False)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "StudyDatabase":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def integrity_check(self) -> list[str]:
        """SQLite's ``PRAGMA integrity_check`` plus foreign keys; ``["ok"]`` when sound."""
        if not self.is_sqlite:
            return ["ok"]
        with self._read() as c:
            rows = [r[0] for r in c.exec_driver_sql("PRAGMA integrity_check").all()]
            fk = c.exec_driver_sql("PRAGMA foreign_key_check").all()
        return rows + [f"foreign key: {tuple(r)}" for r in fk]

    # -- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._read() as c:
            return c.execute(select(s.meta.c.value).where(s.meta.c.key == key)).scalar_one_or_none()

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as c:
            if c.execute(select(s.meta.c.key).where(s.meta.c.key == key)).first():
                c.execute(update(s.meta).where(s.meta.c.key == key).values(value=value))
            else:
                c.execute(insert(s.meta).values(key=key, value=value))

    def claim_meta(self, key: str, value: str) -> str:
        """Set ``key`` to ``value`` unless it holds a non-empty value; return what it holds after.

        One write transaction, so of two processes claiming at once exactly one wins.
        """
        with self._write() as c:
            held = c.execute(select(s.meta.c.value).where(s.meta.c.key == key)).scalar_one_or_none()
            if held:
                return held
            if held is None:
                c.execute(insert(s.meta).values(key=key, value=value))
            else:
                c.execute(update(s.meta).where(s.meta.c.key == key).values(value=value))
            return value

    # -- participants and sessions -------------------------------------------------------
    def check_participant_id(self, participant_id: str) -> str:
        """The canonical form of the id (:func:`canonical_participant_id`: ``P4``, ``P04`` and
        ``p004`` are all ``P004``) if it matches the study's pseudonym pattern, else InputError."""
        canonical = canonical_participant_id(participant_id, self.participant_pattern) \
            if isinstance(participant_id, str) else participant_id
        if not isinstance(canonical, str) or not re.fullmatch(self.participant_pattern, canonical):
            raise InputError(None, "participant", f"id {participant_id!r} does not match the pattern "
                             f"{self.participant_pattern!r}",
                             "use a pseudonymous code such as P07, never a name")
        return canonical

    def create_session(self, participant_id: str, study_id: str, trials: Sequence[TrialRecord], *,
                       plan_row: int, seed: int, supersede: bool = False, pilot: bool = False) -> int:
        """Register the participant (if new) and a session with its planned trials.

        The id is stored in its canonical form. Raises :class:`DuplicateParticipant` when a
        participant with the same number already has a session (``P04`` after ``P004``), unless
        ``supersede``: then the earlier sessions are marked ``superseded`` (kept, left out of the
        export) and a new one starts. ``pilot`` marks a pilot session (left out of the export
        unless asked for).
        """
        participant_id = self.check_participant_id(participant_id)
        number = _id_number(participant_id)
        now = utc_now()
        with self._write() as c:
            prior = [r for r in c.execute(select(s.sessions.c.session_id, s.sessions.c.participant_id,
                                                 s.sessions.c.status).order_by(s.sessions.c.session_id))
                     if r.participant_id == participant_id
                     or (number is not None and _id_number(r.participant_id) == number)]
            if prior and not supersede:
                raise DuplicateParticipant(prior[0].participant_id, prior[0].session_id)
            for r in prior:
                if r.status != "superseded":
                    c.execute(update(s.sessions).where(s.sessions.c.session_id == r.session_id)
                              .values(status="superseded"))
                    _event(c, r.session_id, None, "session_superseded", {"participant_id": participant_id})
            if prior:
                participant_id = prior[0].participant_id
            if not c.execute(select(s.participants.c.participant_id).where(
                    s.participants.c.participant_id == participant_id)).first():
                c.execute(insert(s.participants).values(participant_id=participant_id, created_at=now))
            taken = set(c.execute(select(s.sessions.c.code)).scalars())
            code = _new_code(taken)
            sid = c.execute(insert(s.sessions).values(
                participant_id=participant_id, study_id=study_id, code=code, plan_row=plan_row,
                seed=int(seed), status="created", started_at=now)).inserted_primary_key[0]
            if trials:
                c.execute(insert(s.trials), [_trial_row(sid, t) for t in trials])
            _event(c, sid, None, "session_created", {"participant_id": participant_id, "plan_row": plan_row,
                                                     "seed": int(seed), "n_trials": len(trials),
                                                     "superseded": [r.session_id for r in prior]})
            if pilot:
                c.execute(insert(s.meta).values(key=f"pilot:{int(sid)}", value="1"))
                _event(c, sid, None, "pilot_session", {})
        return int(sid)

    def attention_results(self, session_id: int) -> dict[tuple[int, int], bool]:
        """Pass/fail of every scored attention check of a session: ``(trial_index, prompt_id) -> passed``
        (from the ``attention_check_result`` events the session logs as each check is answered)."""
        return {(e.trial_index, int(e.payload.get("prompt_id", -1))): bool(e.payload.get("passed"))
                for e in self.events(session_id, kind=ATTENTION_RESULT_EVENT)}

    def pilot_sessions(self) -> set[int]:
        """Ids of sessions run with ``--pilot``."""
        with self._read() as c:
            keys = c.execute(select(s.meta.c.key).where(s.meta.c.key.like("pilot:%"))).scalars().all()
        return {int(k.split(":", 1)[1]) for k in keys}

    def sessions_for(self, participant_id: str) -> list[SessionInfo]:
        """Sessions of this participant: the same id, or (ids normalised by number) the same number."""
        canonical = canonical_participant_id(participant_id, self.participant_pattern)
        number = _id_number(canonical)
        with self._read() as c:
            rows = c.execute(select(s.sessions).order_by(s.sessions.c.session_id)).mappings().all()
        return [SessionInfo(**r) for r in rows if r["participant_id"] in (participant_id, canonical)
                or (number is not None and _id_number(r["participant_id"]) == number)]

    def sessions(self) -> list[SessionInfo]:
        with self._read() as c:
            rows = c.execute(select(s.sessions).order_by(s.sessions.c.session_id)).mappings().all()
        return [SessionInfo(**r) for r in rows]

    def session(self, session_id: int) -> SessionInfo:
        with self._read() as c:
            r = c.execute(select(s.sessions).where(s.sessions.c.session_id == session_id)).mappings().first()
        if r is None:
            raise KeyError(f"no session {session_id}")
        return SessionInfo(**r)

    def session_code(self, session_id: int) -> str:
        """The short code a tablet types to join this session."""
        return self.session(session_id).code

    def session_by_code(self, code: str) -> SessionInfo | None:
        """The session a join code belongs to (case-insensitive), or None."""
        code = (code or "").strip().upper()
        with self._read() as c:
            r = c.execute(select(s.sessions).where(s.sessions.c.code == code)).mappings().first()
        return SessionInfo(**r) if r else None

    def new_session_code(self, session_id: int) -> str:
        """Give the session a fresh join code (the old one stops working); return it."""
        with self._write() as c:
            taken = set(c.execute(select(s.sessions.c.code)).scalars())
            code = _new_code(taken)
            if c.execute(update(s.sessions).where(s.sessions.c.session_id == session_id)
                         .values(code=code)).rowcount != 1:
                raise KeyError(session_id)
        return code

    def set_session_status(self, session_id: int, status: str) -> None:
        values: dict[str, Any] = {"status": status}
        if status in ("finished", "aborted"):
            values["ended_at"] = utc_now()
        with self._write() as c:
            c.execute(update(s.sessions).where(s.sessions.c.session_id == session_id).values(**values))
            _event(c, session_id, None, f"session_{status}", {})

    # -- trials ---------------------------------------------------------------------------
    def trials(self, session_id: int) -> list[TrialRecord]:
        with self._read() as c:
            rows = c.execute(select(s.trials).where(s.trials.c.session_id == session_id)
                             .order_by(s.trials.c.trial_index)).mappings().all()
        return [_trial_from_row(r) for r in rows]

    def trial(self, session_id: int, trial_index: int) -> TrialRecord:
        with self._read() as c:
            r = c.execute(select(s.trials).where(s.trials.c.session_id == session_id,
                                                 s.trials.c.trial_index == trial_index)).mappings().first()
        if r is None:
            raise KeyError(f"no trial {trial_index} in session {session_id}")
        return _trial_from_row(r)

    def set_trial_status(self, session_id: int, trial_index: int, status: str) -> None:
        """Move a trial to ``running``, ``done`` or ``skipped`` (timestamps set here)."""
        values: dict[str, Any] = {"status": status}
        if status == "running":
            values["started_at"] = utc_now()
        elif status in ("done", "skipped"):
            values["completed_at"] = utc_now()
        with self._write() as c:
            c.execute(update(s.trials).where(s.trials.c.session_id == session_id,
                                             s.trials.c.trial_index == trial_index).values(**values))

    def redo_trial(self, session_id: int, trial_index: int, reason: str = "experimenter") -> int:
        """Ask a trial again: its attempt counter goes up; earlier answers stay stored.

        Returns the new attempt number. Open prompts of the old attempt are cancelled.
        """
        with self._write() as c:
            row = c.execute(select(s.trials.c.attempt).where(s.trials.c.session_id == session_id,
                                                             s.trials.c.trial_index == trial_index)).first()
            if row is None:
                raise InputError(None, "redo", f"trial {trial_index} is not in session {session_id}",
                                 "give a trial index from the participant's plan")
            attempt = row[0] + 1
            c.execute(update(s.trials).where(s.trials.c.session_id == session_id,
                                             s.trials.c.trial_index == trial_index)
                      .values(attempt=attempt, status="pending", completed_at=None))
            c.execute(update(s.prompts).where(s.prompts.c.session_id == session_id,
                                              s.prompts.c.trial_index == trial_index,
                                              s.prompts.c.status == "open")
                      .values(status="cancelled", closed_at=utc_now()))
            _event(c, session_id, trial_index, "trial_redo", {"attempt": attempt, "reason": reason})
        return attempt

    # -- prompts and responses -----------------------------------------------------------
    def open_prompt(self, session_id: int, trial_index: int, instrument_id: str,
                    context: Mapping[str, Any] | None = None) -> int:
        """Open a questionnaire screen for a step; returns its prompt id.

        Idempotent: if this step's current attempt already has an open or answered prompt for
        the instrument, that prompt's id is returned (a restarted orchestrator reuses it).
        """
        ctx = json.dumps(dict(context or {}), sort_keys=True, default=str)
        with self._write() as c:
            row = c.execute(select(s.trials.c.attempt).where(s.trials.c.session_id == session_id,
                                                             s.trials.c.trial_index == trial_index)).first()
            if row is None:
                raise KeyError(f"no trial {trial_index} in session {session_id}")
            attempt = row[0]
            existing = c.execute(select(s.prompts.c.prompt_id).where(
                s.prompts.c.session_id == session_id, s.prompts.c.trial_index == trial_index,
                s.prompts.c.attempt == attempt, s.prompts.c.instrument_id == instrument_id,
                s.prompts.c.status.in_(("open", "answered")))).first()
            if existing is not None:
                return int(existing[0])
            pid = c.execute(insert(s.prompts).values(
                session_id=session_id, trial_index=trial_index, attempt=attempt, instrument_id=instrument_id,
                context=ctx, status="open", opened_at=utc_now(), opened_mono_ns=time.monotonic_ns())
            ).inserted_primary_key[0]
            _event(c, session_id, trial_index, "prompt_opened", {"prompt_id": int(pid), "instrument": instrument_id})
        return int(pid)

    def prompt(self, prompt_id: int) -> Prompt:
        with self._read() as c:
            r = c.execute(select(s.prompts).where(s.prompts.c.prompt_id == prompt_id)).mappings().first()
        if r is None:
            raise UnknownPrompt(f"no prompt {prompt_id}")
        return _prompt_from_row(r)

    def open_prompts(self, session_id: int) -> list[Prompt]:
        """Prompts of the session still waiting for an answer, oldest first."""
        with self._read() as c:
            rows = c.execute(select(s.prompts).where(s.prompts.c.session_id == session_id,
                                                     s.prompts.c.status == "open")
                             .order_by(s.prompts.c.prompt_id)).mappings().all()
        return [_prompt_from_row(r) for r in rows]

    def prompts(self, session_id: int) -> list[Prompt]:
        with self._read() as c:
            rows = c.execute(select(s.prompts).where(s.prompts.c.session_id == session_id)
                             .order_by(s.prompts.c.prompt_id)).mappings().all()
        return [_prompt_from_row(r) for r in rows]

    def cancel_prompt(self, prompt_id: int, reason: str = "skipped") -> None:
        with self._write() as c:
            r = c.execute(select(s.prompts.c.session_id, s.prompts.c.trial_index, s.prompts.c.status)
                          .where(s.prompts.c.prompt_id == prompt_id)).first()
            if r is None or r.status != "open":
                return
            c.execute(update(s.prompts).where(s.prompts.c.prompt_id == prompt_id)
                      .values(status="cancelled", closed_at=utc_now()))
            _event(c, r.session_id, r.trial_index, "prompt_cancelled", {"prompt_id": prompt_id, "reason": reason})

    def submit_prompt(self, prompt_id: int, answers: Mapping[str, Any], submission_id: str, client: str) -> None:
        """Store every item of one screen in ONE transaction and close the prompt.

        Values must already be validated against the instrument by the caller; here they
        must be JSON scalars (finite numbers, strings, booleans) or None for an item left
        unanswered on purpose. Raises :class:`DuplicateSubmission` for a submission id seen
        before, :class:`PromptClosed` for an answered or cancelled prompt,
        :class:`UnknownPrompt`, :class:`InvalidAnswer`.
        """
        sub = Submission(prompt_id, answers, submission_id, client)
        rows = _checked_rows(sub)
        try:
            with self._write() as c:
                (outcome,) = _store_screens(c, [(sub, rows)])
        except IntegrityError as e:  # a concurrent writer won the race on a unique key
            raise _conflict(sub, e) from e
        if outcome is not None:
            raise outcome

    def submit_prompts_batch(self, submissions: Sequence[Submission]) -> list[Exception | None]:
        """Store several screens in ONE transaction (one disk flush), each accepted or refused on its own.

        Screens are taken in the order given. A refused one (:class:`InvalidAnswer`,
        :class:`DuplicateSubmission`, :class:`PromptClosed`, :class:`UnknownPrompt`) stores
        nothing and the others still commit: every screen's rows are written inside its own
        SQL savepoint, rolled back alone if the database refuses them (a unique key another
        writer got first). Later screens see earlier ones of the same batch (a replay, or a
        second screen for the same prompt, is refused as if it came later). Returns one
        outcome per screen, in order: ``None`` when its rows are committed (durably: the
        call returns after the commit), or the exception that refused it.

        If the batch transaction itself fails (lost connection, lock timeout, disk error,
        deadlock), nothing of it is stored and every screen is retried in its own
        transaction (:meth:`submit_prompt`); a submission id that did reach the database is
        then refused as :class:`DuplicateSubmission`, never stored twice.
        """
        outcomes: list[Exception | None] = [None] * len(submissions)
        checked: list[tuple[int, Submission, list[tuple[str, str, float | None, str | None]]]] = []
        for i, sub in enumerate(submissions):
            try:
                checked.append((i, sub, _checked_rows(sub)))
            except InvalidAnswer as e:
                outcomes[i] = e
        if not checked:
            return outcomes
        try:
            with self._write() as c:
                stored = _store_screens(c, [(sub, rows) for _, sub, rows in checked])
            for (i, _, _), outcome in zip(checked, stored):
                outcomes[i] = outcome
        except Exception:  # noqa: BLE001 - the transaction as a whole failed: nothing of it is stored
            for i, sub, _rows in checked:
                try:
                    self.submit_prompt(sub.prompt_id, sub.answers, sub.submission_id, sub.client)
                    outcomes[i] = None
                except Exception as e:  # noqa: BLE001 - reported to that screen's caller
                    outcomes[i] = e
        return outcomes

    def wait_prompt(self, prompt_id: int, timeout_s: float, poll_s: float = 0.05) -> bool:
        """Poll until the prompt is answered (True) or ``timeout_s`` seconds pass (False)."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            status = self.prompt(prompt_id).status
            if status == "answered":
                return True
            if status == "cancelled" or time.monotonic() >= deadline:
                return False
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))

    def responses(self, session_id: int | None = None) -> list[Response]:
        q = select(s.responses).order_by(s.responses.c.response_id)
        if session_id is not None:
            q = q.where(s.responses.c.session_id == session_id)
        with self._read() as c:
            rows = c.execute(q).mappings().all()
        return [Response(response_id=r["response_id"], prompt_id=r["prompt_id"], session_id=r["session_id"],
                         trial_index=r["trial_index"], attempt=r["attempt"], instrument_id=r["instrument_id"],
                         item_id=r["item_id"], value=json.loads(r["value_json"]), submission_id=r["submission_id"],
                         client=r["client"], answered_at=r["answered_at"], answered_mono_ns=r["answered_mono_ns"],
                         rt_s=r["rt_s"]) for r in rows]

    def count_responses(self) -> int:
        with self._read() as c:
            return int(c.execute(select(func.count()).select_from(s.responses)).scalar_one())

    # -- events ---------------------------------------------------------------------------
    def log_event(self, session_id: int | None, kind: str, trial_index: int | None = None,
                  payload: Mapping[str, Any] | None = None, lsl_time_s: float | None = None) -> int:
        """Append one event (wall and monotonic time taken now); returns its id."""
        with self._write() as c:
            return _event(c, session_id, trial_index, kind, payload or {}, lsl_time_s)

    def request_control(self, session_id: int, command: str, source: str = "experimenter",
                        **args: Any) -> int:
        """Ask the running orchestrator to ``pause``, ``resume``, ``repeat``, ``skip``, ``abort``,
        ``redo`` (``trial=N``) or end the participant's turn (``turn``). Logged as an
        ``experimenter_command`` event; the orchestrator polls for them."""
        if command not in CONTROL_COMMANDS:
            raise InvalidAnswer(f"unknown control command {command!r}; known: {', '.join(CONTROL_COMMANDS)}")
        return self.log_event(session_id, CONTROL_EVENT, args.get("trial"), {"command": command, "source": source, **args})

    def events_after(self, session_id: int, after_event_id: int, kind: str | None = None) -> list[Event]:
        """Events of a session with id greater than ``after_event_id`` (oldest first)."""
        q = select(s.events).where(s.events.c.session_id == session_id, s.events.c.event_id > after_event_id)
        if kind is not None:
            q = q.where(s.events.c.kind == kind)
        with self._read() as c:
            rows = c.execute(q.order_by(s.events.c.event_id)).mappings().all()
        return [_event_from_row(r) for r in rows]

    def last_event_id(self) -> int:
        with self._read() as c:
            return int(c.execute(select(func.coalesce(func.max(s.events.c.event_id), 0))).scalar_one())

    def events(self, session_id: int | None = None, kind: str | None = None) -> list[Event]:
        q = select(s.events).order_by(s.events.c.event_id)
        if session_id is not None:
            q = q.where(s.events.c.session_id == session_id)
        if kind is not None:
            q = q.where(s.events.c.kind == kind)
        with self._read() as c:
            rows = c.execute(q).mappings().all()
        return [_event_from_row(r) for r in rows]


# -- helpers --------------------------------------------------------------------------------
class _Tx:
    """Context manager: a connection inside one transaction, committed on success."""

    def __init__(self, engine: Engine, immediate: bool, lock: threading.Lock | None = None):
        self.engine, self.immediate, self.lock = engine, immediate, lock

    def __enter__(self) -> Connection:
        if self.lock is not None:
            self.lock.acquire()
        try:
            return self._begin()
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise

    def _begin(self) -> Connection:
        self.conn = self.engine.connect()
        try:
            if self.immediate:
                self.conn.execution_options(vr_study_immediate=True)
            self.tx = self.conn.begin()
        except BaseException:
            self.conn.close()
            raise
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.tx.commit()
            else:
                self.tx.rollback()
        finally:
            self.conn.close()
            if self.lock is not None:
                self.lock.release()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        if conn.get_execution_options().get("vr_study_immediate"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def _event(c: Connection, session_id: int | None, trial_index: int | None, kind: str,
           payload: Mapping[str, Any], lsl_time_s: float | None = None) -> int:
    r = c.execute(insert(s.events).values(
        session_id=session_id, trial_index=trial_index, kind=kind,
        payload=json.dumps(dict(payload), sort_keys=True, default=str), wall_at=utc_now(),
        mono_ns=time.monotonic_ns(), lsl_time_s=lsl_time_s))
    return int(r.inserted_primary_key[0])


def _create_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600) unless it exists.

    The database holds the tablet pages' signing secret and experimenter token; SQLite
    gives its ``-wal`` and ``-shm`` files the database file's permissions.
    """
    import os

    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return
    os.chmod(path, 0o600)   # whatever the umask


def _new_code(taken: set[str]) -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if code not in taken:
            return code


def _checked_rows(sub: Submission) -> list[tuple[str, str, float | None, str | None]]:
    """The answer rows of a submission, or :class:`InvalidAnswer` (checked before any SQL)."""
    rows = _answer_rows(sub.answers)
    if not isinstance(sub.submission_id, str) or not sub.submission_id.strip() or len(sub.submission_id) > 128:
        raise InvalidAnswer("submission_id must be a non-empty string of at most 128 characters")
    return rows


def _store_screens(c: Connection, screens: Sequence[tuple[Submission, list[tuple[str, str, float | None, str | None]]]]
                   ) -> list[Exception | None]:
    """Store checked screens inside the caller's transaction (the caller commits).

    Two reads for the whole batch (submission ids already stored; the prompts, locked
    ``FOR UPDATE`` in id order so concurrent batches cannot deadlock on PostgreSQL), then
    per accepted screen a savepoint holding its responses and the closing of its prompt;
    one ``prompt_answered`` event per stored screen. Returns one outcome per screen.
    """
    outcomes: list[Exception | None] = [None] * len(screens)
    seen = set(c.execute(select(s.prompts.c.submission_id).where(
        s.prompts.c.submission_id.in_(sorted({sub.submission_id for sub, _ in screens})))).scalars())
    prompts = {r["prompt_id"]: dict(r) for r in c.execute(
        select(s.prompts).where(s.prompts.c.prompt_id.in_(sorted({sub.prompt_id for sub, _ in screens})))
        .order_by(s.prompts.c.prompt_id).with_for_update()).mappings()}
    events = []
    for k, (sub, rows) in enumerate(screens):
        p = prompts.get(sub.prompt_id)
        if sub.submission_id in seen:
            outcomes[k] = DuplicateSubmission(f"submission {sub.submission_id!r} was already stored")
        elif p is None:
            outcomes[k] = UnknownPrompt(f"no prompt {sub.prompt_id}")
        elif p["status"] != "open":
            outcomes[k] = PromptClosed(f"prompt {sub.prompt_id} is {p['status']}")
        if outcomes[k] is not None:
            continue
        client, now, mono = str(sub.client)[:128], utc_now(), time.monotonic_ns()
        rt = (mono - p["opened_mono_ns"]) / 1e9 if mono >= p["opened_mono_ns"] else None
        try:
            with c.begin_nested():  # SAVEPOINT; RELEASE on success, ROLLBACK TO on a refusal
                c.execute(insert(s.responses), [dict(
                    prompt_id=sub.prompt_id, session_id=p["session_id"], trial_index=p["trial_index"],
                    attempt=p["attempt"], instrument_id=p["instrument_id"], item_id=item, value_json=vj,
                    value_num=vn, value_text=vt, submission_id=sub.submission_id, client=client,
                    answered_at=now, answered_mono_ns=mono, rt_s=rt) for item, vj, vn, vt in rows])
                c.execute(update(s.prompts).where(s.prompts.c.prompt_id == sub.prompt_id)
                          .values(status="answered", closed_at=now, submission_id=sub.submission_id))
        except IntegrityError as e:  # another writer got one of its unique keys first
            outcomes[k] = _conflict(sub, e)
            continue
        seen.add(sub.submission_id)
        p["status"] = "answered"
        events.append(dict(session_id=p["session_id"], trial_index=p["trial_index"], kind="prompt_answered",
                           payload=json.dumps({"prompt_id": sub.prompt_id, "instrument": p["instrument_id"],
                                               "n_items": len(rows), "client": client}, sort_keys=True),
                           wall_at=now, mono_ns=mono, lsl_time_s=None))
    if events:
        c.execute(insert(s.events), events)
    return outcomes


def _conflict(sub: Submission, e: IntegrityError) -> DuplicateSubmission:
    """A unique key another writer got first (same submission id, or the same prompt's items)."""
    return DuplicateSubmission(f"submission {sub.submission_id!r} conflicts with stored answers: {e.orig}")


_ITEM_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def _answer_rows(answers: Mapping[str, Any]) -> list[tuple[str, str, float | None, str | None]]:
    if not isinstance(answers, Mapping) or not answers:
        raise InvalidAnswer("a submission must contain at least one answered item")
    rows = []
    for item, value in answers.items():
        if not isinstance(item, str) or not _ITEM_ID.fullmatch(item):
            raise InvalidAnswer(f"item id {item!r} is not a short identifier")
        vn: float | None = None
        vt: str | None = None
        if isinstance(value, bool):
            vn = float(value)
        elif isinstance(value, (int, float)):
            if not math.isfinite(float(value)):
                raise InvalidAnswer(f"item {item}: value {value!r} is not a finite number")
            vn = float(value)
        elif isinstance(value, str):
            if len(value) > 10000:
                raise InvalidAnswer(f"item {item}: text longer than 10000 characters")
            vt = value
        elif value is not None:
            raise InvalidAnswer(f"item {item}: value of type {type(value).__name__} cannot be stored; "
                                "expected a number, text, true/false or null")
        rows.append((item, json.dumps(value), vn, vt))
    return rows


def _trial_row(session_id: int, t: TrialRecord) -> dict[str, Any]:
    return dict(session_id=session_id, trial_index=t.trial_index, block=t.block, block_label=t.block_label,
                trial_kind=t.trial_kind, position_in_block=t.position_in_block,
                conditions=json.dumps(t.conditions, sort_keys=True), method=t.method, emotion=t.emotion,
                clip_id=t.clip_id, utterance=t.utterance, clip_seed=t.clip_seed,
                questionnaires=json.dumps(list(t.questionnaires)),
                extra=json.dumps(t.extra, sort_keys=True, default=str), status=t.status, attempt=t.attempt)


def _trial_from_row(r: Mapping[str, Any]) -> TrialRecord:
    return TrialRecord(trial_index=r["trial_index"], block=r["block"], trial_kind=r["trial_kind"],
                       position_in_block=r["position_in_block"], conditions=json.loads(r["conditions"]),
                       questionnaires=json.loads(r["questionnaires"]), block_label=r["block_label"],
                       method=r["method"], emotion=r["emotion"], clip_id=r["clip_id"], utterance=r["utterance"],
                       clip_seed=r["clip_seed"], extra=json.loads(r["extra"]), status=r["status"],
                       attempt=r["attempt"], started_at=r["started_at"], completed_at=r["completed_at"])


def _event_from_row(r: Mapping[str, Any]) -> Event:
    return Event(event_id=r["event_id"], session_id=r["session_id"], trial_index=r["trial_index"],
                 kind=r["kind"], payload=json.loads(r["payload"]), wall_at=r["wall_at"], mono_ns=r["mono_ns"],
                 lsl_time_s=r["lsl_time_s"])


def _prompt_from_row(r: Mapping[str, Any]) -> Prompt:
    return Prompt(prompt_id=r["prompt_id"], session_id=r["session_id"], trial_index=r["trial_index"],
                  instrument_id=r["instrument_id"], context=json.loads(r["context"]), opened_at=r["opened_at"],
                  status=r["status"], attempt=r["attempt"], opened_mono_ns=r["opened_mono_ns"])
