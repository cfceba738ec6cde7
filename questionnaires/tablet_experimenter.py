"""The experimenter's pages (``/x/...``): sessions, one session's progress, control buttons.

Progress, current trial, open prompts (answered on the tablet or in the headset), whether
a headset panel is drawn (:mod:`questionnaires.panel_presence`), stream health and recent
events of a session, and buttons that append ``experimenter_command`` events (``pause``,
``resume``, ``repeat``, ``skip``, ``turn``, ``abort``; through ``db.request_control``) for
the orchestrator to act on.
The JSON view of the same figures is in :mod:`questionnaires.tablet_api`.

Login is a form POST of the experimenter token (never a token in a URL); it sets a signed
``vrs_experimenter`` cookie. Wrong tokens count against the client's address (lockout as
for join codes). Scripts may send ``Authorization: Bearer TOKEN`` instead of the cookie.
Every cookie-authenticated form carries a CSRF field. "Release tablet" unbinds the device
that holds a session and gives the session a new join code, for a tablet that broke, ran
out of battery, or was taken by someone else.
"""
from __future__ import annotations

import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from questionnaires import tokens
from questionnaires.panel_presence import STALE_S, read_presence
from questionnaires.submission import HEADSET, answer_channel
from questionnaires.tablet_context import (EXPERIMENTER_COOKIE, TABLET_TOKEN_MAX_AGE_S, Ctx, RowId, TabletContext,
                                           first, form_body, set_cookie)
from questionnaires.tablet_guard import CSRF_FIELD, client_key, csrf_ok
from questionnaires.tablet_participant import (ENDED_STATES, PAIRED_EVENT, REFUSED_EVENT, RELEASED_EVENT,
                                               binding_key, release_tablet)
from vr_study.storage.database import CONTROL_EVENT

router = APIRouter()
#: Event kind the experimenter page writes; the orchestrator reads it.
COMMAND_EVENT = CONTROL_EVENT
#: Buttons of the experimenter page: command -> label (all in ``vr_study.storage.CONTROL_COMMANDS``).
COMMANDS = {"pause": "Pause", "resume": "Resume", "repeat": "Repeat trial", "skip": "Skip trial",
            "turn": "End participant's turn", "abort": "Abort session"}
#: Event kinds shown as "stream health" (latest payload of each).
STREAM_EVENT_PREFIXES = ("stream", "pose_stream", "render")


def experimenter_auth(ctx: TabletContext, request: Request) -> str | None:
    """``"bearer"`` (``Authorization: Bearer TOKEN``), ``"cookie"`` (logged in) or None."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and secrets.compare_digest(auth[7:].strip().encode(),
                                                                      ctx.experimenter_token.encode()):
        return "bearer"
    if tokens.verify(ctx.secret, request.cookies.get(EXPERIMENTER_COOKIE), "experimenter",
                     TABLET_TOKEN_MAX_AGE_S) == "x":
        return "cookie"
    return None


def is_experimenter(ctx: TabletContext, request: Request) -> bool:
    """True for a request with the experimenter's login cookie or bearer token."""
    return experimenter_auth(ctx, request) is not None


def _form_allowed(ctx: TabletContext, request: Request, form: dict[str, list[str]]) -> bool:
    """A state-changing post is allowed: bearer token, or login cookie plus the page's CSRF field."""
    how = experimenter_auth(ctx, request)
    return how == "bearer" or (how == "cookie" and csrf_ok(ctx.secret, request, first(form, CSRF_FIELD)))


def tablet_pairing(ctx: TabletContext, session_id: int, events: list) -> dict[str, Any]:
    """Whether a tablet holds the session, since when, and joins refused since then."""
    held = bool(ctx.db.get_meta(binding_key(session_id)))
    pair_events = [e for e in events if e.kind in (PAIRED_EVENT, RELEASED_EVENT)]
    since = pair_events[-1].wall_at if pair_events and pair_events[-1].kind == PAIRED_EVENT and held else None
    last = max((e.event_id for e in pair_events), default=0)
    refused = [e for e in events if e.kind == REFUSED_EVENT and e.event_id > last]
    return {"paired": held, "paired_at": since, "refused_joins": len(refused),
            "locked_s": round(ctx.limiters.session.locked_for_s(str(session_id)), 1)}


#: Where a prompt is answered, in words (:func:`questionnaires.submission.answer_channel`).
CHANNEL_LABELS = {"tablet": "on the tablet", "headset": "in the headset"}


def headset_panel(db, session_id: int, participant_id: str, prompts: list) -> dict[str, Any] | None:  # noqa: ANN001
    """Whether a headset panel shows this session's questionnaires (its heartbeat,
    :mod:`questionnaires.panel_presence`); None when the session has no headset prompt and
    no panel ever connected (a tablet-only study)."""
    presence = read_presence(db, session_id)
    waiting = [p.prompt_id for p in prompts if p.status == "open" and answer_channel(p) == HEADSET]
    if presence is None and not any(answer_channel(p) == HEADSET for p in prompts):
        return None
    return {"connected": bool(presence and presence.connected),
            "client": presence.label if presence else None,
            "seen_s_ago": round(presence.age_s, 1) if presence else None,
            "showing_prompt_id": presence.prompt_id if presence and presence.connected else None,
            "waiting_prompt_ids": waiting, "stale_after_s": STALE_S,
            "start_hint": f"vr-study xr run ... --questionnaires STUDY.yaml --participant {participant_id}, "
                          "or pair the WebXR page (/w/) with the session's code"}


#: Human-readable session states.
SESSION_STATES = {"created": "Waiting to start", "running": "Running", "paused": "Paused",
                  "finished": "Finished", "aborted": "Aborted", "superseded": "Superseded (a newer session replaced it)"}
#: Event the session runner writes when it scores an attention check (payload ``prompt_id``, ``passed``).
CHECK_RESULT_EVENT = "attention_check_result"


def attention_check_passed(expect: dict[str, Any], answers: dict[str, Any]) -> bool | None:
    """Whether the answers of an attention-check screen are the ones its instruction asked for.

    ``expect``: item id -> requested answer (the spec's ``attention_checks.expect``);
    ``answers``: item id -> stored answer. None when nothing is expected (nothing to check).
    A number is compared by value (``7 == "7" == 7.0``), text without case or surrounding
    space. The session runner records its own verdict (``attention_check_result`` events),
    which the page prefers; this function covers checks it has not scored (yet).
    """
    if not expect:
        return None

    def same(got: Any, want: Any) -> bool:
        if isinstance(want, (int, float)) and not isinstance(want, bool):
            try:
                return got is not None and not isinstance(got, bool) and float(got) == float(want)
            except (TypeError, ValueError):
                return False
        return str(got).strip().lower() == str(want).strip().lower()
    return all(item in answers and same(answers[item], want) for item, want in expect.items())


def _attention_checks(db, session_id: int, events: list) -> list[dict[str, Any]]:  # noqa: ANN001
    """Every attention-check screen of the session with its instruction and result.

    The result is the session runner's (``attention_check_result`` event) where it wrote
    one, else :func:`attention_check_passed` of the stored answers.
    """
    checks = [p for p in db.prompts(session_id)
              if (p.context or {}).get("trial_kind") == "attention_check" or "expect" in (p.context or {})]
    if not checks:
        return []
    answers: dict[int, dict[str, Any]] = {}
    for r in db.responses(session_id):
        answers.setdefault(r.prompt_id, {})[r.item_id] = r.value
    scored = {e.payload.get("prompt_id"): bool(e.payload.get("passed")) for e in events
              if e.kind == CHECK_RESULT_EVENT and "passed" in e.payload}
    out = []
    for p in checks:
        expect = dict((p.context or {}).get("expect") or {})
        got = answers.get(p.prompt_id)
        passed = scored.get(p.prompt_id, attention_check_passed(expect, got) if got is not None else None)
        result = ("waiting" if p.status == "open" else "cancelled" if p.status == "cancelled" else
                  "no expected answer" if passed is None else "passed" if passed else "FAILED")
        out.append({"prompt_id": p.prompt_id, "trial_index": p.trial_index, "instrument_id": p.instrument_id,
                    "instruction": (p.context or {}).get("instruction") or "", "expect": expect,
                    "answers": {k: got[k] for k in expect if k in got} if got else {},
                    "passed": passed if got is not None else None, "result": result,
                    "scored_by": "session" if p.prompt_id in scored else "page"})
    return out


def _paused(commands: list) -> bool:
    """Paused when the last pause/resume command was a pause."""
    last = next((e.payload.get("command") for e in reversed(commands)
                 if e.payload.get("command") in ("pause", "resume")), None)
    return last == "pause"


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
    ended = info.status in ENDED_STATES
    paused = not ended and _paused(commands)
    status_label = "Paused" if paused else SESSION_STATES.get(info.status, info.status.capitalize())
    has_trial = current is not None and not ended
    enabled = {"pause": not ended and not paused, "resume": not ended and paused, "repeat": has_trial,
               "skip": has_trial, "turn": has_trial and current.trial_kind == "interaction", "abort": not ended}
    open_prompts = db.open_prompts(session_id)
    all_prompts = db.prompts(session_id)
    return {
        "session_id": info.session_id, "participant_id": info.participant_id, "code": info.code,
        "status": info.status, "status_label": status_label, "paused": paused, "ended": ended,
        "trials_total": len(trials), "trials_done": len(done),
        "current_trial": None if current is None else {
            "trial_index": current.trial_index, "status": current.status, "kind": current.trial_kind,
            "block": current.block, "method": current.method, "emotion": current.emotion,
            "clip_id": current.clip_id, "attempt": current.attempt},
        "open_prompts": [{"prompt_id": p.prompt_id, "trial_index": p.trial_index,
                          "instrument_id": p.instrument_id, "opened_at": p.opened_at,
                          "instruction": (p.context or {}).get("instruction") or "",
                          "answer_in": answer_channel(p), "answer_in_label": CHANNEL_LABELS[answer_channel(p)]}
                         for p in open_prompts],
        "attention_checks": _attention_checks(db, session_id, events),
        "stream_health": stream,
        "last_command": None if not commands else {"command": commands[-1].payload.get("command"),
                                                   "at": commands[-1].wall_at},
        "commands_enabled": enabled,
        "recent_events": [{"at": e.wall_at, "kind": e.kind, "trial_index": e.trial_index}
                          for e in events[-12:]][::-1],
        "tablet": tablet_pairing(ctx, session_id, events),
        "headset_panel": headset_panel(db, session_id, info.participant_id, all_prompts),
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


def _login(ctx: TabletContext, request: Request, token: str) -> Response:
    client = client_key(request)
    wait_s = ctx.limiters.client.locked_for_s(f"login {client}")
    if wait_s <= 0 and secrets.compare_digest(token.strip().encode(), ctx.experimenter_token.encode()):
        ctx.limiters.client.succeed(f"login {client}")
        r = RedirectResponse("/x/", status_code=303)
        set_cookie(r, request, EXPERIMENTER_COOKIE, tokens.sign(ctx.secret, "experimenter", "x"),
                   TABLET_TOKEN_MAX_AGE_S, path="/x")
        return r
    wait_s = wait_s or ctx.limiters.client.fail(f"login {client}")
    if wait_s > 0:
        r = ctx.page("exp_login.html", 429, request=request,
                     error=f"Too many wrong tokens. Try again in {int(wait_s) + 1} seconds.")
        r.headers["Retry-After"] = str(int(wait_s) + 1)
        return r
    return ctx.page("exp_login.html", 403, request=request, error="Wrong experimenter token.")


def _no_token_in_urls(ctx: TabletContext) -> Response:
    return ctx.message("Use the login form", "Tokens in links are not accepted (they end up in browser "
                       "histories and logs). Type the experimenter token into the login form.", 400,
                       link="/x/login", link_label="Log in", kind="error")


@router.get("/x/login")
async def login_page(ctx: Ctx, request: Request) -> Response:
    if "token" in request.query_params:
        return _no_token_in_urls(ctx)
    return ctx.page("exp_login.html", request=request, error=None)


@router.post("/x/login")
async def login(ctx: Ctx, request: Request) -> Response:
    form = await form_body(request)
    if not csrf_ok(ctx.secret, request, first(form, CSRF_FIELD)):
        return ctx.page("exp_login.html", 403, request=request, error="The page was out of date. Please log in again.")
    return _login(ctx, request, first(form, "token"))


@router.get("/x/")
async def index(ctx: Ctx, request: Request) -> Response:
    if "token" in request.query_params:
        return _no_token_in_urls(ctx)
    if not is_experimenter(ctx, request):
        return _refused(ctx)
    sessions = await run_in_threadpool(ctx.db.sessions)
    return ctx.page("exp_index.html", sessions=sessions, states=SESSION_STATES)


@router.get("/x/session/{session_id}")
async def session_page(ctx: Ctx, session_id: RowId, request: Request) -> Response:
    if not is_experimenter(ctx, request):
        return _refused(ctx)
    if not await run_in_threadpool(session_exists, ctx, session_id):
        return ctx.message("Not found", f"No session {session_id}.", 404, link="/x/", link_label="Sessions")
    status = await run_in_threadpool(session_status, ctx, session_id)
    return ctx.page("exp_session.html", request=request, s=status, commands=COMMANDS)


@router.get("/x/session/{session_id}/live")
async def session_live(ctx: Ctx, session_id: RowId, request: Request) -> Response:
    """The changing part of the session page (the page swaps it in every few seconds)."""
    if not is_experimenter(ctx, request):
        return _refused(ctx)
    if not await run_in_threadpool(session_exists, ctx, session_id):
        return ctx.message("Not found", f"No session {session_id}.", 404, link="/x/", link_label="Sessions")
    status = await run_in_threadpool(session_status, ctx, session_id)
    return ctx.page("exp_session_live.html", request=request, s=status, commands=COMMANDS)


@router.post("/x/session/{session_id}/command")
async def command(ctx: Ctx, session_id: RowId, request: Request) -> Response:
    if not is_experimenter(ctx, request):
        return JSONResponse({"error": "experimenter login required"}, status_code=403)
    form = await form_body(request)
    if not _form_allowed(ctx, request, form):
        return JSONResponse({"error": "the page was out of date (CSRF check failed); reload it"}, status_code=403)
    cmd = first(form, "command")
    if cmd not in COMMANDS:
        shown = cmd if len(cmd) <= 40 else cmd[:40] + "..."            # never echo a 10,000-character value
        return JSONResponse({"error": f"unknown command {shown!r}; use one of {list(COMMANDS)}"}, status_code=422)

    def work() -> str | None:
        if not session_exists(ctx, session_id):
            return None
        st = session_status(ctx, session_id)
        if st["ended"]:
            return "ended"
        trial_index = st["current_trial"]["trial_index"] if st["current_trial"] else None
        command_id = uuid.uuid4().hex
        ctx.db.request_control(session_id, cmd, source="experimenter_page", command_id=command_id,
                               trial=trial_index)
        return command_id
    command_id = await run_in_threadpool(work)
    if command_id is None:
        return JSONResponse({"error": f"no session {session_id}"}, status_code=404)
    if command_id == "ended":
        return JSONResponse({"error": f"session {session_id} has ended; {cmd!r} no longer applies"},
                            status_code=409)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"command": cmd, "command_id": command_id})
    return RedirectResponse(f"/x/session/{session_id}", status_code=303)


@router.post("/x/session/{session_id}/release-tablet")
async def release(ctx: Ctx, session_id: RowId, request: Request) -> Response:
    """Unbind the tablet holding the session and issue a new join code."""
    if not is_experimenter(ctx, request):
        return JSONResponse({"error": "experimenter login required"}, status_code=403)
    form = await form_body(request)
    if not _form_allowed(ctx, request, form):
        return JSONResponse({"error": "the page was out of date (CSRF check failed); reload it"}, status_code=403)

    def work() -> str | None:
        if not session_exists(ctx, session_id):
            return None
        return release_tablet(ctx, session_id, source="experimenter_page")
    code = await run_in_threadpool(work)
    if code is None:
        return JSONResponse({"error": f"no session {session_id}"}, status_code=404)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"code": code})
    return RedirectResponse(f"/x/session/{session_id}", status_code=303)
