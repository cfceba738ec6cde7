"""The experimenter's pages (``/x/...``): sessions, one session's progress, control buttons.

Progress, current trial, open prompts, stream health and recent events of a session, and
buttons that append ``experimenter_command`` events (``pause``, ``resume``, ``repeat``,
``skip``, ``turn``, ``abort``; through ``db.request_control``) for the orchestrator to act on.
The JSON view of the same figures is in :mod:`questionnaires.tablet_api`.
"""
from __future__ import annotations

import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from questionnaires import tokens
from questionnaires.tablet_context import (EXPERIMENTER_COOKIE, TABLET_TOKEN_MAX_AGE_S, Ctx, TabletContext, first,
                                           form_body)
from vr_study.storage.database import CONTROL_EVENT

router = APIRouter()
#: Event kind the experimenter page writes; the orchestrator reads it.
COMMAND_EVENT = CONTROL_EVENT
#: Buttons of the experimenter page: command -> label (all in ``vr_study.storage.CONTROL_COMMANDS``).
COMMANDS = {"pause": "Pause", "resume": "Resume", "repeat": "Repeat trial", "skip": "Skip trial",
            "turn": "End participant's turn", "abort": "Abort session"}
#: Event kinds shown as "stream health" (latest payload of each).
STREAM_EVENT_PREFIXES = ("stream", "pose_stream", "render")


def is_experimenter(ctx: TabletContext, request: Request) -> bool:
    """True for a request with the experimenter's login cookie or ``Authorization: Bearer TOKEN``."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and secrets.compare_digest(auth[7:].strip(), ctx.experimenter_token):
        return True
    return tokens.verify(ctx.secret, request.cookies.get(EXPERIMENTER_COOKIE), "experimenter",
                         TABLET_TOKEN_MAX_AGE_S) == "x"


def session_status(ctx: TabletContext, session_id: int) -> dict[str, Any]:
    """The figures of the session page (also served as JSON)."""
    db = ctx.db
    info = db.session(session_id)
    trials = db.trials(session_id)
    done = [t for t in trials if t.status in ("done", "skipped")]
    current = next((t for t in trials if t.status == "running"), None) or \
        next((t for t in trials if t.status == "pending"), None)
    events = db.events(session_id)
    stream: dict[str, Any] = {}
    for e in events:
        if e.kind.startswith(STREAM_EVENT_PREFIXES):
            stream[e.kind] = {"at": e.wall_at, **e.payload}
    commands = [e for e in events if e.kind == COMMAND_EVENT]
    return {
        "session_id": info.session_id, "participant_id": info.participant_id, "code": info.code,
        "status": info.status, "trials_total": len(trials), "trials_done": len(done),
        "current_trial": None if current is None else {
            "trial_index": current.trial_index, "status": current.status, "kind": current.trial_kind,
            "block": current.block, "method": current.method, "emotion": current.emotion,
            "clip_id": current.clip_id, "attempt": current.attempt},
        "open_prompts": [{"prompt_id": p.prompt_id, "trial_index": p.trial_index,
                          "instrument_id": p.instrument_id, "opened_at": p.opened_at}
                         for p in db.open_prompts(session_id)],
        "stream_health": stream,
        "last_command": None if not commands else {"command": commands[-1].payload.get("command"),
                                                   "at": commands[-1].wall_at},
        "recent_events": [{"at": e.wall_at, "kind": e.kind, "trial_index": e.trial_index}
                          for e in events[-12:]][::-1],
    }


def session_exists(ctx: TabletContext, session_id: int) -> bool:
    try:
        ctx.db.session(session_id)
    except KeyError:
        return False
    return True


def _refused(ctx: TabletContext) -> HTMLResponse:
    return ctx.message("Not allowed", "Experimenter login required.", 403, link="/x/login", link_label="Log in",
                       kind="error")


def _login(ctx: TabletContext, token: str) -> Response:
    if not secrets.compare_digest(token.strip(), ctx.experimenter_token):
        return ctx.page("exp_login.html", 403, error="Wrong experimenter token.")
    r = RedirectResponse("/x/", status_code=303)
    r.set_cookie(EXPERIMENTER_COOKIE, tokens.sign(ctx.secret, "experimenter", "x"), max_age=TABLET_TOKEN_MAX_AGE_S,
                 httponly=True, samesite="strict", path="/x")
    return r


@router.get("/x/login")
async def login_page(ctx: Ctx, token: str = "") -> Response:
    if token:
        return _login(ctx, token)
    return ctx.page("exp_login.html", error=None)


@router.post("/x/login")
async def login(ctx: Ctx, request: Request) -> Response:
    form = await form_body(request)
    return _login(ctx, first(form, "token"))


@router.get("/x/")
async def index(ctx: Ctx, request: Request, token: str = "") -> Response:
    if token:                      # /x/?token=... works like /x/login?token=...
        return _login(ctx, token)
    if not is_experimenter(ctx, request):
        return _refused(ctx)
    sessions = await run_in_threadpool(ctx.db.sessions)
    return ctx.page("exp_index.html", sessions=sessions)


@router.get("/x/session/{session_id}")
async def session_page(ctx: Ctx, session_id: int, request: Request) -> Response:
    if not is_experimenter(ctx, request):
        return _refused(ctx)
    if not await run_in_threadpool(session_exists, ctx, session_id):
        return ctx.message("Not found", f"No session {session_id}.", 404, link="/x/", link_label="Sessions")
    status = await run_in_threadpool(session_status, ctx, session_id)
    return ctx.page("exp_session.html", s=status, commands=COMMANDS)


@router.post("/x/session/{session_id}/command")
async def command(ctx: Ctx, session_id: int, request: Request) -> Response:
    if not is_experimenter(ctx, request):
        return JSONResponse({"error": "experimenter login required"}, status_code=403)
    form = await form_body(request)
    cmd = first(form, "command")
    if cmd not in COMMANDS:
        return JSONResponse({"error": f"unknown command {cmd!r}; use one of {list(COMMANDS)}"}, status_code=422)

    def work() -> str | None:
        if not session_exists(ctx, session_id):
            return None
        st = session_status(ctx, session_id)
        trial_index = st["current_trial"]["trial_index"] if st["current_trial"] else None
        command_id = uuid.uuid4().hex
        ctx.db.request_control(session_id, cmd, source="experimenter_page", command_id=command_id,
                               trial=trial_index)
        return command_id
    command_id = await run_in_threadpool(work)
    if command_id is None:
        return JSONResponse({"error": f"no session {session_id}"}, status_code=404)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"command": cmd, "command_id": command_id})
    return RedirectResponse(f"/x/session/{session_id}", status_code=303)
