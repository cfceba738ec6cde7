"""The study database (SQLite in WAL mode by default, any SQLAlchemy URL otherwise)."""
from vr_study.storage.database import (CONTROL_COMMANDS, CONTROL_EVENT, DEFAULT_PARTICIPANT_PATTERN, DuplicateParticipant, DuplicateSubmission, Event,
                                       InvalidAnswer, Prompt, canonical_participant_id, PromptClosed, Response, SessionInfo, StorageError,
                                       StudyDatabase, Submission, TrialRecord, UnknownPrompt, utc_now)
from vr_study.storage.group_commit import Committed, GroupCommitter

__all__ = ["CONTROL_COMMANDS", "CONTROL_EVENT", "Committed", "DEFAULT_PARTICIPANT_PATTERN", "DuplicateParticipant",
           "DuplicateSubmission", "Event", "GroupCommitter", "InvalidAnswer", "Prompt", "PromptClosed", "Response",
           "SessionInfo", "StorageError", "StudyDatabase", "Submission", "TrialRecord", "UnknownPrompt", "canonical_participant_id", "utc_now"]
