"""Every route of the tablet app against ids and fields no browser would send: 4xx, never 500.

A real uvicorn server on 127.0.0.1 over a real SQLite file. Every route whose path takes an
id (found from the app itself, so a route added later is checked too) is called with a
10,000-digit id, ids just past 64 bits, negative, zero, non-numeric and fractional ones, by a
tablet that has joined and an experimenter who has logged in (so the handlers, not the login
checks, see the values); the form fields (join code, answers, submission id, command) get the
same treatment. Issue 12: "HTTP 500 on a huge prompt id".
"""
from __future__ import annotations

import re

import httpx
import pytest
from fastapi.routing import APIRoute

from questionnaires.simulate import csrf_field, join_session, parse_form
from questionnaires.tablet import serve
from questionnaires.tablet_context import MAX_ROW_ID
from vr_study.storage import StudyDatabase, TrialRecord

HUGE = "9" * 10_000
BAD_IDS = [HUGE, "1" * 10_000, str(MAX_ROW_ID + 1), str(2**64), str(10**30), "-1", "-" + HUGE, "0", "abc",
           "1.5", "1e5", "0x10", "%00", "1%2F2"]
#: read as the number 77 (pydantic strips blanks and reads Unicode digits): in range, no such row
NO_ROW = [str(MAX_ROW_ID), "77", " 77", "\uff17\uff17"]


@pytest.fixture()
def app_env(tmp_path):
    db = StudyDatabase(tmp_path / "study.sqlite")
    server = serve(db, experimenter_token="correct-horse", poll_interval_s=0.2)
    trials = [TrialRecord(trial_index=0, block=0, trial_kind="playback", position_in_block=0, method="emage",
                      emotion="happy", questionnaires=["trial_ratings"])]
    sid = db.create_session("P1", "sec", trials, plan_row=0, seed=0)
    pid = db.open_prompt(sid, 0, "trial_ratings", {})
    with httpx.Client(base_url=server, timeout=30, follow_redirects=False) as c:
        assert join_session(c, db.session_code(sid)).status_code == 303
        csrf = csrf_field(c.get("/x/login").text)
        assert c.post("/x/login", data={"token": "correct-horse", "csrf": csrf}).status_code == 303
        yield db, server, c, sid, pid, csrf
    server.stop()
    db.close()


def _api_routes(routes) -> list[APIRoute]:  # noqa: ANN001 - a router's routes
    """The endpoints among ``routes``, looking inside included routers (FastAPI >= 0.120 nests them)."""
    out: list[APIRoute] = []
    for r in routes:
        if isinstance(r, APIRoute):
            out.append(r)
        elif getattr(r, "original_router", None) is not None:
            out += _api_routes(r.original_router.routes)
    return out


def _id_routes(app) -> list[tuple[str, str]]:  # noqa: ANN001 - a FastAPI app
    """(method, path template) of every route with a ``{...}`` parameter in its path."""
    return [(m, r.path) for r in _api_routes(app.routes) if "{" in r.path for m in sorted(r.methods)]


def _assert_clear_4xx(r: httpx.Response, where: str) -> None:
    assert 400 <= r.status_code < 500, f"{where}: {r.status_code} {r.text[:200]}"
    assert HUGE[:50] not in r.text, f"{where}: the value is echoed back"
    if r.headers.get("content-type", "").startswith("application/json"):
        assert r.json().get("error"), where
    else:
        assert "<h1" in r.text or "<title" in r.text, where          # a page, not a bare traceback


def test_every_id_route_answers_bad_ids_with_a_clear_4xx(app_env):
    db, server, c, sid, pid, csrf = app_env
    routes = _id_routes(server.app)
    # the routes this test was written against are all there (a rename would skip them silently)
    assert {p for _, p in routes} >= {"/t/prompt/{prompt_id}", "/x/session/{session_id}",
                                       "/x/session/{session_id}/live", "/x/session/{session_id}/command",
                                       "/x/session/{session_id}/release-tablet", "/x/api/session/{session_id}"}
    for method, template in routes:
        for bad in BAD_IDS + NO_ROW:
            path = re.sub(r"\{[a-z_]+\}", bad, template)
            r = c.request(method, path, data={"csrf": csrf, "command": "pause"} if method == "POST" else None)
            _assert_clear_4xx(r, f"{method} {template} with {bad[:20]!r}")
            assert r.status_code == 404, (method, template, bad[:20], r.status_code)
            if bad in BAD_IDS and "%2F" not in bad:                                   # refused before the database is asked
                assert "whole number from 1 to" in (r.json()["error"] if "/api/" in template else r.text)
    # nothing was changed by any of it, and the real ids still work
    assert db.responses(sid) == [] and db.events(sid, kind="experimenter_command") == []
    assert c.get(f"/t/prompt/{pid}").status_code == 200 and c.get(f"/x/api/session/{sid}").status_code == 200


def test_oversized_and_odd_form_fields_get_a_clear_4xx(app_env):
    db, server, c, sid, pid, csrf = app_env
    form = parse_form(c.get(f"/t/prompt/{pid}").text)
    good = {**form.hidden, **{k: "4" for k in form.items}}
    item = next(iter(form.items))
    cases = [{item: v} for v in (HUGE, str(2**64), "-1", "-" + HUGE, "abc", "4.5", "nan", "inf", "")]
    cases += [{"prompt_id": HUGE}, {"prompt_id": str(2**64)}, {"prompt_id": "-1"},
              {"submission_id": HUGE}, {"submission_id": ""}]
    for change in cases:
        r = c.post(f"/t/prompt/{pid}", data={**good, **change})
        _assert_clear_4xx(r, f"answer {str(change)[:40]}")
    assert db.responses(sid) == []
    for code in (HUGE, "-1", str(2**64), "\u0000" * 100, "é" * 5000):
        page = c.get("/t/join")
        r = c.post("/t/join", data={"code": code, "csrf": csrf_field(page.text)})
        _assert_clear_4xx(r, f"join code {code[:20]!r}")
    for cmd in (HUGE, "", "-1", "pause\u0000"):
        r = c.post(f"/x/session/{sid}/command", data={"csrf": csrf, "command": cmd},
                   headers={"accept": "application/json"})
        _assert_clear_4xx(r, f"command {cmd[:20]!r}")
    assert db.events(sid, kind="experimenter_command") == []
    # the honest screen is still stored afterwards
    r = c.post(f"/t/prompt/{pid}", data=good)
    assert r.status_code == 303 and r.headers["x-submission"] == "stored"
