"""What every router of the tablet app shares: the database, instruments, templates, secrets.

One :class:`TabletContext` is built by :func:`questionnaires.tablet.create_app` and kept on
``app.state.tablet``; the routers (:mod:`~questionnaires.tablet_participant`,
:mod:`~questionnaires.tablet_api`, :mod:`~questionnaires.tablet_experimenter`) receive it
through the :func:`context` dependency. No module-level state.
"""
from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Path as PathParam, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.responses import HTMLResponse, Response

from questionnaires.manikin import manikin_svg
from questionnaires.instruments import ChoiceItem, Instrument, LikertItem, SemanticDifferentialItem, TextItem
from questionnaires.tablet_guard import (DEVICE_COOKIE, DEVICE_COOKIE_MAX_AGE_S, Limiters, csrf_token, device_id,
                                         new_device_id)
from vr_study.storage import GroupCommitter, StudyDatabase

HERE = Path(__file__).resolve().parent
TABLET_COOKIE = "vrs_tablet"
EXPERIMENTER_COOKIE = "vrs_experimenter"
#: How long a tablet's join cookie stays valid (seconds).
TABLET_TOKEN_MAX_AGE_S = 24 * 3600


@dataclass
class TabletContext:
    """The shared parts of one running tablet app.

    ``secret``: key that signs cookies (kept in the database so restarts keep tablets
    joined); ``experimenter_token``: the experimenter page's password; ``poll_interval_s``:
    how often waiting pages ask for the next prompt (seconds).
    """

    db: StudyDatabase
    instruments: dict[str, Instrument]
    env: jinja2.Environment
    secret: bytes
    experimenter_token: str
    committer: GroupCommitter
    poll_interval_s: float = 1.0
    limiters: Limiters = field(default_factory=Limiters)

    def page(self, template: str, status: int = 200, *, request: Request | None = None, **ctx: Any) -> HTMLResponse:
        """Render ``template`` (from ``questionnaires/templates``) as an HTML reply.

        With ``request``, the page gets the ``csrf`` field of the browser's device (a new
        device cookie is set when the browser has none): pass it for pages with forms.
        """
        ctx.setdefault("poll_interval_ms", int(self.poll_interval_s * 1000))
        device = None
        if request is not None:
            device = device_id(request)
            new = device is None
            device = device or new_device_id()
            ctx["csrf"] = csrf_token(self.secret, device)
        r = HTMLResponse(self.env.get_template(template).render(**ctx), status_code=status)
        if request is not None and new:
            set_cookie(r, request, DEVICE_COOKIE, device, DEVICE_COOKIE_MAX_AGE_S)
        return r

    def message(self, title: str, text: str, status: int, *, link: str | None = "/t/", link_label: str = "Continue",
                kind: str = "info", headers: dict[str, str] | None = None) -> HTMLResponse:
        """A one-card page (thank you, refusal, error) with one link."""
        r = self.page("message.html", status, title=title, text=text, link=link, link_label=link_label, kind=kind)
        for k, v in (headers or {}).items():
            r.headers[k] = v
        return r


def set_cookie(response: Response, request: Request, name: str, value: str, max_age_s: int,
               path: str = "/") -> None:
    """Set an HttpOnly, SameSite=Strict cookie (``Secure`` when served over HTTPS)."""
    response.set_cookie(name, value, max_age=max_age_s, httponly=True, samesite="strict", path=path,
                        secure=request.url.scheme == "https")


def grouped_code(code: str) -> str:
    """A join code as shown to people: ``ABCDEFGHJ`` -> ``ABC-DEF-GHJ``."""
    return "-".join(code[i:i + 3] for i in range(0, len(code), 3))


def normal_code(typed: str) -> str:
    """A typed join code as stored: upper case, without spaces or dashes (at most 32 chars)."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())[:32]


def context(request: Request) -> TabletContext:
    """FastAPI dependency: the app's :class:`TabletContext`."""
    return request.app.state.tablet


Ctx = Annotated[TabletContext, Depends(context)]

#: Largest row id the database can hold (SQLite INTEGER and PostgreSQL BIGINT are signed 64-bit).
MAX_ROW_ID = 2**63 - 1

#: A prompt or session id in a URL: a whole number from 1 to :data:`MAX_ROW_ID`. Anything else
#: (negative, zero, non-numeric, 10,000 digits, beyond 64 bits) is answered by
#: :func:`bad_request_parameter` with 404 before the database sees it.
RowId = Annotated[int, PathParam(ge=1, le=MAX_ROW_ID)]


def _wants_json(request: Request) -> bool:
    return "/api/" in request.url.path or "application/json" in request.headers.get("accept", "")


async def bad_request_parameter(request: Request, exc: RequestValidationError) -> Response:
    """Exception handler: a malformed path or query parameter gets one clear sentence, not a 500.

    An id in the path that cannot name a row (see :data:`RowId`) is 404 (there is no such
    page); any other malformed parameter is 422. JSON for the ``/api/`` endpoints and clients
    that ask for it, the one-card message page otherwise. The offending value is never echoed
    (it may be 10,000 characters).
    """
    errors = exc.errors()
    where = errors[0].get("loc", ("?",)) if errors else ("?",)
    in_path = bool(where) and where[0] == "path"
    name = str(where[-1]) if where else "?"
    if in_path and name.endswith("_id"):
        what = name[:-3].replace("_", " ")
        text = f"No such {what}: the {what} id in the address must be a whole number from 1 to {MAX_ROW_ID}."
        status = 404
    else:
        text = f"The request has a malformed '{name}' ({errors[0].get('msg', 'invalid') if errors else 'invalid'})."
        status = 422
    if _wants_json(request):
        return JSONResponse({"error": text}, status_code=status)
    ctx: TabletContext = request.app.state.tablet
    link = "/x/" if request.url.path.startswith("/x/") else "/t/"
    return ctx.message("Not found" if status == 404 else "Cannot read the request", text, status,
                       link=link, kind="error")


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Exception handler: the router's own 404/405 (no such page) as a message page or JSON ``error``."""
    text = {404: "There is no such page.", 405: "This page cannot be used that way."}.get(
        exc.status_code, str(exc.detail))
    headers = dict(exc.headers or {})
    if _wants_json(request):
        return JSONResponse({"error": text}, status_code=exc.status_code, headers=headers)
    ctx: TabletContext = request.app.state.tablet
    link = "/x/" if request.url.path.startswith("/x/") else "/t/"
    return ctx.message("Not found" if exc.status_code == 404 else "Cannot do that", text, exc.status_code,
                       link=link, kind="error", headers=headers)


def templates() -> jinja2.Environment:
    """The Jinja environment of the pages (autoescaped, strict about missing variables)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.tests["likert"] = lambda it: isinstance(it, LikertItem)
    env.tests["semdiff"] = lambda it: isinstance(it, SemanticDifferentialItem)
    env.tests["choice"] = lambda it: isinstance(it, ChoiceItem)
    env.tests["freetext"] = lambda it: isinstance(it, TextItem)
    env.filters["grouped"] = grouped_code
    env.globals["manikin_svg"] = manikin_svg
    return env


async def form_body(request: Request) -> dict[str, list[str]]:
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


def first(form: dict[str, list[str]], key: str, default: str = "") -> str:
    """The first posted value of ``key`` (``default`` when absent)."""
    return (form.get(key) or [default])[0]
