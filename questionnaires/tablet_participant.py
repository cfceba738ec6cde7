"""The participant's pages (``/t/...``): join by code, one questionnaire screen at a time.

A tablet joins a session by its join code (9 characters, 44.6 bits) and gets a signed
cookie bound to that session. The first device that joins holds the session: its device id
(:mod:`questionnaires.tablet_guard`) is bound to the session in the database, and another
device with the right code is refused until the experimenter releases the session (which
also gives it a new code). Wrong codes count against the client's address and against all
clients together, refused devices against the session; too many lock them out for a while
(HTTP 429 with ``Retry-After``). Every form carries a CSRF field. The tablet then shows the session's oldest open prompt as one screen, or "please wait" (the page
polls ``/t/api/state``, :mod:`questionnaires.tablet_api`). Every submitted screen is checked
against its instrument (every required item present and in range, nothing unknown) before
it is stored; a submission id rendered into each form makes a replay (double tap, back
button, network retry) harmless: it is refused and nothing changes. Requests without the
cookie, or for another session's prompts, get 403.
"""
from __future__ import annotations

import asyncio
import hmac
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from questionnaires import tokens
from questionnaires.instruments import Instrument
from questionnaires.scoring import AnswerError
from questionnaires.submission import (TABLET, CheckedScreen, ScreenRefused, answer_channel, check_prompt, load_prompt,
                                      refusal_for)
from questionnaires.tablet_context import (TABLET_COOKIE, TABLET_TOKEN_MAX_AGE_S, Ctx, RowId, TabletContext,
                                           first, form_body, grouped_code, normal_code, set_cookie)
from questionnaires.tablet_guard import CSRF_FIELD, client_key, csrf_ok, device_hash, device_id
from vr_study.storage import DuplicateSubmission, InvalidAnswer, PromptClosed, UnknownPrompt

router = APIRouter()
#: Posted fields that are not answers.
FORM_FIELDS = {"prompt_id", "submission_id", CSRF_FIELD}
#: Events the pairing writes (session-scoped, shown on the experimenter page).
PAIRED_EVENT, REFUSED_EVENT, RELEASED_EVENT = "tablet_paired", "tablet_join_refused", "tablet_released"
#: Session states after which a tablet has nothing more to do.
ENDED_STATES = ("finished", "aborted", "superseded")


def binding_key(session_id: int) -> str:
    """The ``meta`` key holding the SHA-256 of the device that holds ``session_id`` ("" for none)."""
    return f"tablet_device:{session_id}"


def tablet_session(ctx: TabletContext, request: Request) -> int | None:
    """The session this tablet joined (signed cookie) if it is still the session's device, else None.

    Reads the database (the binding): call it from a worker thread.
    """
    subject = tokens.verify(ctx.secret, request.cookies.get(TABLET_COOKIE), "tablet", TABLET_TOKEN_MAX_AGE_S)
    device = device_id(request)
    if subject is None or not subject.isdigit() or device is None:
        return None
    held = ctx.db.get_meta(binding_key(int(subject)))
    return int(subject) if held and hmac.compare_digest(held, device_hash(device)) else None


def release_tablet(ctx: TabletContext, session_id: int, source: str) -> str:
    """Unbind the session's device and give the session a new join code (returned)."""
    ctx.db.set_meta(binding_key(session_id), "")
    code = ctx.db.new_session_code(session_id)
    ctx.db.log_event(session_id, RELEASED_EVENT, payload={"source": source})
    ctx.limiters.session.reset(str(session_id))
    return code


@dataclass(frozen=True)
class JoinForm:
    """The pairing page of one kind of participant device: where its form posts, where a
    paired device goes, and its wording."""

    action: str
    home: str
    title: str
    lead: str


TABLET_JOIN = JoinForm("/t/join", "/t/", "Join a session", "Type the code the experimenter gives you.")
HEADSET_JOIN = JoinForm("/w/join", "/w/", "Join a session (headset)",
                        "Type the code the experimenter gives you, then put the headset on.")


def _wait_text(seconds: float) -> str:
    s = math.ceil(seconds)
    return f"{s} seconds" if s < 120 else f"{math.ceil(s / 60)} minutes"


def _locked(ctx: TabletContext, request: Request, code: str, seconds: float, why: str,
            form: JoinForm = TABLET_JOIN) -> Response:
    r = ctx.page("join.html", 429, request=request, form=form, code=code, error=f"{why} Please wait {_wait_text(seconds)}.")
    r.headers["Retry-After"] = str(math.ceil(seconds))
    return r


def tablet_state(ctx: TabletContext, session_id: int) -> dict[str, Any]:
    """What the waiting page needs: session status and the oldest open prompt (``answer_in``:
    ``tablet`` or ``headset``; a headset prompt's page asks the participant to answer there)."""
    info = ctx.db.session(session_id)
    prompts = ctx.db.open_prompts(session_id)
    return {"session_status": info.status, "ended": info.status in ENDED_STATES,
            "prompt_id": prompts[0].prompt_id if prompts else None, "open_prompts": len(prompts),
            "answer_in": answer_channel(prompts[0]) if prompts else None}


def _refused(ctx: TabletContext, reason: str) -> HTMLResponse:
    return ctx.message("Not allowed", reason, 403, link="/t/join", link_label="Join a session", kind="error")


@router.get("/")
async def root() -> Response:
    return RedirectResponse("/t/", status_code=303)


@router.get("/t/join")
async def join_page(ctx: Ctx, request: Request) -> Response:
    return ctx.page("join.html", request=request, form=TABLET_JOIN, code="", error=None)


@router.post("/t/join")
async def join(ctx: Ctx, request: Request) -> Response:
    return await join_with(ctx, request, TABLET_JOIN)


async def join_with(ctx: TabletContext, request: Request, form: JoinForm) -> Response:
    """Pair the device that posted a session code (limits, device binding); its join page again
    with the reason when refused, else a redirect to ``form.home`` with the signed cookie."""
    client = client_key(request)
    lim = ctx.limiters
    wait_s = lim.client.locked_for_s(client)
    if wait_s > 0:
        return _locked(ctx, request, "", wait_s, "Too many wrong codes from this device.", form)
    posted = await form_body(request)
    if not csrf_ok(ctx.secret, request, first(posted, CSRF_FIELD)):
        return ctx.page("join.html", 403, request=request, form=form, code="",
                        error="This page was out of date. Please type the code again.")
    code = normal_code(first(posted, "code"))
    if not code:
        return ctx.page("join.html", 403, request=request, form=form, code="", error="Please type the session code.")
    wait_s = lim.everyone.locked_for_s("join")
    if wait_s > 0:
        return _locked(ctx, request, grouped_code(code), wait_s,
                       "Too many wrong codes were typed on this network.", form)
    info = await run_in_threadpool(ctx.db.session_by_code, code)
    if info is None:
        lim.everyone.fail("join")
        wait_s = lim.client.fail(client)
        if wait_s > 0:
            return _locked(ctx, request, grouped_code(code), wait_s, "Too many wrong codes from this device.", form)
        return ctx.page("join.html", 403, request=request, form=form, code=grouped_code(code),
                        error=f"No session has the code {grouped_code(code)}. "
                        "Check the code shown to the experimenter.")
    sid = info.session_id
    if info.status in ENDED_STATES:
        return ctx.page("join.html", 403, request=request, form=form, code=grouped_code(code),
                        error=f"Session {grouped_code(code)} has ended.")
    wait_s = lim.session.locked_for_s(str(sid))
    if wait_s > 0:
        return _locked(ctx, request, grouped_code(code), wait_s,
                       "This session refuses new devices for now; ask the experimenter.", form)
    mine = device_hash(device_id(request) or "")    # csrf_ok: the device cookie is there

    def claim() -> bool:
        held = ctx.db.get_meta(binding_key(sid))
        if held == mine:                            # the same tablet joining again
            return True
        if ctx.db.claim_meta(binding_key(sid), mine) == mine:
            ctx.db.log_event(sid, PAIRED_EVENT, payload={"client": client})
            return True
        ctx.db.log_event(sid, REFUSED_EVENT, payload={"client": client, "reason": "another tablet holds it"})
        return False
    if not await run_in_threadpool(claim):
        wait_s = lim.session.fail(str(sid))
        if wait_s > 0:
            return _locked(ctx, request, grouped_code(code), wait_s,
                           "This session refuses new devices for now; ask the experimenter.", form)
        return ctx.page("join.html", 403, request=request, form=form, code=grouped_code(code),
                        error="This session is already open on another tablet. Ask the experimenter "
                        "to release it (experimenter page: Release tablet).")
    lim.client.succeed(client)
    r = RedirectResponse(form.home, status_code=303)
    set_cookie(r, request, TABLET_COOKIE, tokens.sign(ctx.secret, "tablet", str(sid)), TABLET_TOKEN_MAX_AGE_S)
    return r


@router.get("/t/")
async def tablet_home(ctx: Ctx, request: Request) -> Response:
    sid = await run_in_threadpool(tablet_session, ctx, request)
    if sid is None:
        return RedirectResponse("/t/join", status_code=303)
    state = await run_in_threadpool(tablet_state, ctx, sid)
    if state["prompt_id"] is not None:
        return RedirectResponse(f"/t/prompt/{state['prompt_id']}", status_code=303)
    if state["session_status"] in ENDED_STATES:
        return ctx.message("Thank you!", "The session is over. Please hand the tablet back to the experimenter.",
                           200, link="/t/join", link_label="Join another session (experimenter)")
    return ctx.page("wait.html")


#: Trial kinds that are not main trials (not counted in "Trial k of N").
NOT_MAIN_TRIALS = ("practice", "attention_check", "break", "questionnaire")
_STAGE_LABELS = {"practice": "Practice", "questionnaire": "Questionnaire"}


def _progress(ctx: TabletContext, session_id: int, prompt) -> dict[str, Any]:  # noqa: ANN001 - a Prompt
    """Trial k of N (main trials only: no practice, checks, breaks or questionnaires) and page k of n.

    Prompts of other steps get a ``stage_label`` ("Practice", "Questionnaire") instead.
    Prompt-context keys ``trial_number``, ``trial_count``, ``screen_index`` and
    ``screen_count`` override what is derived from the session's plan.
    """
    out: dict[str, Any] = {"trial_number": None, "trial_count": None, "screen_index": None,
                           "screen_count": None}
    trials = ctx.db.trials(session_id)
    main = [t.trial_index for t in trials if t.trial_kind not in NOT_MAIN_TRIALS]
    step = next((t for t in trials if t.trial_index == prompt.trial_index), None)
    if step is not None and step.trial_index in main:
        out.update(trial_number=main.index(step.trial_index) + 1, trial_count=len(main))
    if step is not None and prompt.instrument_id in step.questionnaires:
        out.update(screen_index=step.questionnaires.index(prompt.instrument_id) + 1,
                   screen_count=len(step.questionnaires))
    pctx = prompt.context or {}
    out.update({k: pctx[k] for k in out if isinstance(pctx.get(k), int)})
    if out["screen_index"] is None:    # not in the plan: count what is open now
        out.update(screen_index=1, screen_count=len(ctx.db.open_prompts(session_id)) or 1)
    out["stage_label"] = _STAGE_LABELS.get(step.trial_kind, "") if step is not None else ""
    return out


def _attention(prompt, inst: Instrument) -> dict[str, Any]:  # noqa: ANN001 - a Prompt
    """An attention check's instruction and the items it is about (shown inside those items)."""
    pctx = prompt.context or {}
    instruction = str(pctx.get("instruction") or "") if (pctx.get("trial_kind") == "attention_check"
                                                         or pctx.get("expect")) else ""
    expect = pctx.get("expect") if isinstance(pctx.get("expect"), dict) else {}
    items = [k for k in expect if k in inst.item_ids] if instruction else []
    return {"check_instruction": instruction, "check_items": items}


def _form_ctx(ctx: TabletContext, session_id: int, prompt, inst: Instrument,  # noqa: ANN001 - a Prompt
              values: dict[str, Any], errors: dict[str, str], submission_id: str) -> dict[str, Any]:
    return dict(inst=inst, prompt=prompt, values=values, errors=errors, submission_id=submission_id,
                **_progress(ctx, session_id, prompt), **_attention(prompt, inst))


#: How a refused screen is answered: status, title, ``X-Submission`` header (None: none), kind.
_REFUSAL_REPLY = {"not_found": (404, "Not found", None, "error"),
                  "closed": (409, "Already recorded", "closed", "info"),
                  "duplicate": (409, "Already recorded", "duplicate", "info"),
                  "unknown_instrument": (500, "Questionnaire missing", None, "error"),
                  "invalid": (422, "Cannot save", "invalid", "error"),
                  "other_channel": (409, "Answer in the headset", "other_channel", "info")}


def _refusal_page(ctx: TabletContext, e: ScreenRefused) -> HTMLResponse:
    """The page for a screen :mod:`questionnaires.submission` refused."""
    if e.reason == "other_session":
        return _refused(ctx, str(e))
    status, title, header, kind = _REFUSAL_REPLY[e.reason]
    return ctx.message(title, str(e), status, kind=kind, headers={"X-Submission": header} if header else None)


@router.get("/t/prompt/{prompt_id}")
async def prompt_page(ctx: Ctx, prompt_id: RowId, request: Request) -> Response:
    def work() -> Response:
        sid = tablet_session(ctx, request)
        if sid is None:
            return _refused(ctx, "This tablet has not joined a session.")
        try:
            p = load_prompt(ctx.db, sid, prompt_id)
        except ScreenRefused as e:
            return _refusal_page(ctx, e)
        if p.status != "open":
            return ctx.message("Already done", "This questionnaire was already answered or closed. "
                               "Nothing was changed.", 200)
        if answer_channel(p) != TABLET:
            return ctx.page("headset.html", prompt=p)
        inst = ctx.instruments.get(p.instrument_id)
        if inst is None:
            return ctx.message("Questionnaire missing", f"Unknown questionnaire '{p.instrument_id}'. "
                               "Please call the experimenter.", 500, kind="error")
        return ctx.page("form.html", request=request, **_form_ctx(ctx, sid, p, inst, {}, {}, uuid.uuid4().hex))
    return await run_in_threadpool(work)


@router.post("/t/prompt/{prompt_id}")
async def submit(ctx: Ctx, prompt_id: RowId, request: Request) -> Response:
    t_start = time.perf_counter()
    sid = await run_in_threadpool(tablet_session, ctx, request)
    if sid is None:
        return _refused(ctx, "This tablet has not joined a session.")
    form = await form_body(request)
    if not csrf_ok(ctx.secret, request, first(form, CSRF_FIELD)):
        return ctx.message("Cannot save", "The form was out of date. Nothing was changed; please reload.", 403,
                           kind="error", headers={"X-Submission": "forbidden"})
    submission_id = first(form, "submission_id").strip()
    client = f"{request.client.host if request.client else '?'} {request.headers.get('user-agent', '')[:80]}"

    def check() -> Response | CheckedScreen:
        """A refusal page, or the validated screen to store (:mod:`questionnaires.submission`)."""
        try:
            p = load_prompt(ctx.db, sid, prompt_id)
        except ScreenRefused as e:
            return _refusal_page(ctx, e)
        if first(form, "prompt_id", str(prompt_id)) != str(prompt_id):
            return ctx.message("Cannot save", "The form does not belong to this page. Please reload.", 400,
                               kind="error")
        if not submission_id or len(submission_id) > 128:
            return ctx.message("Cannot save", "The form was incomplete (no submission id). Please reload.",
                               400, kind="error")
        raw = {k: v for k, v in form.items() if k not in FORM_FIELDS}
        try:
            return check_prompt(p, ctx.instruments, raw, TABLET)
        except ScreenRefused as e:
            return _refusal_page(ctx, e)
        except AnswerError as e:
            values = {k: v[0] for k, v in raw.items() if v}
            r = ctx.page("form.html", 422, request=request,
                         **_form_ctx(ctx, sid, p, ctx.instruments[p.instrument_id], values, e.problems,
                                     submission_id))
            r.headers["X-Submission"] = "invalid"
            return r

    t_check = time.perf_counter()
    checked = await run_in_threadpool(check)
    if isinstance(checked, Response):
        return checked
    t_checked = time.perf_counter()
    try:  # the reply waits for the commit (durable) without holding a worker thread
        receipt = await asyncio.wrap_future(ctx.committer.submit_future(prompt_id, checked.answers, submission_id,
                                                                        client))
    except (DuplicateSubmission, PromptClosed, InvalidAnswer, UnknownPrompt) as e:
        return _refusal_page(ctx, refusal_for(e))
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
