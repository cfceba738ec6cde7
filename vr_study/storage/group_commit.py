"""Group commit: screens that arrive together are stored in one transaction, one disk flush.

With ``synchronous=FULL`` every commit waits for the disk (an ``fsync``: ~4 ms on a quiet
machine, tens of ms on a busy one). When 8 tablets submit at the same moment, committing
each screen on its own puts 8 flushes in a row and the last tablet waits for all of them.
A :class:`GroupCommitter` hands every screen to one committer thread instead: whatever
arrived while the previous transaction was being flushed goes into the next one
(:meth:`StudyDatabase.submit_prompts_batch`: a savepoint per screen, so each is still
accepted or refused on its own). No screen waits for a timer: a lone screen is committed at
once, and the batches grow only as much as the disk is slow.

A caller's :meth:`GroupCommitter.submit` returns only after its screen's rows are committed
(durable), or raises the refusal that concerns that screen alone.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Mapping

from vr_study.storage.database import StudyDatabase, Submission

#: Most screens stored in one transaction (a bound on the time one batch holds the write lock).
DEFAULT_MAX_BATCH = 64


@dataclass(frozen=True)
class Committed:
    """Receipt of a committed screen.

    ``batch_size``: screens in the transaction it was committed with (itself included,
    refused ones too); ``queued_s``: seconds from hand-over until its transaction began
    (waiting for the previous batch's flush); ``commit_s``: seconds the transaction took
    (checks, inserts and the flush).
    """
    batch_size: int
    queued_s: float
    commit_s: float


class GroupCommitter:
    """Stores submitted screens in batches, one transaction and one flush per batch.

    The committer thread runs only while there is work (it is started by the first screen
    of a burst and ends when the queue is empty), so an idle committer holds no thread and
    needs no shutdown; :meth:`close` refuses new screens and waits for the queued ones.
    Thread-safe; one per process and database is the intended use.
    """

    def __init__(self, db: StudyDatabase, *, max_batch: int = DEFAULT_MAX_BATCH):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.db = db
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[tuple[Submission, Future, float]] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def queued(self) -> int:
        """Screens handed over and not yet in a transaction."""
        with self._lock:
            return len(self._queue)

    def submit_future(self, prompt_id: int, answers: Mapping[str, Any], submission_id: str,
                      client: str) -> "Future[Committed]":
        """Queue one screen; the future resolves to :class:`Committed` once its rows are
        committed, or raises its refusal (``DuplicateSubmission``, ``PromptClosed``,
        ``UnknownPrompt``, ``InvalidAnswer``) or the database error that kept it out."""
        fut: Future = Future()
        fut.set_running_or_notify_cancel()
        with self._lock:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            self._queue.append((Submission(prompt_id, answers, submission_id, client), fut, time.perf_counter()))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vr-study-group-commit", daemon=True)
                self._thread.start()
        return fut

    def submit(self, prompt_id: int, answers: Mapping[str, Any], submission_id: str, client: str) -> Committed:
        """Store one screen with whatever else arrives now; returns after its commit, or raises
        its refusal (nothing of it stored). Same checks as :meth:`StudyDatabase.submit_prompt`."""
        return self.submit_future(prompt_id, answers, submission_id, client).result()

    def close(self, timeout_s: float | None = None) -> None:
        """Refuse new screens and wait (at most ``timeout_s`` seconds) until the queued ones are stored."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                if not batch:
                    self._thread = None
                    return
            t_begin = time.perf_counter()
            try:
                outcomes: list[Exception | None] = self.db.submit_prompts_batch([sub for sub, _, _ in batch])
            except BaseException as e:  # noqa: BLE001 - every waiter must hear back
                outcomes = [e] * len(batch)  # type: ignore[list-item]
            t_end = time.perf_counter()
            for (_, fut, t_queued), outcome in zip(batch, outcomes):
                if outcome is None:
                    fut.set_result(Committed(len(batch), t_begin - t_queued, t_end - t_begin))
                else:
                    fut.set_exception(outcome)
