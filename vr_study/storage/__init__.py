"""The study database (SQLite in WAL mode by default, any SQLAlchemy URL otherwise)."""
from vr_study.storage.database import (CONTROL_COMMANDS, CONTROL_EVENT, DEFAULT_PARTICIPANT_PATTERN, DuplicateParticipant, DuplicateSubmission, Event,
                                       InvalidAnswer, Prompt, PromptClosed, Response, SessionInfo, StorageError,
                                       StudyDatabase, TrialRecord, UnknownPrompt, utc_now)

__all__ = ["CONTROL_COMMANDS", "CONTROL_EVENT", "DEFAULT_PARTICIPANT_PATTERN", "DuplicateParticipant", "DuplicateSubmission", "Event", "InvalidAnswer",
           "Prompt", "PromptClosed", "Response", "SessionInfo", "StorageError", "StudyDatabase", "TrialRecord",
           "UnknownPrompt", "utc_now"]
