"""Scripted tablets: answer prompts straight through the database API (simulations, tests).

Real tablets answer through the HTTP pages of ``questionnaires``; the demo uses an answerer
that taps through those pages. Values written here must already be valid for the
instrument (the CLI checks them with the questionnaire layer first).
"""
from __future__ import annotations

import time
import uuid
from typing import Any, Callable, Mapping

from vr_study.storage import DuplicateSubmission, Prompt, PromptClosed, StudyDatabase

AnswersFor = Callable[[Prompt], Mapping[str, Any]]


def fixed_answers(script: Mapping[str, Mapping[str, Any]]) -> AnswersFor:
    """Answers per instrument id; a string value ``$key`` is replaced by ``prompt.context[key]``
    (``$emotion`` answers the emotion recognition item correctly)."""

    def answers_for(prompt: Prompt) -> dict[str, Any]:
        out = {}
        for item, value in script.get(prompt.instrument_id, {}).items():
            if isinstance(value, str) and value.startswith("$"):
                value = prompt.context.get(value[1:])
            out[item] = value
        return out

    return answers_for


class ScriptedAnswerer:
    """Submits ``answers_for(prompt)`` after ``delay_s`` seconds; ignores already closed prompts."""

    def __init__(self, db: StudyDatabase, answers_for: AnswersFor, delay_s: float = 0.0, client: str = "scripted"):
        self.db, self.answers_for, self.delay_s, self.client = db, answers_for, delay_s, client
        self.submitted: list[tuple[int, dict[str, Any]]] = []

    def __call__(self, prompt: Prompt) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        answers = dict(self.answers_for(prompt))
        try:
            self.db.submit_prompt(prompt.prompt_id, answers, submission_id=uuid.uuid4().hex, client=self.client)
            self.submitted.append((prompt.prompt_id, answers))
        except (PromptClosed, DuplicateSubmission):
            pass
