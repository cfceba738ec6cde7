"""The JSON endpoints the pages poll: a tablet's state and the experimenter's session figures.

``GET /t/api/state`` (tablet cookie): session status and the oldest open prompt, polled by
the waiting and form pages. ``GET /x/api/session/{id}`` (experimenter login or bearer
token): the experimenter page's figures.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from questionnaires.tablet_context import Ctx, RowId
from questionnaires.tablet_experimenter import is_experimenter, session_exists, session_status
from questionnaires.tablet_participant import tablet_session, tablet_state

router = APIRouter()


@router.get("/t/api/state")
async def state(ctx: Ctx, request: Request) -> Response:
    def work() -> dict | None:
        sid = tablet_session(ctx, request)
        return None if sid is None else tablet_state(ctx, sid)
    state = await run_in_threadpool(work)
    if state is None:
        return JSONResponse({"error": "join the session first"}, status_code=403)
    return JSONResponse(state)


@router.get("/x/api/session/{session_id}")
async def session(ctx: Ctx, session_id: RowId, request: Request) -> Response:
    if not is_experimenter(ctx, request):
        return JSONResponse({"error": "experimenter login required"}, status_code=403)
    if not await run_in_threadpool(session_exists, ctx, session_id):
        return JSONResponse({"error": f"no session {session_id}"}, status_code=404)
    return JSONResponse(await run_in_threadpool(session_status, ctx, session_id))
