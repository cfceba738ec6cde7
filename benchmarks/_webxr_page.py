"""Shared by the WebXR benchmarks: the web server on a one-trial session and a headless
Chromium page paired with it (as a participant's headset would be)."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@contextmanager
def paired_page(tmp: Path, endpoint: str, model: Callable[[], Any], chromium_args: list[str],
                panels: bool = True) -> Iterator[Any]:
    """A Playwright page (640x480) showing ``/w/`` of a WebXR server on a fresh database in
    ``tmp``, its bridge subscribed to the pose stream at ``endpoint``; everything is closed
    on exit."""
    from playwright.sync_api import sync_playwright

    from questionnaires.tls import ensure_certificate
    from questionnaires.webxr import WebXRConfig, serve
    from vr_study.storage import StudyDatabase, TrialRecord
    from vr_study.stream.wsbridge import PoseBridge

    db = StudyDatabase(tmp / "bench.sqlite")
    sid = db.create_session("P01", "bench", [TrialRecord(trial_index=0, block=0, trial_kind="stimulus",
                                                         position_in_block=0, method="m", emotion="happy",
                                                         questionnaires=[])], plan_row=0, seed=0)
    server = serve(db, WebXRConfig(PoseBridge(endpoint), model, panels=panels),
                   certificate=ensure_certificate(tmp, hosts=["127.0.0.1"]))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=chromium_args)
            try:
                page = browser.new_context(ignore_https_errors=True,
                                           viewport={"width": 640, "height": 480}).new_page()
                page.goto(f"{server}/w/")
                page.fill("#code", db.session_code(sid))
                with page.expect_navigation():
                    page.click("button[type=submit]")
                yield page
            finally:
                browser.close()
    finally:
        server.stop()
        db.close()
