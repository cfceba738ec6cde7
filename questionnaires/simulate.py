"""Simulated participants that answer through the real tablet pages over HTTP.

:class:`HttpAnswerer` behaves like a tablet's browser: it joins with the session code,
follows the redirects to the next open questionnaire, reads the form out of the HTML
(hidden fields, radio buttons, text areas) and posts it back urlencoded, exactly as the
browser would. It knows nothing of the database; the answers come from ``answer_fn``.
:class:`PanelAnswerer` does the same in the headset: it points at the in-VR panel and
pulls the trigger.
"""
from __future__ import annotations

import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx


@dataclass
class FormItem:
    """One question of a rendered form: ``kind`` is ``radio`` or ``text``."""
    item_id: str
    kind: str
    values: list[str] = field(default_factory=list)  # radio values in page order
    required: bool = True


@dataclass
class FormSpec:
    """What a participant sees on one questionnaire page."""
    prompt_id: int
    instrument_id: str
    action: str
    submission_id: str
    items: dict[str, FormItem]
    hidden: dict[str, str] = field(default_factory=dict)   # every hidden field (ids, CSRF token)


@dataclass
class AnswerResult:
    """The outcome of one posted page: HTTP status, ``X-Submission`` and round trip (s)."""
    prompt_id: int
    instrument_id: str
    status_code: int
    submission: str
    round_trip_s: float
    answers: dict[str, str]
    retries: int = 0  # posts repeated after a lost connection (same submission id)


AnswerFn = Callable[[FormSpec], Mapping[str, Any]]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.instrument = ""
        self.hidden: dict[str, str] = {}
        self.items: dict[str, FormItem] = {}
        self._in_form = False
        self._required_by_item: dict[str, bool] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form" and "questionnaire" in a.get("class", ""):
            self._in_form = True
            self.action = a.get("action", "")
            self.instrument = a.get("data-instrument", "")
        elif not self._in_form:
            return
        elif tag == "fieldset" and "data-item" in a:
            self._required_by_item[a["data-item"]] = a.get("data-required") == "true"
        elif tag == "input" and a.get("type") == "hidden":
            self.hidden[a.get("name", "")] = a.get("value", "")
        elif tag == "input" and a.get("type") == "radio":
            name = a.get("name", "")
            it = self.items.setdefault(name, FormItem(name, "radio", [], self._required_by_item.get(name, True)))
            it.values.append(a.get("value", ""))
        elif tag == "textarea":
            name = a.get("name", "")
            self.items[name] = FormItem(name, "text", [], self._required_by_item.get(name, True))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def parse_form(html: str) -> FormSpec | None:
    """The questionnaire form on a page, or None when the page has none."""
    p = _FormParser()
    p.feed(html)
    if not p.action:
        return None
    return FormSpec(prompt_id=int(p.hidden.get("prompt_id", "0")), instrument_id=p.instrument, action=p.action,
                    submission_id=p.hidden.get("submission_id", ""), items=p.items, hidden=dict(p.hidden))


def csrf_field(html: str) -> str:
    """The CSRF token of a page's form (``<input name="csrf" value="...">``), or ""."""
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    return m.group(1) if m else ""


def join_session(client: httpx.Client, code: str) -> httpx.Response:
    """Join session ``code`` as a browser does: open the join page (device cookie, CSRF), post the code."""
    page = client.get("/t/join")
    return client.post("/t/join", data={"code": code, "csrf": csrf_field(page.text)})


def random_answers(seed: int = 0, text: str = "no comment") -> AnswerFn:
    """An answer function picking a random allowed value for every item (seeded)."""
    rng = random.Random(seed)

    def answer(form: FormSpec) -> dict[str, str]:
        out = {}
        for item in form.items.values():
            out[item.item_id] = rng.choice(item.values) if item.kind == "radio" else text
        return out
    return answer


class HttpAnswerer:
    """A scripted tablet: joins session ``code`` at ``base_url`` and answers every prompt.

    Like a patient participant, it keeps trying while the server restarts (connection
    errors), re-posting an unanswered form with the same submission id.

    ``answer_fn(form) -> {item_id: value}`` decides the answers (see :func:`random_answers`).
    ``verify``: as httpx's (True: the system CAs), or a PEM file to trust (a self-signed server).
    Use :meth:`answer_next` step by step, :meth:`run` until the session ends, or
    :meth:`start`/:meth:`stop` to run it in a background thread. ``results`` collects
    every :class:`AnswerResult`.
    """

    def __init__(self, base_url: str, code: str, answer_fn: AnswerFn | None = None, *,
                 poll_interval_s: float = 0.05, timeout_s: float = 10.0, max_retries: int = 50,
                 user_agent: str = "vr-study-simulated-tablet", verify: bool | str = True):
        self.base_url = str(base_url).rstrip("/")
        self.code = code
        self.answer_fn = answer_fn or random_answers()
        self.poll_interval_s = poll_interval_s
        self.max_retries = max_retries
        if isinstance(verify, str):     # a PEM file to trust (the self-signed certificate of --https)
            verify = ssl.create_default_context(cafile=verify)
        self.client = httpx.Client(base_url=self.base_url, timeout=timeout_s, follow_redirects=False,
                                   headers={"user-agent": user_agent}, verify=verify)
        self.results: list[AnswerResult] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.joined = False

    def join(self) -> None:
        """Post the session code; raises PermissionError when the server refuses it."""
        r = join_session(self.client, self.code)
        if r.status_code != 303:
            raise PermissionError(f"join with code {self.code!r} refused (HTTP {r.status_code})")
        self.joined = True

    def state(self) -> dict[str, Any]:
        """The session's state as the waiting page sees it."""
        r = self.client.get("/t/api/state")
        r.raise_for_status()
        return r.json()

    def answer_next(self, timeout_s: float = 30.0) -> AnswerResult | None:
        """Wait for the next open prompt, answer it; None when the session ended or on timeout."""
        if not self.joined:
            self.join()
        deadline = time.monotonic() + timeout_s
        while not self._stop.is_set():
            try:
                st = self.state()
                if st["prompt_id"] is not None:
                    r = self.client.get(f"/t/prompt/{st['prompt_id']}")
                    form = parse_form(r.text) if r.status_code == 200 else None
                    if form is not None:
                        return self.submit(form, dict(self.answer_fn(form)))
                elif st.get("ended") or st["session_status"] in ("finished", "aborted"):
                    return None
            except httpx.TransportError:
                pass  # the server is restarting: keep trying until the deadline
            if time.monotonic() > deadline:
                return None
            time.sleep(self.poll_interval_s)
        return None

    def submit(self, form: FormSpec, answers: Mapping[str, Any]) -> AnswerResult:
        """Post ``answers`` for ``form`` as the browser would (urlencoded, with its ids)."""
        data = {**form.hidden, "prompt_id": str(form.prompt_id), "submission_id": form.submission_id}
        data.update({k: "" if v is None else str(v) for k, v in answers.items()})
        t0 = time.perf_counter()
        retries = 0
        while True:
            try:
                r = self.client.post(form.action, data=data)
                break
            except httpx.TransportError:
                # no answer: maybe stored, maybe not. Posting the same submission id again is
                # safe: the server stores it once and refuses the replay ("duplicate").
                retries += 1
                if retries > self.max_retries or self._stop.is_set():
                    raise
                time.sleep(self.poll_interval_s * 4)
        dt = time.perf_counter() - t0
        res = AnswerResult(form.prompt_id, form.instrument_id, r.status_code, r.headers.get("x-submission", ""),
                           dt, {k: str(v) for k, v in data.items()}, retries)
        self.results.append(res)
        return res

    def run(self, max_prompts: int | None = None, idle_timeout_s: float = 600.0) -> list[AnswerResult]:
        """Answer prompts until the session ends, ``max_prompts`` are done, or nothing comes."""
        n = 0
        while not self._stop.is_set() and (max_prompts is None or n < max_prompts):
            res = self.answer_next(idle_timeout_s)
            if res is None:
                break
            n += 1
        return self.results

    def start(self, **run_kwargs: Any) -> "HttpAnswerer":
        """Run :meth:`run` in a daemon thread (errors are kept in ``self.error``)."""
        def target() -> None:
            try:
                self.run(**run_kwargs)
            except BaseException as e:  # noqa: BLE001 - reported to the caller through .error
                self.error = e
        self._thread = threading.Thread(target=target, name=f"answerer-{self.code}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the background thread and close the HTTP client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.client.close()

    def __enter__(self) -> "HttpAnswerer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class PanelAnswerer:
    """A scripted participant in the headset: answers the session's headset prompts by pointing
    at the in-VR panel (:class:`questionnaires.headset_panel.QuestionnairePanel`) and pulling
    the trigger, page by page, exactly as the XR renderer would report a controller.

    ``answers_for(instrument_id, prompt context)`` gives item id -> value (valid for the
    instrument; ``None`` leaves an optional item unanswered). Used by ``session run
    --scripted-answers`` (and the demo) for screens the spec routes to the headset.
    """

    def __init__(self, db: Any, instruments: Mapping[str, Any], session_id: int,
                 answers_for: Callable[[str, dict[str, Any]], Mapping[str, Any]], *, poll_s: float = 0.05,
                 client: str = "headset (scripted)"):
        from questionnaires.headset_panel import QuestionnairePanel

        self.db, self.answers_for = db, answers_for
        self.panel = QuestionnairePanel(db, instruments, session_id, poll_s=poll_s, client=client)
        self.answered: list[int] = []
        self._answers: dict[int, Mapping[str, Any]] = {}
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._t = 0.0
        self._thread = threading.Thread(target=self._guarded, name=f"panel-answerer-{session_id}", daemon=True)
        self._thread.start()

    def _click(self, uv: tuple[float, float] | None) -> bool:
        from vr_study.xr.panel_source import PointerEvent

        if uv is None:
            return False
        for select in (False, True, False):
            self._t = max(self._t + 1 / 90, time.monotonic())
            self.panel.pointer(PointerEvent("right", uv, select, self._t))
        return True

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001 - reported to the caller through .error
            self.error = e

    def _run(self) -> None:
        while not self._stop.is_set():
            self.panel.sync()
            st = self.panel.state()
            if st.prompt_id is None or st.busy:
                self._stop.wait(0.05)
                continue
            prompt = self.db.prompt(st.prompt_id)
            if st.prompt_id not in self._answers:         # once per screen, whatever its pages
                self._answers[st.prompt_id] = self.answers_for(prompt.instrument_id, dict(prompt.context or {}))
            answers = self._answers[st.prompt_id]
            items = dict.fromkeys(c.item_id for c in self.panel.controls() if c.kind == "option")
            for item in items:
                if answers.get(item) is not None:
                    self._click(self.panel.control_uv("option", item, answers[item]))
            if not self._click(self.panel.control_uv("next")):
                if self._click(self.panel.control_uv("submit")):
                    self.panel.sync()
                    if self.panel.state().prompt_id != st.prompt_id:
                        self.answered.append(st.prompt_id)
            if self.panel.state().message:        # refused (an answer the panel does not offer): stop trying
                raise RuntimeError(f"prompt {st.prompt_id} ({prompt.instrument_id}): the panel refused the "
                                   f"scripted answers ({self.panel.state().message})")

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop answering and close the panel."""
        self._stop.set()
        self._thread.join(timeout_s)
        self.panel.close()
