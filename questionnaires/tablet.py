"""The tablet and experimenter web pages (FastAPI), talking to the study database only.

Participant side (``/t/...``): a tablet joins a session by its short code and gets a signed
cookie bound to that session; it then shows the session's oldest open prompt as one
screen, or "please wait" (the page polls ``/t/api/state`` once a second). The server checks
every submitted screen against its instrument (every required item present and in range,
nothing unknown) before it is stored; a submission id rendered into each form makes a
replay (double tap, back button, network retry) harmless: it is refused and nothing
changes. Requests without the cookie, or for another session's prompts, get 403.

Screens that arrive together (several tablets tapping at once) are stored by one
:class:`vr_study.storage.GroupCommitter`: one transaction and one disk flush for the lot,
each screen in its own savepoint, so each is accepted or refused on its own. A tablet's
reply is sent only after its rows are committed (``synchronous=FULL`` on SQLite).

Experimenter side (``/x/...``, separate token): progress, current trial, open prompts,
stream health and recent events of a session, and buttons that append
``experimenter_command`` events (``pause``, ``resume``, ``repeat``, ``skip``, ``turn``,
``abort``; through ``db.request_control``) for the orchestrator to act on.

The server keeps no state of its own: a restarted server (same database) accepts the
tablets' cookies and the forms they were showing, because the signing secret lives in the
database's ``meta`` table.
"""
from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders

from questionnaires.instruments import (ChoiceItem, Instrument, LikertItem, SemanticDifferentialItem, TextItem,
                                        load_instruments)
from questionnaires.scoring import AnswerError, validate_answers
from questionnaires import tokens
from vr_study.storage import (DuplicateSubmission, GroupCommitter, InvalidAnswer, PromptClosed, StudyDatabase,
                              UnknownPrompt)
from vr_study.storage.database import CONTROL_EVENT

HERE = Path(__file__).resolve().parent
TABLET_COOKIE = "vrs_tablet"
EXPERIMENTER_COOKIE = "vrs_experimenter"
#: How long a tablet's join cookie stays valid (seconds).
TABLET_TOKEN_MAX_AGE_S = 24 * 3600
#: Event kind the experimenter page writes; the orchestrator reads it.
COMMAND_EVENT = CONTROL_EVENT
#: Buttons of the experimenter page: command -> label (all in ``vr_study.storage.CONTROL_COMMANDS``).
COMMANDS = {"pause": "Pause", "resume": "Resume", "repeat": "Repeat trial", "skip": "Skip trial",
            "turn": "End participant's turn", "abort": "Abort session"}
#: Event kinds shown as "stream health" (latest payload of each).
STREAM_EVENT_PREFIXES = ("stream", "pose_stream", "render")
_META_SECRET = "tablet_secret"
_META_EXP_TOKEN = "experimenter_token"
_FIELDS = {"prompt_id", "submission_id"}

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # everything comes from this server: no CDN, no inline script
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'",
}


class _SecurityHeaders:
    """ASGI middleware: the security headers on every reply (static files stay cacheable).

    A plain ASGI wrapper rather than ``@app.middleware("http")``, which passes every request
    through an extra task and body stream (CPU the tablets' round trip pays for).
    """

    def __init__(self, app) -> None:  # noqa: ANN001 - any ASGI app
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in _SECURITY_HEADERS.items():
                    if not (k == "Cache-Control" and static):
                        headers.setdefault(k, v)
            await send(message)
        await self.app(scope, receive, send_with_headers)


def _meta_secret(db: StudyDatabase, key: str, make) -> str:
    value = db.get_meta(key)
    if value is None:
        db.set_meta(key, make())
        value = db.get_meta(key)
    return value


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.tests["likert"] = lambda it: isinstance(it, LikertItem)
    env.tests["semdiff"] = lambda it: isinstance(it, SemanticDifferentialItem)
    env.tests["choice"] = lambda it: isinstance(it, ChoiceItem)
    env.tests["freetext"] = lambda it: isinstance(it, TextItem)
    return env


async def _form_body(request: Request) -> dict[str, list[str]]:
    """The posted fields as lists of strings (urlencoded forms or a JSON object)."""
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): ([str(x) for x in v] if isinstance(v, list) else [("" if v is None else str(v))])
                for k, v in data.items()}
    try:
        return urllib.parse.parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=500)
    except (UnicodeDecodeError, ValueError):
        return {}


def create_app(db: StudyDatabase, instruments_dir: str | Path | None = None,
               experimenter_token: str | None = None, *, secret: bytes | None = None,
               poll_interval_s: float = 1.0) -> FastAPI:
    """Build the tablet + experimenter web app over an open :class:`StudyDatabase`.

    ``instruments_dir``: folder of instrument YAML files (default: the shipped ones).
    ``experimenter_token``: the experimenter page's password; by default one is generated
    once and kept in the database (``app.state.experimenter_token``). ``secret``: key that
    signs tablet cookies; by default kept in the database so restarts keep tablets joined.
    ``poll_interval_s``: how often waiting pages ask for the next prompt (seconds).
    """
    instruments = load_instruments(instruments_dir)
    env = _templates()
    if secret is None:
        secret = bytes.fromhex(_meta_secret(db, _META_SECRET, lambda: secrets.token_hex(32)))
    if experimenter_token is None:
        experimenter_token = _meta_secret(db, _META_EXP_TOKEN, lambda: secrets.token_urlsafe(12))
    exp_token: str = experimenter_token
    # Every submitted screen goes through one committer: screens arriving together share a
    # transaction and a flush (the database's own lock keeps this process's writers in line).
    committer = GroupCommitter(db)

    app = FastAPI(title="vr-study tablet", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.db = db
    app.state.instruments = instruments
    app.state.experimenter_token = exp_token
    app.state.committer = committer
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    app.add_middleware(_SecurityHeaders)

    def page(template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("poll_interval_ms", int(poll_interval_s * 1000))
        return HTMLResponse(env.get_template(template).render(**ctx), status_code=status)

    def message(title: str, text: str, status: int, *, link: str | None = "/t/", link_label: str = "Continue",
                kind: str = "info", headers: dict[str, str] | None = None) -> HTMLResponse:
        r = page("message.html", status, title=title, text=text, link=link, link_label=link_label, kind=kind)
        for k, v in (headers or {}).items():
            r.headers[k] = v
        return r

    # ---------------------------------------------------------------- tablet auth
    def tablet_session(request: Request) -> int | None:
        subject = tokens.verify(secret, request.cookies.get(TABLET_COOKIE), "tablet", TABLET_TOKEN_MAX_AGE_S)
        return int(subject) if subject is not None and subject.isdigit() else None

    def refused(reason: str) -> HTMLResponse:
        return message("Not allowed", reason, 403, link="/t/join", link_label="Join a session", kind="error")

    # ---------------------------------------------------------------- tablet pages
    @app.get("/")
    async def root() -> Response:
        return RedirectResponse("/t/", status_code=303)

    @app.get("/t/join")
    async def join_page(code: str = "") -> Response:
        return page("join.html", code=code[:16], error=None)

    @app.post("/t/join")
    async def join(request: Request) -> Response:
        form = await _form_body(request)
        code = (form.get("code") or [""])[0].strip().upper()[:16]
        info = await run_in_threadpool(db.session_by_code, code) if code else None
        if info is None:
            return page("join.html", 403, code=code,
                        error=f"No session has the code '{code}'. Check the code shown to the experimenter."
                        if code else "Please type the session code.")
        if info.status in ("finished", "aborted"):
            return page("join.html", 403, code=code, error=f"Session '{code}' has ended.")
        r = RedirectResponse("/t/", status_code=303)
        r.set_cookie(TABLET_COOKIE, tokens.sign(secret, "tablet", str(info.session_id)),
                     max_age=TABLET_TOKEN_MAX_AGE_S, httponly=True, samesite="strict", path="/")
        return r

    def _state(session_id: int) -> dict[str, Any]:
        info = db.session(session_id)
        prompts = db.open_prompts(session_id)
        return {"session_status": info.status, "prompt_id": prompts[0].prompt_id if prompts else None,
                "open_prompts": len(prompts)}

    @app.get("/t/api/state")
    async def api_state(request: Request) -> Response:
        sid = tablet_session(request)
        if sid is None:
            return JSONResponse({"error": "join the session first"}, status_code=403)
        return JSONResponse(await run_in_threadpool(_state, sid))

    @app.get("/t/")
    async def tablet_home(request: Request) -> Response:
        sid = tablet_session(request)
        if sid is None:
            return RedirectResponse("/t/join", status_code=303)
        state = await run_in_threadpool(_state, sid)
        if state["prompt_id"] is not None:
            return RedirectResponse(f"/t/prompt/{state['prompt_id']}", status_code=303)
        if state["session_status"] in ("finished", "aborted"):
            return message("Thank you!", "The session is over. Please hand the tablet back to the experimenter.",
                           200, link="/t/join", link_label="Join another session (experimenter)")
        return page("wait.html")

    def _progress(session_id: int, prompt) -> dict[str, Any]:
        """Trial N of M (among steps with questionnaires) and page k of n (within the step).

        Prompt-context keys ``trial_number``, ``trial_count``, ``screen_index`` and
        ``screen_count`` override what is derived from the session's plan.
        """
        out: dict[str, Any] = {"trial_number": None, "trial_count": None, "screen_index": None,
                               "screen_count": None}
        rated = [t for t in db.trials(session_id) if t.questionnaires]
        for n, t in enumerate(rated, start=1):
            if t.trial_index == prompt.trial_index:
                out.update(trial_number=n, trial_count=len(rated))
                if prompt.instrument_id in t.questionnaires:
                    out.update(screen_index=t.questionnaires.index(prompt.instrument_id) + 1,
                               screen_count=len(t.questionnaires))
        ctx = prompt.context or {}
        out.update({k: ctx[k] for k in out if isinstance(ctx.get(k), int)})
        if out["screen_index"] is None:    # not in the plan: count what is open now
            out.update(screen_index=1, screen_count=len(db.open_prompts(session_id)) or 1)
        return out

    def _form_ctx(session_id: int, prompt, inst: Instrument, values: dict[str, Any], errors: dict[str, str],
                  submission_id: str) -> dict[str, Any]:
        return dict(inst=inst, prompt=prompt, values=values, errors=errors, submission_id=submission_id,
                    **_progress(session_id, prompt))

    def _load_prompt(session_id: int, prompt_id: int):
        """(prompt, refusal response or None)."""
        try:
            p = db.prompt(prompt_id)
        except UnknownPrompt:
            return None, message("Not found", "There is no such questionnaire.", 404, kind="error")
        if p.session_id != session_id:
            return None, refused("This questionnaire belongs to another session.")
        return p, None

    @app.get("/t/prompt/{prompt_id}")
    async def prompt_page(prompt_id: int, request: Request) -> Response:
        sid = tablet_session(request)
        if sid is None:
            return refused("This tablet has not joined a session.")

        def work():
            p, refusal = _load_prompt(sid, prompt_id)
            if refusal is not None:
                return refusal
            if p.status != "open":
                return message("Already done", "This questionnaire was already answered or closed. "
                               "Nothing was changed.", 200)
            inst = instruments.get(p.instrument_id)
            if inst is None:
                return message("Questionnaire missing", f"Unknown questionnaire '{p.instrument_id}'. "
                               "Please call the experimenter.", 500, kind="error")
            return page("form.html", **_form_ctx(sid, p, inst, {}, {}, uuid.uuid4().hex))
        return await run_in_threadpool(work)

    @app.post("/t/prompt/{prompt_id}")
    async def submit(prompt_id: int, request: Request) -> Response:
        t_start = time.perf_counter()
        sid = tablet_session(request)
        if sid is None:
            return refused("This tablet has not joined a session.")
        form = await _form_body(request)
        submission_id = (form.get("submission_id") or [""])[0].strip()
        client = f"{request.client.host if request.client else '?'} {request.headers.get('user-agent', '')[:80]}"

        def check() -> Response | dict[str, Any]:
            """A refusal page, or the validated answers to store."""
            p, refusal = _load_prompt(sid, prompt_id)
            if refusal is not None:
                return refusal
            posted_pid = (form.get("prompt_id") or [str(prompt_id)])[0]
            if posted_pid != str(prompt_id):
                return message("Cannot save", "The form does not belong to this page. Please reload.", 400,
                               kind="error")
            if not submission_id or len(submission_id) > 128:
                return message("Cannot save", "The form was incomplete (no submission id). Please reload.",
                               400, kind="error")
            if p.status != "open":
                return message("Already recorded", "These answers were already recorded; nothing was changed.",
                               409, headers={"X-Submission": "closed"})
            inst = instruments.get(p.instrument_id)
            if inst is None:
                return message("Questionnaire missing", f"Unknown questionnaire '{p.instrument_id}'.", 500,
                               kind="error")
            raw = {k: v for k, v in form.items() if k not in _FIELDS}
            try:
                return validate_answers(inst, raw)
            except AnswerError as e:
                values = {k: v[0] for k, v in raw.items() if v}
                r = page("form.html", 422, **_form_ctx(sid, p, inst, values, e.problems, submission_id))
                r.headers["X-Submission"] = "invalid"
                return r

        t_check = time.perf_counter()
        checked = await run_in_threadpool(check)
        if isinstance(checked, Response):
            return checked
        t_checked = time.perf_counter()
        try:  # the reply waits for the commit (durable) without holding a worker thread
            receipt = await asyncio.wrap_future(committer.submit_future(prompt_id, checked, submission_id, client))
        except DuplicateSubmission:
            return message("Already recorded", "These answers were already recorded; nothing was changed.",
                           409, headers={"X-Submission": "duplicate"})
        except PromptClosed:
            return message("Already recorded", "This questionnaire was already answered or closed; "
                           "nothing was changed.", 409, headers={"X-Submission": "closed"})
        except (InvalidAnswer, UnknownPrompt) as e:
            return message("Cannot save", f"The answers could not be stored ({e}). Nothing was changed; "
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

    # ---------------------------------------------------------------- experimenter
    def is_experimenter(request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and secrets.compare_digest(auth[7:].strip(), exp_token):
            return True
        return tokens.verify(secret, request.cookies.get(EXPERIMENTER_COOKIE), "experimenter",
                             TABLET_TOKEN_MAX_AGE_S) == "x"

    def exp_refused() -> HTMLResponse:
        return message("Not allowed", "Experimenter login required.", 403, link="/x/login", link_label="Log in",
                       kind="error")

    @app.get("/x/login")
    async def exp_login_page(token: str = "") -> Response:
        if token:
            return _exp_login(token)
        return page("exp_login.html", error=None)

    @app.post("/x/login")
    async def exp_login(request: Request) -> Response:
        form = await _form_body(request)
        return _exp_login((form.get("token") or [""])[0])

    def _exp_login(token: str) -> Response:
        if not secrets.compare_digest(token.strip(), exp_token):
            return page("exp_login.html", 403, error="Wrong experimenter token.")
        r = RedirectResponse("/x/", status_code=303)
        r.set_cookie(EXPERIMENTER_COOKIE, tokens.sign(secret, "experimenter", "x"), max_age=TABLET_TOKEN_MAX_AGE_S,
                     httponly=True, samesite="strict", path="/x")
        return r

    @app.get("/x/")
    async def exp_index(request: Request, token: str = "") -> Response:
        if token:                      # /x/?token=... works like /x/login?token=...
            return _exp_login(token)
        if not is_experimenter(request):
            return exp_refused()
        sessions = await run_in_threadpool(db.sessions)
        return page("exp_index.html", sessions=sessions)

    def _status(session_id: int) -> dict[str, Any]:
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

    def _session_or_404(session_id: int):
        try:
            return db.session(session_id)
        except KeyError:
            return None

    @app.get("/x/api/session/{session_id}")
    async def exp_status(session_id: int, request: Request) -> Response:
        if not is_experimenter(request):
            return JSONResponse({"error": "experimenter login required"}, status_code=403)
        if await run_in_threadpool(_session_or_404, session_id) is None:
            return JSONResponse({"error": f"no session {session_id}"}, status_code=404)
        return JSONResponse(await run_in_threadpool(_status, session_id))

    @app.get("/x/session/{session_id}")
    async def exp_session(session_id: int, request: Request) -> Response:
        if not is_experimenter(request):
            return exp_refused()
        if await run_in_threadpool(_session_or_404, session_id) is None:
            return message("Not found", f"No session {session_id}.", 404, link="/x/", link_label="Sessions")
        status = await run_in_threadpool(_status, session_id)
        return page("exp_session.html", s=status, commands=COMMANDS)

    @app.post("/x/session/{session_id}/command")
    async def exp_command(session_id: int, request: Request) -> Response:
        if not is_experimenter(request):
            return JSONResponse({"error": "experimenter login required"}, status_code=403)
        form = await _form_body(request)
        command = (form.get("command") or [""])[0]
        if command not in COMMANDS:
            return JSONResponse({"error": f"unknown command {command!r}; use one of {list(COMMANDS)}"},
                                status_code=422)

        def work():
            if _session_or_404(session_id) is None:
                return None
            st = _status(session_id)
            trial_index = st["current_trial"]["trial_index"] if st["current_trial"] else None
            command_id = uuid.uuid4().hex
            db.request_control(session_id, command, source="experimenter_page", command_id=command_id,
                               trial=trial_index)
            return command_id
        command_id = await run_in_threadpool(work)
        if command_id is None:
            return JSONResponse({"error": f"no session {session_id}"}, status_code=404)
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"command": command, "command_id": command_id})
        return RedirectResponse(f"/x/session/{session_id}", status_code=303)

    return app


class RunningServer(str):
    """The base URL of a server started by :func:`serve` (a ``str``), with ``stop()``."""

    url: str
    app: FastAPI
    _server: Any
    _thread: threading.Thread

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask uvicorn to finish and wait for its thread (at most ``timeout_s`` seconds)."""
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self.app.state.committer.close(timeout_s)

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(db: StudyDatabase, host: str = "127.0.0.1", port: int = 0, *, instruments_dir: str | Path | None = None,
          experimenter_token: str | None = None, secret: bytes | None = None, poll_interval_s: float = 1.0,
          startup_timeout_s: float = 15.0, log_level: str = "warning") -> RunningServer:
    """Run the app with uvicorn in a background thread; return its URL once it listens.

    ``port=0`` picks a free port. The returned :class:`RunningServer` is the base URL
    (``http://127.0.0.1:PORT``) and has ``.stop()``, ``.app`` (for the experimenter token:
    ``.app.state.experimenter_token``).
    """
    import uvicorn

    app = create_app(db, instruments_dir, experimenter_token, secret=secret, poll_interval_s=poll_interval_s)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="off",
                            timeout_keep_alive=30)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="vr-study-tablet", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the tablet server did not start on {host}:{port}")
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://{host}:{bound_port}"
    running = RunningServer(url)
    running.url, running.app, running._server, running._thread = url, app, server, thread
    return running
