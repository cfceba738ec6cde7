"""The session orchestrator: a state machine over one participant's plan.

For each step (lowest trial index not yet done): ``trial_start`` -> present the stimulus
(or run the interaction: agent turns spoken by TTS with motion from the trial's method,
participant turns ended by voice activity or the experimenter's key) -> open each
questionnaire prompt in turn and wait for its answer (on the tablet, or on the headset's panel
for instruments the spec's ``questionnaires.mode``/``headset`` routes there; the prompt's
context says which under ``answer_in``) -> ``done``. Everything is
recorded in the study database as it happens; LSL markers mark trial start, stimulus onset
and each response.

The experimenter steers through control commands (keyboard, or ``db.request_control`` from
the experimenter page): ``pause``/``resume`` (takes effect at the next transition),
``repeat`` (show the stimulus again before the questionnaires), ``skip`` (abandon the
current step), ``redo`` (ask an earlier trial again), ``abort``, ``turn`` (end the
participant's turn).

Crash safety: the orchestrator keeps no state of its own. After a crash ``resume=True``
continues at the first step not done; a step whose questionnaires were partly answered is
not shown again, and an answered questionnaire is never asked again (unless ``redo``).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from vr_study.errors import InputError
from vr_study.storage import CONTROL_EVENT, Prompt, StudyDatabase, TrialRecord
from vr_study.study.agent_speech import silent_speech
from vr_study.study.drivers import StimulusDriver
from vr_study.study.markers import MarkerSink, NoMarkers
from vr_study.study.plan import build_plan
from vr_study.study.quality import CHECK_RESULT_EVENT, check_failures
from vr_study.study.spec import ANSWER_CHANNEL_KEY, AgentTurn, ParticipantTurn, StudySpec
from vr_study.study.stimuli import clips_by_cell
from vr_study.study.tts import TtsBackend
from vr_study.study.turns import TimedTurn, TurnDetector

#: Called (in a background thread) with every prompt the session opens: a scripted tablet.
Answerer = Callable[[Prompt], None]
STIMULUS_KINDS = ("practice", "playback", "interaction")


class SessionAborted(Exception):
    """The experimenter aborted the session (it can be resumed later)."""


@dataclass
class SessionOutcome:
    session_id: int
    participant_id: str
    code: str
    status: str  # finished | aborted
    steps_run: int
    prompts_answered: int


class Controls:
    """Experimenter commands from the database (experimenter page) and a local queue (keyboard)."""

    def __init__(self, db: StudyDatabase, session_id: int, poll_s: float = 0.1):
        self.db, self.session_id, self.poll_s = db, session_id, poll_s
        self._after = db.last_event_id()  # commands sent before this run started are stale
        self._last_poll = 0.0
        self.paused = False
        self.turn_key = threading.Event()

    def poll(self, force: bool = False) -> list[dict[str, Any]]:
        now = time.monotonic()
        if not force and now - self._last_poll < self.poll_s:
            return []
        self._last_poll = now
        evs = self.db.events_after(self.session_id, self._after, kind=CONTROL_EVENT)
        if evs:
            self._after = evs[-1].event_id
        cmds = [e.payload for e in evs]
        for c in cmds:
            if c.get("command") == "turn":
                self.turn_key.set()
        return cmds


class _Interrupt(Exception):
    def __init__(self, command: dict[str, Any]):
        self.command = command


class SessionRunner:
    """Runs one participant's steps; see the module docstring."""

    def __init__(self, spec: StudySpec, db: StudyDatabase, session_id: int, driver: StimulusDriver, *,
                 answerer: Answerer | None = None, markers: MarkerSink | None = None,
                 tts: TtsBackend | None = None, turn_detector: TurnDetector | None = None,
                 speed: float = 1.0, work_dir: Path | None = None, log: Callable[[str], None] = lambda m: None,
                 poll_s: float = 0.05):
        self.spec, self.db, self.session_id, self.driver = spec, db, session_id, driver
        self.answerer, self.markers = answerer, markers or NoMarkers()
        self.tts, self.speed, self.log, self.poll_s = tts, speed, log, poll_s
        self.turn_detector = turn_detector or TimedTurn(2.0, speed)
        self.work_dir = work_dir or Path(spec.base_dir) / "data" / "tts"
        self.controls = Controls(db, session_id)
        self.info = db.session(session_id)
        self.stop = threading.Event()
        self.answered = 0
        self.steps_run = 0

    # -- recording --------------------------------------------------------------------------
    def event(self, kind: str, step: TrialRecord | None = None, marker: bool = False, **payload: Any) -> None:
        ts = None
        if marker:
            fields: dict[str, Any] = {"participant": self.info.participant_id}
            if step is not None:
                fields.update(step.conditions)
                fields.update(trial=step.trial_index, kind=step.trial_kind, block=step.block)
            fields.update(payload)
            ts = self.markers.send(kind, **fields)
        self.db.log_event(self.session_id, kind, step.trial_index if step else None, payload, lsl_time_s=ts)

    # -- control handling ---------------------------------------------------------------------
    def _handle(self, cmds: Iterable[dict[str, Any]], step: TrialRecord | None) -> None:
        """Apply pause/resume/redo; raise for the first skip, abort or repeat (after applying the rest)."""
        interrupt = None
        for c in cmds:
            cmd = c.get("command")
            if cmd == "pause":
                self.controls.paused = True
                self.log("paused (resume to continue)")
            elif cmd == "resume":
                self.controls.paused = False
            elif cmd == "redo":
                trial = int(c.get("trial", -1))
                try:
                    self.db.redo_trial(self.session_id, trial, reason=str(c.get("source", "experimenter")))
                    self.log(f"trial {trial} will be asked again")
                except InputError as e:
                    self.log(f"redo refused: {e}")
            elif cmd in ("skip", "abort", "repeat") and interrupt is None:
                interrupt = c
        if interrupt is not None:
            raise _Interrupt(interrupt)

    def _no_repeat(self, cmds: list[dict[str, Any]], step: TrialRecord | None) -> list[dict[str, Any]]:
        """Drop ``repeat`` commands that arrive when no stimulus can be repeated (logged)."""
        for c in cmds:
            if c.get("command") == "repeat":
                self.event("repeat_ignored", step, reason="no stimulus is being shown")
        return [c for c in cmds if c.get("command") != "repeat"]

    def checkpoint(self, step: TrialRecord | None, repeat_ok: bool = False) -> None:
        """A transition: take commands; wait here while paused."""
        cmds = self.controls.poll(force=True)
        self._handle(cmds if repeat_ok else self._no_repeat(cmds, step), step)
        if self.controls.paused:
            self.event("paused", step)
            while self.controls.paused:
                time.sleep(self.poll_s)
                cmds = self.controls.poll()
                self._handle(cmds if repeat_ok else self._no_repeat(cmds, step), step)
            self.event("resumed", step)

    def _watch(self, fn: Callable[[], Any], step: TrialRecord) -> Any:
        """Run a blocking stimulus call in a thread; a skip/abort/repeat command stops it."""
        result: list[Any] = []
        err: list[BaseException] = []
        self.stop.clear()

        def target() -> None:
            try:
                result.append(fn())
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                err.append(e)

        th = threading.Thread(target=target, daemon=True)
        th.start()
        try:
            while th.is_alive():
                th.join(self.poll_s)
                self._handle(self.controls.poll(), step)  # a pause is honoured at the next transition
        except _Interrupt:
            self.stop.set()
            th.join(5.0)
            raise
        if err:
            raise err[0]
        return result[0] if result else None

    # -- steps ------------------------------------------------------------------------------------
    def run(self) -> SessionOutcome:
        self.db.set_session_status(self.session_id, "running")
        try:
            while True:
                step = self._next_step()
                if step is None:
                    break
                self.run_step(step)
        except SessionAborted:
            self.db.set_session_status(self.session_id, "aborted")
            return self._outcome("aborted")
        self.db.set_session_status(self.session_id, "finished")
        self.event("session_end", marker=True)
        return self._outcome("finished")

    def _outcome(self, status: str) -> SessionOutcome:
        return SessionOutcome(self.session_id, self.info.participant_id, self.info.code, status,
                              self.steps_run, self.answered)

    def _next_step(self) -> TrialRecord | None:
        for t in self.db.trials(self.session_id):
            if t.status in ("pending", "running"):
                return t
        return None

    def run_step(self, step: TrialRecord) -> None:
        self.steps_run += 1
        try:
            self.checkpoint(step)
            self.db.set_trial_status(self.session_id, step.trial_index, "running")
            self.event("trial_start", step, marker=True, attempt=step.attempt, clip_id=step.clip_id)
            self.event("stream_health", step, **self.driver.health())
            self.log(f"trial {step.trial_index} ({step.trial_kind}) {_describe(step)}")
            already = [p for p in self.db.prompts(self.session_id)
                       if p.trial_index == step.trial_index and p.attempt == step.attempt]
            if any(p.status == "answered" for p in already):
                self.event("presentation_skipped_on_resume", step)
            else:
                while True:
                    try:
                        self._present(step)
                        self.checkpoint(step, repeat_ok=step.trial_kind in STIMULUS_KINDS)
                        break
                    except _Interrupt as i:
                        if i.command.get("command") != "repeat":
                            raise
                        self.event("repeat", step, source=i.command.get("source"))
            self._questionnaires(step)
            self.db.set_trial_status(self.session_id, step.trial_index, "done")
            self.event("trial_end", step)
        except _Interrupt as i:
            cmd = i.command.get("command")
            for p in self.db.open_prompts(self.session_id):
                if p.trial_index == step.trial_index:
                    self.db.cancel_prompt(p.prompt_id, reason=cmd)
            if cmd == "abort":
                self.event("abort", step, source=i.command.get("source"))
                raise SessionAborted() from None
            self.db.set_trial_status(self.session_id, step.trial_index, "skipped")
            self.event("skip", step, source=i.command.get("source"))
            self.log(f"trial {step.trial_index} skipped")

    def _present(self, step: TrialRecord) -> None:
        def onset() -> None:
            self.event("stimulus_onset", step, marker=True, clip_id=step.clip_id)

        if step.trial_kind in ("practice", "playback") or (
                step.trial_kind == "interaction" and not self.spec.interaction.turns):
            self._watch(lambda: self.driver.present(step, self.stop, onset), step)
            self.event("stimulus_end", step)
        elif step.trial_kind == "interaction":
            self._interact(step, onset)
        elif step.trial_kind == "break":
            dur = float(step.extra.get("duration_s", 0.0)) / self.speed
            self.event("break_start", step, duration_s=step.extra.get("duration_s"))
            self._watch(lambda: self.stop.wait(dur), step)
        elif step.trial_kind == "attention_check":
            self.event("attention_check", step, marker=True, instruction=step.extra.get("instruction"))
            expect = step.extra.get("expect") or {}
            self.log(f"  attention check: the tablet shows \"{step.extra.get('instruction', '')}\" "
                     f"(pass = {', '.join(f'{k} {v}' for k, v in expect.items()) or 'not scored'})")

    def _interact(self, step: TrialRecord, onset: Callable[[], None]) -> None:
        first = True
        turn_clips = {int(t["turn"]): t for t in step.extra.get("turns", []) if isinstance(t, dict)}
        for i, turn in enumerate(self.spec.interaction.turns):
            if isinstance(turn, AgentTurn):
                clip = turn_clips.get(i)
                shown = step
                if clip is not None and clip.get("audio_path"):
                    # the turn's own clip: its motion was generated from exactly this audio
                    wav = Path(clip["audio_path"])
                    shown = replace(step, clip_id=clip["clip_id"], utterance=clip.get("utterance"),
                                    extra={**step.extra, "clip_path": clip["clip_path"],
                                           "duration_s": clip.get("duration_s") or step.extra.get("duration_s")})
                else:  # planned without a library (check_library=False): speech only
                    wav = self.spec.resolve(turn.wav) if turn.wav else self._speech(turn.agent or "")
                marks_onset = first

                def on_start(i=i, marks_onset=marks_onset, shown=shown) -> None:
                    if marks_onset:
                        onset()
                    self.event("agent_turn_start", step, marker=True, turn=i, clip_id=shown.clip_id)

                self._watch(lambda: self.driver.speak(shown, wav, self.stop, on_start), step)
                self.event("agent_turn_end", step, turn=i, wav=str(wav), clip_id=shown.clip_id)
                first = False
            elif isinstance(turn, ParticipantTurn):
                self.event("participant_turn_start", step, marker=True, turn=i, mode=turn.participant)
                res = self._watch(lambda: self.turn_detector.wait_turn(turn.max_s, turn.silence_s,
                                                                       turn.threshold_db, self.stop), step)
                self.event("participant_turn_end", step, marker=True, turn=i, speech_start_s=res.speech_start_s,
                           speech_end_s=res.speech_end_s, listened_s=res.listened_s, ended_by=res.ended_by)

    def _speech(self, text: str) -> Path:
        if self.tts is None:
            # no TTS backend: silence as long as reading the text takes
            return silent_speech(text, self.work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return self.tts.synthesize(text, self.work_dir)

    def _questionnaires(self, step: TrialRecord) -> None:
        context = {"participant_id": self.info.participant_id, "trial_index": step.trial_index,
                   "trial_kind": step.trial_kind, "block": step.block, "block_label": step.block_label,
                   "position_in_block": step.position_in_block, "clip_id": step.clip_id,
                   "study_id": self.spec.study.id, **step.conditions}
        for key in ("instruction", "expect", "when"):
            if key in step.extra:
                context[key] = step.extra[key]
        for instrument in step.questionnaires:
            self.checkpoint(step)
            channel = self.spec.questionnaires.channel(instrument)
            pid = self.db.open_prompt(self.session_id, step.trial_index, instrument,
                                      {**context, ANSWER_CHANNEL_KEY: channel})
            prompt = self.db.prompt(pid)
            if prompt.status == "answered":
                continue
            self.log(f"  waiting for {instrument} (prompt {pid}, "
                     + ("in the headset)" if channel == "headset" else f"tablet code {self.info.code})"))
            if self.answerer is not None:
                threading.Thread(target=self.answerer, args=(prompt,), daemon=True).start()
            deadline = time.monotonic() + self.spec.questionnaires.timeout_s
            while True:
                if self.db.wait_prompt(pid, min(0.25, max(0.0, deadline - time.monotonic())), poll_s=self.poll_s):
                    self.answered += 1
                    self.event("response", step, marker=True, instrument=instrument, prompt_id=pid)
                    if step.trial_kind == "attention_check" and isinstance(context.get("expect"), dict):
                        self._score_check(step, pid, context["expect"])
                    break
                if self.db.prompt(pid).status == "cancelled":
                    raise _Interrupt({"command": "skip", "source": "prompt_cancelled"})
                self._handle(self._no_repeat(self.controls.poll(), step), step)
                if time.monotonic() >= deadline:
                    self.event("prompt_timeout", step, instrument=instrument, prompt_id=pid)
                    self.log(f"  no answer to {instrument} within {self.spec.questionnaires.timeout_s:g} s; "
                             "still waiting (skip with 's')")
                    deadline = time.monotonic() + self.spec.questionnaires.timeout_s


    def _score_check(self, step: TrialRecord, prompt_id: int, expect: dict[str, Any]) -> None:
        """Record an attention check's pass/fail as it happens (event + LSL marker + console)."""
        answers = {r.item_id: r.value for r in self.db.responses(self.session_id) if r.prompt_id == prompt_id}
        failures = check_failures(expect, answers)
        self.event(CHECK_RESULT_EVENT, step, marker=True, passed=not failures, prompt_id=prompt_id,
                   expect=expect, failures=failures)
        self.log(f"  attention check {'passed' if not failures else 'FAILED: ' + '; '.join(failures)}")


def _describe(step: TrialRecord) -> str:
    return " ".join(f"{k}={v}" for k, v in step.conditions.items()) + (f" clip={step.clip_id}" if step.clip_id else "")


def prepare_session(spec: StudySpec, db: StudyDatabase, participant_id: str, *, resume: bool = False,
                    redo: Iterable[int] = (), check_library: bool = True, restart: bool = False,
                    pilot: bool = False) -> int:
    """Create (or, with ``resume``, find) the participant's session; returns its id.

    The id is normalised (``P4`` = ``P04`` = ``P004``, see
    :func:`vr_study.storage.canonical_participant_id`). A participant already in the database
    gets no second session: ``resume`` (or ``redo`` of trials, which resumes) continues the
    stored one, ``restart`` starts over in a new session and marks the earlier one
    ``superseded`` (kept, left out of the export). Otherwise
    :class:`vr_study.storage.DuplicateParticipant` is raised. InputError when resuming a
    participant who has none, or when the database belongs to another study.
    """
    stored_study = db.get_meta("study_id")
    if stored_study is not None and stored_study != spec.study.id:
        raise InputError(db.url, "study_id", f"is '{stored_study}' but the spec is '{spec.study.id}'",
                         "give this study its own database (storage.database)")
    if stored_study is None:
        db.set_meta("study_id", spec.study.id)
    participant_id = db.check_participant_id(participant_id)
    redo = list(redo)
    existing = [x for x in db.sessions_for(participant_id) if x.status != "superseded"]
    if restart and resume:
        raise InputError(None, "--restart", "cannot be combined with --resume",
                         "--resume continues the stored session; --restart starts a new one")
    if (resume or (redo and existing)) and not restart:
        if not existing:
            raise InputError(None, "participant", f"{participant_id} has no session to resume",
                             "start one without --resume")
        sid = existing[-1].session_id
        if db.get_meta(f"spec_sha256:{sid}") not in (None, spec.sha256):
            db.log_event(sid, "spec_changed_since_start", payload={"sha256": spec.sha256})
        db.log_event(sid, "session_resumed", payload={"redo": redo})
    else:
        if redo:
            raise InputError(None, "--redo", f"{participant_id} has no session whose trials could be asked again",
                             "start the session first (without --redo)")
        library = clips_by_cell(spec) if check_library else None
        arrivals = list(dict.fromkeys(x.participant_id for x in db.sessions()))
        mine = [x.participant_id for x in db.sessions_for(participant_id)]
        arrival = arrivals.index(mine[0]) if mine else len(arrivals)
        plan = build_plan(spec, participant_id, library, arrival_index=arrival)
        sid = db.create_session(participant_id, spec.study.id, plan.steps, plan_row=plan.plan_row, seed=plan.seed,
                                supersede=restart, pilot=pilot)
        db.set_meta(f"spec_sha256:{sid}", spec.sha256)
        db.set_meta("spec_file", str(Path(spec.source).resolve()))
    for t in redo:
        db.redo_trial(sid, int(t), reason="--redo")
    return sid


def run_session(spec: StudySpec, db: StudyDatabase, participant_id: str, driver: StimulusDriver, *,
                resume: bool = False, redo: Iterable[int] = (), restart: bool = False, pilot: bool = False,
                answerer: Answerer | None = None,
                markers: MarkerSink | None = None, tts: TtsBackend | None = None,
                turn_detector: TurnDetector | None = None, speed: float = 1.0, check_library: bool = True,
                log: Callable[[str], None] = lambda m: None,
                on_session: Callable[[int], None] | None = None) -> SessionOutcome:
    """Run (or resume) one participant's session to its end; see the module docstring.

    ``driver`` shows stimuli (``SimulatedDriver`` for simulations), ``answerer`` is called with
    each opened prompt (a scripted tablet; real tablets answer through the HTTP pages),
    ``speed`` divides waits (breaks, scripted turns). ``on_session`` gets the session id before
    the first step (to print the tablet code or start the tablet server).
    """
    sid = prepare_session(spec, db, participant_id, resume=resume, redo=redo, check_library=check_library,
                          restart=restart, pilot=pilot)
    if on_session is not None:
        on_session(sid)
    runner = SessionRunner(spec, db, sid, driver, answerer=answerer, markers=markers, tts=tts,
                           turn_detector=turn_detector, speed=speed, log=log)
    return runner.run()
