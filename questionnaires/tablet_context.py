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
from fastapi import Depends, Request
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
