"""One path for every answer channel: check a screen, commit it, say what happened.

The tablet pages (:mod:`questionnaires.tablet_participant`) and the in-headset panel
(:mod:`questionnaires.headset_panel`) store answers through the functions here, so both
apply the same checks (the prompt belongs to the answering session and is still open, its
instrument is known, every required item is answered and in range, nothing unknown:
:func:`questionnaires.scoring.validate_answers`), the same storage call
(:class:`vr_study.storage.GroupCommitter` / :meth:`~vr_study.storage.StudyDatabase.submit_prompt`:
one transaction, the prompt closed with its answers) and therefore the same
``prompt_answered`` event. Only the ``client`` field of the stored rows says which channel
answered (an address and browser for tablets, ``headset ...`` for the panel).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from questionnaires.instruments import Instrument
from questionnaires.scoring import Answer, AnswerError, validate_answers
from vr_study.study.spec import ANSWER_CHANNEL_KEY
from vr_study.storage import (Committed, DuplicateSubmission, GroupCommitter, InvalidAnswer, Prompt, PromptClosed,
                              StudyDatabase, UnknownPrompt)

#: Why a screen was refused (:attr:`ScreenRefused.reason`).
REFUSALS = ("not_found", "other_session", "other_channel", "closed", "duplicate", "unknown_instrument", "invalid")
#: The answer channels a prompt can be routed to (its context's ``answer_in``).
TABLET, HEADSET = "tablet", "headset"


def answer_channel(prompt: Prompt) -> str:
    """Where ``prompt`` is answered: :data:`TABLET` (also for prompts from before routing) or :data:`HEADSET`."""
    channel = (prompt.context or {}).get(ANSWER_CHANNEL_KEY, TABLET)
    return channel if channel in (TABLET, HEADSET) else TABLET


class ScreenRefused(Exception):
    """A screen that is not stored: ``reason`` is one of :data:`REFUSALS`; the message is for people."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class CheckedScreen:
    """A screen that passed :func:`check_screen`: its prompt, instrument and clean answers."""

    prompt: Prompt
    instrument: Instrument
    answers: dict[str, Answer]


def load_prompt(db: StudyDatabase, session_id: int, prompt_id: int) -> Prompt:
    """The prompt if it exists and belongs to ``session_id``; else :class:`ScreenRefused`."""
    try:
        prompt = db.prompt(prompt_id)
    except UnknownPrompt:
        raise ScreenRefused("not_found", "There is no such questionnaire.") from None
    if prompt.session_id != session_id:
        raise ScreenRefused("other_session", "This questionnaire belongs to another session.")
    return prompt


def check_prompt(prompt: Prompt, instruments: Mapping[str, Instrument], raw: Mapping[str, Any],
                 channel: str) -> CheckedScreen:
    """Check one screen's raw answers (item id -> value, form strings or lists of them) for
    ``prompt``, sent through ``channel`` (:data:`TABLET` or :data:`HEADSET`).

    Raises :class:`ScreenRefused` when the prompt is no longer open, is routed to the other
    channel, or its instrument is unknown, and :class:`questionnaires.scoring.AnswerError` (``problems``: item id -> what
    is wrong) when the answers are incomplete or out of range: a half-filled screen is
    never stored.
    """
    if prompt.status != "open":
        raise ScreenRefused("closed", "These answers were already recorded; nothing was changed.")
    if answer_channel(prompt) != channel:
        raise ScreenRefused("other_channel", f"This questionnaire is answered on the {answer_channel(prompt)}; "
                                             "nothing was changed.")
    inst = instruments.get(prompt.instrument_id)
    if inst is None:
        raise ScreenRefused("unknown_instrument", f"Unknown questionnaire '{prompt.instrument_id}'.")
    return CheckedScreen(prompt, inst, validate_answers(inst, raw))


def check_screen(db: StudyDatabase, instruments: Mapping[str, Instrument], session_id: int, prompt_id: int,
                 raw: Mapping[str, Any], channel: str) -> CheckedScreen:
    """:func:`load_prompt` then :func:`check_prompt`."""
    return check_prompt(load_prompt(db, session_id, prompt_id), instruments, raw, channel)


def refusal_for(exc: Exception) -> ScreenRefused:
    """What a storage refusal means to the person answering (``DuplicateSubmission`` -> duplicate, ...)."""
    if isinstance(exc, DuplicateSubmission):
        return ScreenRefused("duplicate", "These answers were already recorded; nothing was changed.")
    if isinstance(exc, PromptClosed):
        return ScreenRefused("closed", "This questionnaire was already answered or closed; nothing was changed.")
    if isinstance(exc, (InvalidAnswer, UnknownPrompt)):
        return ScreenRefused("invalid", f"The answers could not be stored ({exc}). Nothing was changed; "
                                        "please call the experimenter.")
    raise TypeError(f"not a storage refusal: {exc!r}")


def commit_screen(store: GroupCommitter | StudyDatabase, checked: CheckedScreen, submission_id: str,
                  client: str) -> Committed | None:
    """Store a checked screen durably (returns after the commit) or raise :class:`ScreenRefused`.

    ``store``: the app's :class:`GroupCommitter` (returns its receipt) or the database itself
    (returns None). A replayed ``submission_id`` or an already closed prompt is refused and
    changes nothing.
    """
    try:
        if isinstance(store, GroupCommitter):
            return store.submit(checked.prompt.prompt_id, checked.answers, submission_id, client)
        store.submit_prompt(checked.prompt.prompt_id, checked.answers, submission_id, client)
        return None
    except (DuplicateSubmission, PromptClosed, InvalidAnswer, UnknownPrompt) as e:
        raise refusal_for(e) from None


def submit_screen(db: StudyDatabase, store: GroupCommitter | StudyDatabase, instruments: Mapping[str, Instrument],
                  session_id: int, prompt_id: int, raw: Mapping[str, Any], submission_id: str,
                  client: str, channel: str) -> CheckedScreen:
    """:func:`check_screen` then :func:`commit_screen`; returns the stored screen.

    Raises :class:`AnswerError` (nothing stored, fix the answers) or :class:`ScreenRefused`.
    """
    checked = check_screen(db, instruments, session_id, prompt_id, raw, channel)
    commit_screen(store, checked, submission_id, client)
    return checked


__all__ = ["HEADSET", "TABLET", "answer_channel", "AnswerError", "CheckedScreen", "REFUSALS", "ScreenRefused", "check_screen", "commit_screen",
           "check_prompt", "load_prompt", "refusal_for", "submit_screen"]
