"""The study database's tables (SQLAlchemy Core, portable to SQLite and PostgreSQL).

One database per study. Times: ``*_at`` columns are wall-clock UTC ISO-8601 strings with
microseconds; ``*_mono_ns`` columns are ``time.monotonic_ns()`` (CLOCK_MONOTONIC, shared by
all processes on one machine, nanoseconds). Participants are pseudonymous ids only: the
database never holds a name.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Column, Float, ForeignKey, ForeignKeyConstraint, Index, Integer,
                        MetaData, String, Table, Text, UniqueConstraint)

SCHEMA_VERSION = "1"

metadata = MetaData()

#: Key/value facts about the study: schema version, study id, spec text and hash, id pattern.
meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

participants = Table(
    "participants", metadata,
    Column("participant_id", String(32), primary_key=True),
    Column("created_at", String(32), nullable=False),
)

sessions = Table(
    "sessions", metadata,
    Column("session_id", Integer, primary_key=True, autoincrement=True),
    Column("participant_id", String(32), ForeignKey("participants.participant_id"), nullable=False),
    Column("study_id", String(64), nullable=False),
    Column("code", String(16), nullable=False, unique=True),
    Column("plan_row", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # created | running | paused | finished | aborted
    Column("started_at", String(32), nullable=False),
    Column("ended_at", String(32)),
)

#: One row per step of a participant's plan (stimulus trials, practice, breaks, checks,
#: questionnaire-only steps). ``attempt`` counts experimenter-ordered redos (0 = first).
trials = Table(
    "trials", metadata,
    Column("session_id", Integer, ForeignKey("sessions.session_id"), primary_key=True),
    Column("trial_index", Integer, primary_key=True),
    Column("block", Integer, nullable=False),
    Column("block_label", String(64), nullable=False, default=""),
    Column("trial_kind", String(24), nullable=False),
    Column("position_in_block", Integer, nullable=False),
    Column("conditions", Text, nullable=False),  # JSON {factor: level}
    Column("method", String(64)),
    Column("emotion", String(64)),
    Column("clip_id", String(128)),
    Column("utterance", String(128)),
    Column("clip_seed", BigInteger),
    Column("questionnaires", Text, nullable=False),  # JSON list of instrument ids, in order
    Column("extra", Text, nullable=False, default="{}"),  # JSON: clip path, duration_s, ...
    Column("status", String(16), nullable=False),  # pending | running | done | skipped
    Column("attempt", Integer, nullable=False, default=0),
    Column("started_at", String(32)),
    Column("completed_at", String(32)),
)

prompts = Table(
    "prompts", metadata,
    Column("prompt_id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, nullable=False),
    Column("trial_index", Integer, nullable=False),
    Column("attempt", Integer, nullable=False, default=0),
    Column("instrument_id", String(64), nullable=False),
    Column("context", Text, nullable=False),  # JSON
    Column("status", String(16), nullable=False),  # open | answered | cancelled
    Column("opened_at", String(32), nullable=False),
    Column("opened_mono_ns", BigInteger, nullable=False),
    Column("closed_at", String(32)),
    Column("submission_id", String(128), unique=True),
    ForeignKeyConstraint(["session_id", "trial_index"], ["trials.session_id", "trials.trial_index"]),
    Index("ix_prompts_session_status", "session_id", "status"),
)

#: One row per answered item; append-only (redos add rows with a higher ``attempt``).
responses = Table(
    "responses", metadata,
    Column("response_id", Integer, primary_key=True, autoincrement=True),
    Column("prompt_id", Integer, ForeignKey("prompts.prompt_id"), nullable=False),
    Column("session_id", Integer, nullable=False),
    Column("trial_index", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("instrument_id", String(64), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("value_json", Text, nullable=False),  # the value as JSON (number, string, bool, null)
    Column("value_num", Float),  # numeric value when the answer is a number
    Column("value_text", Text),  # text value when the answer is a string
    Column("submission_id", String(128), nullable=False),
    Column("client", String(128), nullable=False),
    Column("answered_at", String(32), nullable=False),
    Column("answered_mono_ns", BigInteger, nullable=False),
    Column("rt_s", Float),  # seconds from prompt opening to the committed answer
    UniqueConstraint("session_id", "trial_index", "instrument_id", "item_id", "attempt",
                     name="uq_response_item"),
)

#: Append-only log of everything that happened (experimenter actions, markers, faults).
events = Table(
    "events", metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer),
    Column("trial_index", Integer),
    Column("kind", String(48), nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    Column("wall_at", String(32), nullable=False),
    Column("mono_ns", BigInteger, nullable=False),
    Column("lsl_time_s", Float),  # pylsl.local_clock() when a marker was also sent
    Index("ix_events_session", "session_id"),
)

#: SQLite triggers that make the event log and the responses append-only.
SQLITE_APPEND_ONLY_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    for table in ("events", "responses") for op in ("UPDATE", "DELETE")
]
