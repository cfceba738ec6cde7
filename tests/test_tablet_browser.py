"""The tablet pages in a real browser: Debian's Chromium driven by Playwright, tablet-sized
(1024x1366 CSS px) with touch input. No browser is downloaded.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from questionnaires.tablet import serve
from vr_study.storage import StudyDatabase, TrialRecord

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian package chromium is not installed")]
RATINGS = ["arousal_realism", "naturalness", "enjoyment", "diversity", "interaction_quality"]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def study(tmp_path):
    db = StudyDatabase(tmp_path / "study.sqlite")
    plan = [["trial_ratings", "emotion_recognition"], [], ["sam"]]     # step 1: a break
    trials = [TrialRecord(trial_index=i, block=0, trial_kind="stimulus" if q else "break", position_in_block=i,
                          method="emage", emotion="happy", questionnaires=q) for i, q in enumerate(plan)]
    sid = db.create_session("P01", "browser-test", trials, plan_row=0, seed=0)
    server = serve(db, poll_interval_s=0.25)
    yield db, sid, server
    server.stop()
    db.close()


@pytest.fixture()
def tablet(browser):
    ctx = browser.new_context(viewport={"width": 1024, "height": 1366}, has_touch=True, is_mobile=True,
                              device_scale_factor=1)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


def join(page, server: str, code: str) -> None:
    page.goto(f"{server}/t/join")
    page.tap("#code")
    page.keyboard.type(code)
    with page.expect_navigation():
        page.tap("button[type=submit]")


def tap_rating(page, item_id: str, value: int) -> None:
    page.tap(f"fieldset[data-item={item_id}] label.opt:has(input[value='{value}'])")


def test_participant_answers_by_tapping_and_cannot_submit_half_filled_or_twice(study, browser, tablet, tmp_path):
    db, sid, server = study
    ctx = {"emotion": "happy", "method": "emage"}        # never shown to the participant
    p1 = db.open_prompt(sid, 0, "trial_ratings", ctx)
    p2 = db.open_prompt(sid, 0, "emotion_recognition", ctx)
    page = tablet.new_page()
    join(page, server, db.session_code(sid))
    page.wait_for_url(f"**/t/prompt/{p1}")
    header = page.inner_text("header.progress")
    assert "Trial 1 of 2" in header and "Page 1 of 2" in header      # derived from the session's plan
    assert "emage" not in page.inner_text("body").lower()

    # every tap target is at least 48 x 48 CSS pixels
    for box in [el.bounding_box() for el in page.query_selector_all("label.opt .num, button.submit")]:
        assert box["width"] >= 48 and box["height"] >= 48, box

    # half-filled: the page blocks it and nothing reaches the database
    chosen = dict(zip(RATINGS, [3, 4, 5, 6, 7]))
    for item in RATINGS[:3]:
        tap_rating(page, item, chosen[item])
    assert page.inner_text("header.progress .count") == "3 of 5 answered"
    page.tap("button.submit")
    assert page.url.endswith(f"/t/prompt/{p1}")
    assert "2 missing" in page.inner_text(".incomplete")
    assert page.is_visible("fieldset[data-item=diversity] .missing")
    assert db.responses(sid) == []
    shot = Path(os.environ.get("VR_STUDY_SCREENSHOTS", tmp_path)) / "tablet_half_filled.png"
    page.screenshot(path=str(shot))

    # a second tab of the same tablet with scripts off shows the same questionnaire and does
    # not follow the session (a stale page: the browser's back/forward cache, a frozen tab)
    stale_ctx = browser.new_context(viewport={"width": 1024, "height": 1366}, has_touch=True,
                                    java_script_enabled=False, storage_state=tablet.storage_state())
    stale = stale_ctx.new_page()
    stale.goto(f"{server}/t/")
    assert stale.url.endswith(f"/t/prompt/{p1}")
    for item in chosen:
        tap_rating(stale, item, 1)

    # complete it and submit: the next screen comes up and the row is committed
    for item in RATINGS[3:]:
        tap_rating(page, item, chosen[item])
    page.tap("button.submit")
    page.wait_for_url(f"**/t/prompt/{p2}")
    stored = {r.item_id: r.value for r in db.responses(sid) if r.prompt_id == p1}
    assert stored == chosen

    # back button: the answered page is not offered again, nothing changes
    page.go_back()
    page.wait_for_load_state()
    assert "already answered" in page.inner_text("main")
    # the stale tab submits its (different) answers: refused, first answers kept
    with stale.expect_navigation():
        stale.tap("button.submit")
    assert "Already recorded" in stale.inner_text("h1") and "nothing was changed" in stale.inner_text("main")
    assert {r.item_id: r.value for r in db.responses(sid) if r.prompt_id == p1} == chosen
    stale_ctx.close()

    # the server refuses a half-filled form even when the page's script is bypassed
    page.goto(f"{server}/t/")
    page.wait_for_url(f"**/t/prompt/{p2}")
    assert "Page 2 of 2" in page.inner_text("header.progress")
    with page.expect_navigation():
        page.evaluate("document.querySelector('form.questionnaire').submit()")   # skips the submit handler
    assert "Nothing was saved" in page.inner_text("main")
    assert [r for r in db.responses(sid) if r.prompt_id == p2] == []

    # answer the forced choice; then "please wait" until the orchestrator opens the next prompt
    page.tap("fieldset[data-item=emotion] label.opt:has(input[value='happy'])")
    page.tap("button.submit")
    page.wait_for_url("**/t/")
    assert "Please wait" in page.inner_text("h1")
    assert db.prompt(p2).status == "answered"
    assert {r.item_id: r.value for r in db.responses(sid) if r.prompt_id == p2} == {"emotion": "happy",
                                                                                    "confidence": None}
    p3 = db.open_prompt(sid, 2, "sam", {})
    page.wait_for_url(f"**/t/prompt/{p3}")                 # the waiting page follows by itself
    assert page.is_visible("text=Unhappy, annoyed, unsatisfied")
    assert "Trial 2 of 2" in page.inner_text("header.progress")


def test_a_tablet_without_the_code_sees_nothing(study, tablet):
    db, sid, server = study
    pid = db.open_prompt(sid, 0, "trial_ratings", {})
    page = tablet.new_page()
    r = page.goto(f"{server}/t/prompt/{pid}")
    assert r.status == 403 and "Not allowed" in page.inner_text("h1")
    join(page, server, "WRONG1234")
    assert "No session has the code" in page.inner_text("main")
    page.goto(f"{server}/t/")
    assert page.url.endswith("/t/join")


def test_every_bundled_instrument_fits_the_tablet_without_sideways_scrolling(browser, tablet, tmp_path):
    """Each shipped questionnaire at 1024x1366: no horizontal scrolling (Godspeed and Ho &
    MacDorman were 1092 px wide), main trials counted without practice/checks, the SAM with
    its manikins at the odd points, an attention check's instruction inside its item."""
    from questionnaires.instruments import load_instruments

    db = StudyDatabase(tmp_path / "pages.sqlite")
    insts = load_instruments()
    kinds = ["practice", "attention_check"] + ["playback"] * len(insts) + ["questionnaire"]
    trials = [TrialRecord(trial_index=i, block=0, trial_kind=k, position_in_block=i, method="emage",
                          emotion="happy", questionnaires=["trial_ratings"] if k != "playback" else [iid])
              for i, (k, iid) in enumerate(zip(kinds, ["trial_ratings", "trial_ratings", *insts, "ipq"]))]
    sid = db.create_session("P02", "pages", trials, plan_row=0, seed=0)
    server = serve(db, poll_interval_s=30)
    shots = Path(os.environ.get("VR_STUDY_SCREENSHOTS", tmp_path))
    try:
        page = tablet.new_page()
        join(page, server, db.session_code(sid))
        for n, iid in enumerate(insts, start=1):
            pid = db.open_prompt(sid, n + 1, iid, {})
            page.goto(f"{server}/t/prompt/{pid}")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1024, iid
            assert f"Trial {n} of {len(insts)}" in page.inner_text("header.progress"), iid
            if iid == "sam":
                for dim in ("valence", "arousal", "dominance"):
                    levels = page.eval_on_selector_all(f"[data-manikin={dim}] svg.manikin",
                                                       "els => els.map(e => e.closest('label').querySelector('input').value)")
                    assert levels == ["1", "3", "5", "7", "9"], (dim, levels)
                sizes = page.eval_on_selector_all("[data-manikin=dominance] svg.manikin g",
                                                  "els => els.map(e => e.getBoundingClientRect().height)")
                assert sizes == sorted(sizes) and sizes[-1] > 2 * sizes[0]          # small -> large figure
                page.screenshot(path=str(shots / "tablet_sam.png"))
            db.cancel_prompt(pid)
        # practice and the attention check are not main trials; the check's instruction is in its item
        pid = db.open_prompt(sid, 0, "trial_ratings", {"trial_kind": "practice"})
        page.goto(f"{server}/t/prompt/{pid}")
        assert "Practice" in page.inner_text("header.progress") and "Trial" not in page.inner_text("header.progress")
        db.cancel_prompt(pid)
        instruction = "Attention check: please tap 7 for this question."
        pid = db.open_prompt(sid, 1, "trial_ratings", {"trial_kind": "attention_check", "instruction": instruction,
                                                         "expect": {"naturalness": 7}})
        page.goto(f"{server}/t/prompt/{pid}")
        assert "Trial" not in page.inner_text("header.progress")
        note = page.locator("fieldset[data-item=naturalness] .attention")
        assert note.is_visible() and note.inner_text() == instruction
        assert page.locator(".attention").count() == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= 1024
        page.screenshot(path=str(shots / "tablet_attention_check.png"))
    finally:
        server.stop()
        db.close()


def test_experimenter_sees_a_failed_check_and_no_live_controls_after_the_end(study, browser, tablet, tmp_path):
    db, sid, server = study
    instruction = "Attention check: please tap 7 for this question."
    pid = db.open_prompt(sid, 0, "trial_ratings", {"trial_kind": "attention_check", "instruction": instruction,
                                                     "expect": {"naturalness": 7}})
    page = tablet.new_page()
    join(page, server, db.session_code(sid))
    page.wait_for_url(f"**/t/prompt/{pid}")
    exp = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    exp.goto(f"{server}/x/login")
    exp.fill("#token", server.app.state.experimenter_token)
    with exp.expect_navigation():
        exp.click("button[type=submit]")
    exp.goto(f"{server}/x/session/{sid}")
    text = exp.inner_text("main")
    assert instruction in text and "waiting" in text               # printed for the experimenter
    assert "null" not in text and "[]" not in text and "{" not in text
    for item in RATINGS:                                            # the participant taps 3, not 7
        tap_rating(page, item, 3)
    page.tap("button.submit")
    page.wait_for_url("**/t/")
    exp.wait_for_selector("p.alert", timeout=10_000)               # the page refreshes by itself
    assert "Attention check failed" in exp.inner_text("p.alert") and "naturalness = 7" in exp.inner_text("p.alert")
    assert exp.is_enabled("button.cmd-pause") and exp.is_enabled("button.cmd-abort")
    db.set_session_status(sid, "finished")
    exp.reload()
    text = exp.inner_text("main")
    assert "Finished" in text and "null" not in text and "[]" not in text
    for c in ("pause", "resume", "repeat", "skip", "turn", "abort"):
        assert exp.is_disabled(f"button.cmd-{c}"), c
    exp.screenshot(path=str(Path(os.environ.get("VR_STUDY_SCREENSHOTS", tmp_path)) / "experimenter_finished.png"),
                   full_page=True)
    exp.context.close()


def test_a_second_tablet_is_refused_until_the_experimenter_releases_the_first(study, browser, tablet):
    db, sid, server = study
    pid = db.open_prompt(sid, 0, "trial_ratings", {})
    first = tablet.new_page()
    join(first, server, db.session_code(sid))
    first.wait_for_url(f"**/t/prompt/{pid}")
    other_ctx = browser.new_context(viewport={"width": 1024, "height": 1366}, has_touch=True)
    other = other_ctx.new_page()
    join(other, server, db.session_code(sid))
    assert "already open on another tablet" in other.inner_text("main")
    exp_ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    exp = exp_ctx.new_page()
    exp.goto(f"{server}/x/login")
    exp.fill("#token", server.app.state.experimenter_token)
    with exp.expect_navigation():
        exp.click("button[type=submit]")
    exp.goto(f"{server}/x/session/{sid}")
    assert "1 join attempt from other devices refused" in exp.inner_text("main")
    old_code = db.session_code(sid)
    exp.once("dialog", lambda d: d.accept())                    # "Release the tablet? ..."
    with exp.expect_navigation():
        exp.click("button.cmd-release")
    new_code = db.session_code(sid)
    assert new_code != old_code and f"{new_code[:3]}-{new_code[3:6]}-{new_code[6:]}" in exp.inner_text("main")
    first.wait_for_url("**/t/join")                            # the released tablet's page leaves by itself
    join(other, server, new_code)
    other.wait_for_url(f"**/t/prompt/{pid}")
    other_ctx.close()
    exp_ctx.close()
