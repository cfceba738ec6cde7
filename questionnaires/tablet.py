"""The tablet and experimenter web app (FastAPI): assembly, middleware and the server thread.

The pages live in three routers over one shared :class:`~questionnaires.tablet_context.TabletContext`:

- :mod:`questionnaires.tablet_participant`: the participant's pages (``/t/...``);
- :mod:`questionnaires.tablet_api`: the JSON the pages poll (``/t/api/...``, ``/x/api/...``);
- :mod:`questionnaires.tablet_experimenter`: the experimenter's pages (``/x/...``).

Screens that arrive together (several tablets tapping at once) are stored by one
:class:`vr_study.storage.GroupCommitter`: one transaction and one disk flush for the lot,
each screen in its own savepoint, so each is accepted or refused on its own. A tablet's
reply is sent only after its rows are committed (``synchronous=FULL`` on SQLite).

The server keeps no state of its own: a restarted server (same database) accepts the
tablets' cookies and the forms they were showing, because the signing secret lives in the
database's ``meta`` table.
"""
from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders

from questionnaires import tablet_api, tablet_experimenter, tablet_participant
from questionnaires.instruments import load_instruments
from questionnaires.tablet_context import (EXPERIMENTER_COOKIE, HERE, TABLET_COOKIE,  # noqa: F401 - re-exported
                                           TABLET_TOKEN_MAX_AGE_S, TabletContext, bad_request_parameter,
                                           http_error, templates)
from questionnaires.tablet_experimenter import COMMAND_EVENT, COMMANDS  # noqa: F401 - re-exported
from questionnaires.tablet_guard import MAX_BODY_BYTES, BodyLimit
from vr_study.storage import GroupCommitter, StudyDatabase

if TYPE_CHECKING:
    from questionnaires.tls import Certificate

_META_SECRET = "tablet_secret"
_META_EXP_TOKEN = "experimenter_token"

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


def _meta_secret(db: StudyDatabase, key: str, make) -> str:  # noqa: ANN001 - make: () -> str
    """The secret kept under ``key`` in the database; ``make()`` one if there is none.

    Claimed in one transaction: two servers starting at once on one database agree.
    """
    return db.get_meta(key) or db.claim_meta(key, make())


def create_app(db: StudyDatabase, instruments_dir: str | Path | None = None,
               experimenter_token: str | None = None, *, secret: bytes | None = None,
               poll_interval_s: float = 1.0, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """Build the tablet + experimenter web app over an open :class:`StudyDatabase`.

    ``instruments_dir``: folder of instrument YAML files (default: the shipped ones).
    ``experimenter_token``: the experimenter page's password; by default one is generated
    once and kept in the database (``app.state.experimenter_token``). ``secret``: key that
    signs tablet cookies; by default kept in the database so restarts keep tablets joined.
    ``poll_interval_s``: how often waiting pages ask for the next prompt (seconds).
    ``max_body_bytes``: larger request bodies are refused with 413 before they are read.
    An empty (or all-blank) ``experimenter_token`` raises ValueError.
    """
    if experimenter_token is not None and not experimenter_token.strip():
        raise ValueError("the experimenter token is empty; give a non-empty token or none (one is generated)")
    instruments = load_instruments(instruments_dir)
    if secret is None:
        secret = bytes.fromhex(_meta_secret(db, _META_SECRET, lambda: secrets.token_hex(32)))
    if experimenter_token is None:
        experimenter_token = _meta_secret(db, _META_EXP_TOKEN, lambda: secrets.token_urlsafe(12))
    # Every submitted screen goes through one committer: screens arriving together share a
    # transaction and a flush (the database's own lock keeps this process's writers in line).
    ctx = TabletContext(db=db, instruments=instruments, env=templates(), secret=secret,
                        experimenter_token=experimenter_token, committer=GroupCommitter(db),
                        poll_interval_s=poll_interval_s)

    app = FastAPI(title="vr-study tablet", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.tablet = ctx
    app.state.db = db
    app.state.instruments = instruments
    app.state.experimenter_token = experimenter_token
    app.state.committer = ctx.committer
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(tablet_participant.router)
    app.include_router(tablet_api.router)
    app.include_router(tablet_experimenter.router)
    app.add_exception_handler(RequestValidationError, bad_request_parameter)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)   # before anything reads the body
    app.add_middleware(_SecurityHeaders)                      # outermost: on every reply, 413 included
    return app


def uvicorn_tls(certificate: "Certificate | None") -> dict[str, str]:
    """uvicorn's TLS options for ``certificate`` (none for plain HTTP)."""
    if certificate is None:
        return {}
    return {"ssl_certfile": str(certificate.cert_path), "ssl_keyfile": str(certificate.key_path)}


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
          startup_timeout_s: float = 15.0, log_level: str = "warning",
          certificate: "Certificate | None" = None) -> RunningServer:
    """Run the app with uvicorn in a background thread; return its URL once it listens.

    ``port=0`` picks a free port. The returned :class:`RunningServer` is the base URL
    (``http://127.0.0.1:PORT``, ``https://`` with a ``certificate`` from
    :func:`questionnaires.tls.ensure_certificate`) and has ``.stop()``, ``.app`` (for the
    experimenter token: ``.app.state.experimenter_token``).
    """
    app = create_app(db, instruments_dir, experimenter_token, secret=secret, poll_interval_s=poll_interval_s)
    return run_in_thread(app, host, port, name="vr-study-tablet", certificate=certificate,
                         startup_timeout_s=startup_timeout_s, log_level=log_level)


def run_in_thread(app: FastAPI, host: str, port: int, *, name: str, certificate: "Certificate | None" = None,
                  startup_timeout_s: float = 15.0, log_level: str = "warning",
                  running_cls: type[RunningServer] = RunningServer, **uvicorn_options: Any) -> RunningServer:
    """Serve ``app`` with uvicorn in a daemon thread called ``name``; return the
    ``running_cls`` URL once it listens (RuntimeError after ``startup_timeout_s`` seconds).
    ``uvicorn_options``: more :class:`uvicorn.Config` options (e.g. ``ws``)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                                           lifespan="off", timeout_keep_alive=30, **uvicorn_tls(certificate),
                                           **uvicorn_options))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the server {name} did not start on {host}:{port}")
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    url = f"{'https' if certificate else 'http'}://{host}:{bound_port}"
    running = running_cls(url)
    running.url, running.app, running._server, running._thread = url, app, server, thread
    return running
