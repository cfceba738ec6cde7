"""The participant's pages (``/t/...``): join by code, one questionnaire screen at a time.

A tablet joins a session by its short code and gets a signed cookie bound to that session;
it then shows the session's oldest open prompt as one screen, or "please wait" (the page
polls ``/t/api/state``, :mod:`questionnaires.tablet_api`). Every submitted screen is checked
against its instrument (every required item present and in range, nothing unknown) before
it is stored; a submission id rendered into each form makes a replay (double tap, back
button, network retry) harmless: it is refused and nothing changes. Requests without the
cookie, or for another session's prompts, get 403.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from questionnaires import tokens
from questionnaires.instruments import Instrument
from questionnaires.scoring import AnswerError, validate_answers
from questionnaires.tablet_context import (TABLET_COOKIE, TABLET_TOKEN_MAX_AGE_S, Ctx, TabletContext, first,
                                           form_body)
from vr_study.storage import DuplicateSubmission, InvalidAnswer, PromptClosed, UnknownPrompt

router = APIRouter()
#: Posted fields that are not answers.
FORM_FIELDS = {"prompt_id", "submission_id"}


def tablet_session(ctx: TabletContext, request: Request) -> int | None:
    """The session id this tablet joined (from its signed cookie), or None."""
    subject = tokens.verify(ctx.secret, request.cookies.get(TABLET_COOKIE), "tablet", TABLET_TOKEN_MAX_AGE_S)
    return int(subject) if subject is not None and subject.isdigit() else None


def tablet_state(ctx: TabletContext, session_id: int) -> dict[str, Any]:
    """What the waiting page needs: session status and the oldest open prompt."""
    info = ctx.db.session(session_id)
    prompts = ctx.db.open_prompts(session_id)
    return {"session_status": info.status, "prompt_id": prompts[0].prompt_id if prompts else None,
            "open_prompts": len(prompts)}


def _refused(ctx: TabletContext, reason: str) -> HTMLResponse:
    return ctx.message("Not allowed", reason, 403, link="/t/join", link_label="Join a session", kind="error")


@router.get("/")
async def root() -> Response:
    return RedirectResponse("/t/", status_code=303)


@router.get("/t/join")
async def join_page(ctx: Ctx, code: str = "") -> Response:
    return ctx.page("join.html", code=code[:16], error=None)


@router.post("/t/join")
async def join(ctx: Ctx, request: Request) -> Response:
    form = await form_body(request)
    code = first(form, "code").strip().upper()[:16]
    info = await run_in_threadpool(ctx.db.session_by_code, code) if code else None
    if info is None:
        return ctx.page("join.html", 403, code=code,
                        error=f"No session has the code '{code}'. Check the code shown to the experimenter."
                        if code else "Please type the session code.")
    if info.status in ("finished", "aborted"):
        return ctx.page("join.html", 403, code=code, error=f"Session '{code}' has ended.")
    r = RedirectResponse("/t/", status_code=303)
    r.set_cookie(TABLET_COOKIE, tokens.sign(ctx.secret, "tablet", str(info.session_id)),
                 max_age=TABLET_TOKEN_MAX_AGE_S, httponly=True, samesite="strict", path="/")
    return r


@router.get("/t/")
async def tablet_home(ctx: Ctx, request: Request) -> Response:
    sid = tablet_session(ctx, request)
    if sid is None:
        return RedirectResponse("/t/join", status_code=303)
    state = await run_in_threadpool(tablet_state, ctx, sid)
    if state["prompt_id"] is not None:
        return RedirectResponse(f"/t/prompt/{state['prompt_id']}", status_code=303)
    if state["session_status"] in ("finished", "aborted"):
        return ctx.message("Thank you!", "The session is over. Please hand the tablet back to the experimenter.",
                           200, link="/t/join", link_label="Join another session (experimenter)")
    return ctx.page("wait.html")


def _progress(ctx: TabletContext, session_id: int, prompt) -> dict[str, Any]:  # noqa: ANN001 - a Prompt
    """Trial N of M (among steps with questionnaires) and page k of n (within the step).

    Prompt-context keys ``trial_number``, ``trial_count``, ``screen_index`` and
    ``screen_count`` override what is derived from the session's plan.
    """
    out: dict[str, Any] = {"trial_number": None, "trial_count": None, "screen_index": None,
                           "screen_count": None}
    rated = [t for t in ctx.db.trials(session_id) if t.questionnaires]
    for n, t in enumerate(rated, start=1):
        if t.trial_index == prompt.trial_index:
            out.update(trial_number=n, trial_count=len(rated))
            if prompt.instrument_id in t.questionnaires:
                out.update(screen_index=t.questionnaires.index(prompt.instrument_id) + 1,
                           screen_count=len(t.questionnaires))
    pctx = prompt.context or {}
    out.update({k: pctx[k] for k in out if isinstance(pctx.get(k), int)})
    if out["screen_index"] is None:    # not in the plan: count what is open now
        out.update(screen_index=1, screen_count=len(ctx.db.open_prompts(session_id)) or 1)
    return out


def _form_ctx(ctx: TabletContext, session_id: int, prompt, inst: Instrument,  # noqa: ANN001 - a Prompt
              values: dict[str, Any], errors: dict[str, str], submission_id: str) -> dict[str, Any]:
    return dict(inst=inst, prompt=prompt, values=values, errors=errors, submission_id=submission_id,
                **_progress(ctx, session_id, prompt))


def _load_prompt(ctx: TabletContext, session_id: int, prompt_id: int):  # noqa: ANN202
    """(prompt, refusal response or None)."""
    try:
        p = ctx.db.prompt(prompt_id)
    except UnknownPrompt:
        return None, ctx.message("Not found", "There is no such questionnaire.", 404, kind="error")
    if p.session_id != session_id:
        return None, _refused(ctx, "This questionnaire belongs to another session.")
    return p, None


@router.get("/t/prompt/{prompt_id}")
async def prompt_page(ctx: Ctx, prompt_id: int, request: Request) -> Response:
    sid = tablet_session(ctx, request)
    if sid is None:
        return _refused(ctx, "This tablet has not joined a session.")

    def work() -> Response:
        p, refusal = _load_prompt(ctx, sid, prompt_id)
        if refusal is not None:
            return refusal
        if p.status != "open":
            return ctx.message("Already done", "This questionnaire was already answered or closed. "
                               "Nothing was changed.", 200)
        inst = ctx.instruments.get(p.instrument_id)
        if inst is None:
            return ctx.message("Questionnaire missing", f"Unknown questionnaire '{p.instrument_id}'. "
                               "Please call the experimenter.", 500, kind="error")
        return ctx.page("form.html", **_form_ctx(ctx, sid, p, inst, {}, {}, uuid.uuid4().hex))
    return await run_in_threadpool(work)


@router.post("/t/prompt/{prompt_id}")
async def submit(ctx: Ctx, prompt_id: int, request: Request) -> Response:
    t_start = time.perf_counter()
    sid = tablet_session(ctx, request)
    if sid is None:
        return _refused(ctx, "This tablet has not joined a session.")
    form = await form_body(request)
    submission_id = first(form, "submission_id").strip()
    client = f"{request.client.host if request.client else '?'} {request.headers.get('user-agent', '')[:80]}"

    def check() -> Response | dict[str, Any]:
        """A refusal page, or the validated answers to store."""
        p, refusal = _load_prompt(ctx, sid, prompt_id)
        if refusal is not None:
            return refusal
        if first(form, "prompt_id", str(prompt_id)) != str(prompt_id):
            return ctx.message("Cannot save", "The form does not belong to this page. Please reload.", 400,
                               kind="error")
        if not submission_id or len(submission_id) > 128:
            return ctx.message("Cannot save", "The form was incomplete (no submission id). Please reload.",
                               400, kind="error")
        if p.status != "open":
            return ctx.message("Already recorded", "These answers were already recorded; nothing was changed.",
                               409, headers={"X-Submission": "closed"})
        inst = ctx.instruments.get(p.instrument_id)
        if inst is None:
            return ctx.message("Questionnaire missing", f"Unknown questionnaire '{p.instrument_id}'.", 500,
                               kind="error")
        raw = {k: v for k, v in form.items() if k not in FORM_FIELDS}
        try:
            return validate_answers(inst, raw)
        except AnswerError as e:
            values = {k: v[0] for k, v in raw.items() if v}
            r = ctx.page("form.html", 422, **_form_ctx(ctx, sid, p, inst, values, e.problems, submission_id))
            r.headers["X-Submission"] = "invalid"
            return r

    t_check = time.perf_counter()
    checked = await run_in_threadpool(check)
    if isinstance(checked, Response):
        return checked
    t_checked = time.perf_counter()
    try:  # the reply waits for the commit (durable) without holding a worker thread
        receipt = await asyncio.wrap_future(ctx.committer.submit_future(prompt_id, checked, submission_id, client))
    except DuplicateSubmission:
        return ctx.message("Already recorded", "These answers were already recorded; nothing was changed.",
                           409, headers={"X-Submission": "duplicate"})
    except PromptClosed:
        return ctx.message("Already recorded", "This questionnaire was already answered or closed; "
                           "nothing was changed.", 409, headers={"X-Submission": "closed"})
    except (InvalidAnswer, UnknownPrompt) as e:
        return ctx.message("Cannot save", f"The answers could not be stored ({e}). Nothing was changed; "
                           "please call the experimenter.", 422, kind="error", headers={"X-Submission": "invalid"})
    r = RedirectResponse("/t/", status_code=303)
    r.headers["X-Submission"] = "stored"
    # milliseconds checking the screen (prompt, cookie's session, instrument), waiting for the
    # previous batch's flush, committing this batch, and in this handler in all; the number of
    # screens committed together (for benchmarks)
    r.headers["Server-Timing"] = (f"check;dur={(t_checked - t_check) * 1e3:.2f}, "
                                  f"queue;dur={receipt.queued_s * 1e3:.2f}, "
                                  f"commit;dur={receipt.commit_s * 1e3:.2f}, "
                                  f"handler;dur={(time.perf_counter() - t_start) * 1e3:.2f}, "
                                  f"batch;desc={receipt.batch_size}")
    return r
