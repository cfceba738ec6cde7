"""The WebXR page for standalone headsets (``/w/...``), served next to the tablet pages.

A headset's browser (Quest Browser, Pico, any WebXR browser) opens ``https://SERVER:PORT/w/``
and pairs like a tablet: it types the session's join code (:mod:`questionnaires.tablet_participant`
checks it, rate limits and binds the session to this device; the signed cookie then lets
the page in). The page (``webxr_static/``, three.js from ``node_modules``) renders the
study's avatars from the pose stream, which reaches it over a WebSocket
(:mod:`vr_study.stream.wsbridge`), plays the speech on the stream's audio cues and shows
the in-VR questionnaire panel.

Routes: ``/w/`` the page, ``/w/join`` pairing, ``/w/model.json`` + ``/w/model.bin`` the
body model (:mod:`questionnaires.webxr_model`), ``/w/audio`` speech files (only below the
configured audio folders), ``/w/ws`` the WebSocket (poses, cues, clock pings, panel
pointer events), ``/w/static`` the page's scripts, ``/w/vendor/three`` three.js.
Everything but the join page needs the paired cookie; the WebSocket also checks Origin.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from questionnaires import tablet_participant
from questionnaires.tablet_context import HERE, Ctx, TabletContext
from vr_study.stream.wsbridge import PoseBridge, pong

router = APIRouter()
STATIC = HERE / "webxr_static"
#: Where ``npm ci`` (scripts/install.sh) puts three.js: the project's node_modules.
THREE_DIR = HERE.parent / "node_modules" / "three" / "build"
#: Speech files the page may fetch.
AUDIO_SUFFIXES = (".wav",)
#: Largest text message a page may send over the WebSocket (bytes).
MAX_WS_TEXT = 4096


class MissingThreeJs(RuntimeError):
    """three.js is not installed where the server serves it from (``path``: the missing file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fix = f"run `npm ci` in {HERE.parent} (scripts/install.sh does it)"
        super().__init__(f"{path} is missing: three.js is not installed; {self.fix}")


@dataclass
class WebXRConfig:
    """What the WebXR routes serve.

    ``bridge``: the pose-stream bridge. ``audio_roots``: folders whose ``.wav`` files the
    page may fetch (the stimulus library, the server's audio folder); ``library_dir``: where
    a cue's ``library`` path is looked up. ``model_loader``: returns a
    :class:`~questionnaires.webxr_model.WebModel` (called once, on the first request).
    ``panel_factory``: session id -> a :class:`vr_study.xr.panel_source.PanelSource`; None: a
    :class:`~questionnaires.headset_panel.QuestionnairePanel` over the tablet app's database,
    instruments and group committer (the session's headset prompts), unless ``panels`` is False. ``three_dir``: three.js's ``build`` folder (None: :data:`THREE_DIR`).
    """

    bridge: PoseBridge
    model_loader: Callable[[], Any]
    audio_roots: list[Path] = field(default_factory=list)
    library_dir: Path | None = None
    panel_factory: Callable[[int], Any] | None = None
    panels: bool = True
    three_dir: Path | None = None
    _model: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _panels: dict = field(default_factory=dict)
    _tablet: TabletContext | None = None

    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self.model_loader()
            return self._model

    def panel(self, session_id: int) -> Any:
        """The session's panel source (one per session, shared by its reconnecting pages)."""
        if self.panel_factory is None and not (self.panels and self._tablet is not None):
            return None
        with self._lock:
            if session_id not in self._panels:
                self._panels[session_id] = (self.panel_factory or self._questionnaire_panel)(session_id)
            return self._panels[session_id]

    def _questionnaire_panel(self, session_id: int) -> Any:
        from questionnaires.headset_panel import QuestionnairePanel

        t = self._tablet
        return QuestionnairePanel(t.db, t.instruments, session_id, store=t.committer, client="webxr")

    def close(self) -> None:
        """Stop the panels' background threads."""
        with self._lock:
            panels, self._panels = list(self._panels.values()), {}
        for p in panels:
            if hasattr(p, "close"):
                p.close()

    def resolve_audio(self, audio: str | None, library: str | None) -> Path | None:
        """The speech file a cue names, if it lies in an allowed folder and is a WAV file."""
        candidates = []
        if library and self.library_dir is not None:
            candidates.append(self.library_dir / library)
        if audio:
            candidates.append(Path(audio))
        roots = [r.resolve() for r in self.audio_roots + ([self.library_dir] if self.library_dir else [])]
        for c in candidates:
            try:
                p = c.resolve()
            except (OSError, RuntimeError):
                continue
            if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file() and any(p.is_relative_to(r) for r in roots):
                return p
        return None


def check_three(three_dir: Path | None = None) -> None:
    """Raise :class:`MissingThreeJs` (one line saying how to fix it) when three.js is absent
    from ``three_dir`` (default :data:`THREE_DIR`)."""
    three_dir = THREE_DIR if three_dir is None else three_dir
    if not (Path(three_dir) / "three.module.js").is_file():
        raise MissingThreeJs(Path(three_dir) / "three.module.js")


def add_webxr(app: FastAPI, config: WebXRConfig) -> FastAPI:
    """Add the WebXR routes to a tablet app (:func:`questionnaires.tablet.create_app`)."""
    config.three_dir = THREE_DIR if config.three_dir is None else config.three_dir
    check_three(config.three_dir)
    config._tablet = app.state.tablet
    app.state.webxr = config
    app.mount("/w/static", StaticFiles(directory=str(STATIC)), name="webxr-static")
    app.mount("/w/vendor/three", StaticFiles(directory=str(config.three_dir)), name="webxr-three")
    app.include_router(router)
    return app


def _config(request: Request | WebSocket) -> WebXRConfig:
    return request.app.state.webxr


async def _paired(ctx: TabletContext, request: Request | WebSocket) -> int | None:
    return await run_in_threadpool(tablet_participant.tablet_session, ctx, request)


@router.get("/w/")
async def page(ctx: Ctx, request: Request) -> Response:
    if await _paired(ctx, request) is None:
        return RedirectResponse("/w/join", status_code=303)
    return HTMLResponse((STATIC / "index.html").read_text())


@router.get("/w/join")
async def join_page(ctx: Ctx, request: Request) -> Response:
    return ctx.page("join.html", request=request, form=tablet_participant.HEADSET_JOIN, code="", error=None)


@router.post("/w/join")
async def join(ctx: Ctx, request: Request) -> Response:
    """The tablet's pairing (same code, limits and device binding); success leads to ``/w/``."""
    return await tablet_participant.join_with(ctx, request, tablet_participant.HEADSET_JOIN)


@router.get("/w/model.json")
async def model_json(ctx: Ctx, request: Request) -> Response:
    if await _paired(ctx, request) is None:
        return Response("not paired\n", 403, media_type="text/plain")
    m = await run_in_threadpool(_config(request).model)
    return _cached(request, m, m.meta_json(), "application/json")


@router.get("/w/model.bin")
async def model_bin(ctx: Ctx, request: Request) -> Response:
    if await _paired(ctx, request) is None:
        return Response("not paired\n", 403, media_type="text/plain")
    m = await run_in_threadpool(_config(request).model)
    return _cached(request, m, m.blob, "application/octet-stream")


def _cached(request: Request, model: Any, body: bytes, media_type: str) -> Response:
    """``body`` with the model's ETag, or 304 Not Modified when the page already holds it
    (``no-cache``: the browser revalidates on every load, so a changed model is never stale)."""
    headers = {"ETag": model.etag, "Cache-Control": "private, no-cache"}
    if request.headers.get("if-none-match") == model.etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.get("/w/audio")
async def audio(ctx: Ctx, request: Request, path: str | None = Query(None, max_length=4096),
                library: str | None = Query(None, max_length=4096)) -> Response:
    """The WAV file an audio cue names (``path``: on this machine; ``library``: in the library)."""
    if await _paired(ctx, request) is None:
        return Response("not paired\n", 403, media_type="text/plain")
    p = _config(request).resolve_audio(path, library)
    if p is None:
        return Response("not an audio file this server may serve\n", 403, media_type="text/plain")
    return FileResponse(p, media_type="audio/wav")


@router.get("/w/panel.png")
async def panel_png(ctx: Ctx, request: Request) -> Response:
    """The session's questionnaire panel as PNG (404 when none is shown)."""
    sid = await _paired(ctx, request)
    if sid is None:
        return Response("not paired\n", 403, media_type="text/plain")
    panel = _config(request).panel(sid)
    view = None if panel is None else await run_in_threadpool(panel.view, time.monotonic())
    if view is None:
        return Response("no panel\n", 404, media_type="text/plain")
    return Response(await run_in_threadpool(_png, view.image_rgba), media_type="image/png")


def _png(rgba: Any) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    host = ws.headers.get("host")
    return origin is not None and host is not None and origin.split("://", 1)[-1] == host


@router.websocket("/w/ws")
async def socket(ws: WebSocket) -> None:
    """Poses and cues to the page (binary), clock pongs and panel state (text JSON)."""
    ctx: TabletContext = ws.app.state.tablet
    cfg = _config(ws)
    sid = await _paired(ctx, ws)
    if sid is None or not _same_origin(ws):
        await ws.close(code=4403)
        return
    await ws.accept()
    queue = cfg.bridge.attach()
    panel = cfg.panel(sid)

    async def forward() -> None:
        while True:
            await ws.send_bytes(await queue.get())

    async def panel_versions() -> None:
        last = None
        while True:
            view = await run_in_threadpool(panel.view, time.monotonic())
            state = None if view is None else {"version": view.version, "width_m": view.width_m,
                                               "height_m": view.height_m, "distance_m": view.distance_m,
                                               "drop_m": view.drop_m}
            if state != last:
                await ws.send_text(json.dumps({"type": "panel", "panel": state}))
                last = state
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(forward())]
    if panel is not None:
        tasks.append(asyncio.create_task(panel_versions()))
    try:
        while True:
            text = await ws.receive_text()
            if len(text) > MAX_WS_TEXT:
                continue
            try:
                msg = json.loads(text)
            except json.JSONDecodeError:
                continue
            if not isinstance(msg, dict):
                continue
            reply = pong(msg)
            if reply is not None:
                await ws.send_text(json.dumps(reply))
            elif panel is not None:
                await run_in_threadpool(_panel_input, panel, msg)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        for t in tasks:
            t.cancel()
        cfg.bridge.detach(queue)


def _panel_input(panel: Any, msg: dict[str, Any]) -> None:
    """Hand a page's pointer or key message to the panel source (malformed ones are ignored)."""
    from vr_study.xr.panel_source import PANEL_KEYS, POINTER_SOURCES, PointerEvent

    now = time.monotonic()
    if msg.get("type") == "pointer" and msg.get("source") in POINTER_SOURCES:
        uv = msg.get("uv")
        if uv is not None:
            if not (isinstance(uv, list) and len(uv) == 2 and all(isinstance(x, (int, float)) for x in uv)):
                return
            uv = (min(max(float(uv[0]), 0.0), 1.0), min(max(float(uv[1]), 0.0), 1.0))
        panel.pointer(PointerEvent(msg["source"], uv, bool(msg.get("select")), now))
    elif msg.get("type") == "key" and msg.get("key") in PANEL_KEYS:
        panel.key(msg["key"], now)


def serve(db: Any, config: WebXRConfig, host: str = "127.0.0.1", port: int = 0, *, certificate: Any = None,
          instruments_dir: str | Path | None = None, poll_interval_s: float = 1.0,
          startup_timeout_s: float = 15.0, log_level: str = "warning") -> Any:
    """The tablet app plus the WebXR routes in a background uvicorn thread (as
    :func:`questionnaires.tablet.serve`); returns its :class:`~questionnaires.tablet.RunningServer`."""
    from questionnaires.tablet import RunningServer, create_app, run_in_thread

    class WebXRServer(RunningServer):
        def stop(self, timeout_s: float = 5.0) -> None:
            """Stop uvicorn, then the panels (their writes go through the committer), then the committer."""
            self._server.should_exit = True
            self._thread.join(timeout_s)
            config.close()
            self.app.state.committer.close(timeout_s)

    app = add_webxr(create_app(db, instruments_dir, poll_interval_s=poll_interval_s), config)
    return run_in_thread(app, host, port, name="vr-study-webxr", certificate=certificate,
                         startup_timeout_s=startup_timeout_s, log_level=log_level, running_cls=WebXRServer,
                         ws="websockets-sansio")
