"""Simulated sessions: state machine, experimenter controls, resume/redo, LSL markers, export."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from study_helpers import ANSWERS, make_study
from vr_study.audio import Audio, write_wav
from vr_study.storage import DuplicateParticipant, StudyDatabase
from vr_study.study.answerers import ScriptedAnswerer, fixed_answers
from vr_study.study.drivers import SimulatedDriver
from vr_study.study.export import COLUMNS, ItemInfo, export_study
from vr_study.study.session import run_session
from vr_study.study.spec import load_spec
from vr_study.study.turns import VadTurn, energy_vad

ROOT = Path(__file__).resolve().parent.parent


def _setup(tmp_path, kind="playback"):
    spec = load_spec(make_study(tmp_path / "study", kind=kind))
    return spec, StudyDatabase(spec.database, participant_pattern=spec.study.participant_pattern)


def _kinds(db, sid, trial=None):
    return [e.kind for e in db.events(sid) if trial is None or e.trial_index == trial]


def test_interaction_session_sends_lsl_markers_and_records_everything(tmp_path):
    import pylsl

    from vr_study.study.markers import LslMarkers

    spec, db = _setup(tmp_path, kind="interaction")
    markers = LslMarkers("vr-study-test", f"vr-study-test-{time.monotonic_ns()}")
    found = pylsl.resolve_byprop("source_id", markers._outlet.get_info().source_id(), minimum=1, timeout=10)
    assert found and found[0].type() == "Markers" and found[0].nominal_srate() == 0
    inlet = pylsl.StreamInlet(found[0])
    inlet.open_stream(timeout=5)
    answerer = ScriptedAnswerer(db, fixed_answers(ANSWERS))
    out = run_session(spec, db, "P02", SimulatedDriver(speed=20), answerer=answerer, markers=markers, speed=20)
    assert out.status == "finished" and out.prompts_answered == 9
    samples, stamps = [], []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        chunk, ts = inlet.pull_chunk(timeout=0.2)
        samples += [json.loads(c[0]) for c in chunk]
        stamps += ts
        if samples and samples[-1]["event"] == "session_end":
            break
    events = [s["event"] for s in samples]
    assert events.count("trial_start") == 5 and events.count("stimulus_onset") == 4
    assert events.count("response") == 9 and events.count("participant_turn_end") == 4
    onset = next(s for s in samples if s["event"] == "stimulus_onset")
    assert onset["participant"] == "P02" and onset["method"] in ("emage", "reconstruction")
    assert all(b >= a for a, b in zip(stamps, stamps[1:]))
    # the database holds the same markers with their LSL times
    logged = [e for e in db.events(out.session_id) if e.lsl_time_s is not None]
    assert len(logged) == len(samples)
    assert np.allclose(sorted(e.lsl_time_s for e in logged), sorted(stamps), atol=1e-6)
    trials = db.trials(out.session_id)
    assert [t.status for t in trials] == ["done"] * 5
    markers.close()


def test_experimenter_repeat_skip_pause_are_obeyed_and_recorded(tmp_path):
    spec, db = _setup(tmp_path)

    def answers_for(p):
        return {} if p.trial_index == 1 else fixed_answers(ANSWERS)(p)

    class Answerer(ScriptedAnswerer):
        def __call__(self, prompt):
            if prompt.trial_index != 1:
                super().__call__(prompt)

    sid_box = {}
    result = {}
    th = threading.Thread(target=lambda: result.setdefault("out", run_session(
        spec, db, "P03", SimulatedDriver(speed=1), answerer=Answerer(db, answers_for),
        on_session=lambda sid: sid_box.setdefault("sid", sid))))
    th.start()

    def wait_for(cond, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            time.sleep(0.02)
        raise AssertionError("timed out")

    wait_for(lambda: "sid" in sid_box)
    sid = sid_box["sid"]
    wait_for(lambda: "stimulus_onset" in _kinds(db, sid, 0))
    db.request_control(sid, "repeat")
    wait_for(lambda: any(p.trial_index == 1 for p in db.open_prompts(sid)))
    db.request_control(sid, "repeat")  # nothing to repeat while the tablet shows a questionnaire
    wait_for(lambda: "repeat_ignored" in _kinds(db, sid, 1))
    db.request_control(sid, "skip")
    db.request_control(sid, "pause")
    wait_for(lambda: "paused" in _kinds(db, sid))
    time.sleep(0.5)
    db.request_control(sid, "resume")
    th.join(60)
    assert result["out"].status == "finished"
    k0 = _kinds(db, sid, 0)
    assert k0.count("stimulus_onset") == 2 and "repeat" in k0
    trials = db.trials(sid)
    assert _kinds(db, sid, 1).count("stimulus_onset") == 1
    assert trials[1].status == "skipped" and all(t.status == "done" for i, t in enumerate(trials) if i != 1)
    assert [p.status for p in db.prompts(sid) if p.trial_index == 1] == ["cancelled"]
    evs = db.events(sid)
    kinds = [e.kind for e in evs]
    i_pause, i_resume = kinds.index("paused"), kinds.index("resumed")
    assert "stimulus_onset" not in kinds[i_pause:i_resume]
    assert evs[i_resume].mono_ns - evs[i_pause].mono_ns >= 0.4e9


def test_abort_then_resume_continues_without_asking_again_and_redo(tmp_path):
    spec, db = _setup(tmp_path)

    class AbortAfterFirstScreen(ScriptedAnswerer):
        def __call__(self, prompt):
            if prompt.trial_index == 1 and prompt.instrument_id == "emotion_recognition":
                self.db.request_control(prompt.session_id, "abort")
                return
            super().__call__(prompt)

    out = run_session(spec, db, "P04", SimulatedDriver(speed=50),
                      answerer=AbortAfterFirstScreen(db, fixed_answers(ANSWERS)))
    assert out.status == "aborted"
    sid = out.session_id
    assert db.session(sid).status == "aborted"
    answered_before = {(p.trial_index, p.instrument_id) for p in db.prompts(sid) if p.status == "answered"}
    assert answered_before == {(0, "trial_ratings"), (0, "emotion_recognition"), (1, "trial_ratings")}
    with pytest.raises(DuplicateParticipant):
        run_session(spec, db, "P04", SimulatedDriver(speed=50))
    out = run_session(spec, db, "P04", SimulatedDriver(speed=50), resume=True,
                      answerer=ScriptedAnswerer(db, fixed_answers(ANSWERS)))
    assert out.status == "finished"
    k1 = _kinds(db, sid, 1)
    assert k1.count("stimulus_onset") == 1 and "presentation_skipped_on_resume" in k1
    answered = [(p.trial_index, p.instrument_id) for p in db.prompts(sid) if p.status == "answered"]
    assert len(answered) == len(set(answered)) == 9
    # the experimenter asks trial 2 again: new attempt, old answers kept, export shows the new ones
    new = dict(ANSWERS, trial_ratings={**ANSWERS["trial_ratings"], "naturalness": 1})
    out = run_session(spec, db, "P04", SimulatedDriver(speed=50), resume=True, redo=[2],
                      answerer=ScriptedAnswerer(db, fixed_answers(new)))
    assert out.status == "finished" and out.prompts_answered == 2
    paths = export_study(db, tmp_path / "out")
    rows = list(csv.DictReader(io.StringIO(paths["responses.csv"].read_text())))
    nat = [(r["trial_index"], r["attempt"], r["value"]) for r in rows if r["item"] == "naturalness"]
    assert ("2", "1", "1") in nat and not any(t == "2" and a == "0" for t, a, _ in nat)
    assert len([r for r in db.responses(sid) if r.trial_index == 2]) == 2 * 7


def test_export_columns_scoring_and_correctness(tmp_path):
    spec, db = _setup(tmp_path)
    script = dict(ANSWERS, emotion_recognition={"emotion": "happy", "confidence": 5})
    out = run_session(spec, db, "P05", SimulatedDriver(speed=50), answerer=ScriptedAnswerer(db, fixed_answers(script)))
    info = {("trial_ratings", "naturalness"): ItemInfo("trial_ratings", "naturalness", "natural?", "likert",
                                                       ("quality",), 1, 7, True),
            ("emotion_recognition", "emotion"): ItemInfo("emotion_recognition", "emotion", "which?", "choice",
                                                         options=("happy", "neutral"), correct_from="emotion")}
    paths = export_study(db, tmp_path / "out", info, "short_demo")
    rows = list(csv.DictReader(io.StringIO(paths["responses.csv"].read_text())))
    assert list(rows[0])[:len(COLUMNS)] == COLUMNS
    assert len(rows) == 4 * 7 + 3
    nat = [r for r in rows if r["item"] == "naturalness"]
    assert all(r["value"] == "4" and r["value_scored"] == "4" and r["reversed"] == "1" and r["subscale"] == "quality"
               and r["scale_min"] == "1" and r["scale_max"] == "7" for r in nat)  # 1 + 7 - 4
    rec = [r for r in rows if r["item"] == "emotion"]
    assert sorted((r["emotion"], r["correct"]) for r in rec) == [("happy", "1"), ("happy", "1"),
                                                                ("neutral", "0"), ("neutral", "0")]
    assert all((r["response_text"], r["value"], r["scale_min"], r["scale_max"]) == ("happy", "1", "1", "2")
               for r in rec)
    assert all(r["correct"] == "" for r in rows if r["item"] != "emotion")
    trials = {t.trial_index: t for t in db.trials(out.session_id)}
    for r in rows:
        t = trials[int(r["trial_index"])]
        assert (r["method"] or None, r["clip_id"] or None, int(r["block"])) == (t.method, t.clip_id, t.block)
        assert r["participant_id"] == "P05" and float(r["rt_s"]) >= 0
    assert "| `value_scored` |" in paths["codebook.md"].read_text()
    assert "natural?" in paths["codebook.csv"].read_text()


def test_cli_session_duplicate_resume_and_export(tmp_path):
    spec_path = make_study(tmp_path / "study")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "LSLAPICFG": str(ROOT / "tests" / "lsl_loopback.cfg")}

    def cli(*a):
        return subprocess.run([sys.executable, "-m", "vr_study.cli", *a], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env=env)

    r = cli("session", "run", str(spec_path), "--participant", "P06", "--simulate", "--speed", "50",
            "--scripted-answers", "random", "--tablet-port", "0", "--no-lsl")
    assert r.returncode == 0, r.stderr
    assert "tablet: open http://127.0.0.1:" in r.stdout and "finished" in r.stdout
    r = cli("session", "run", str(spec_path), "--participant", "P06", "--simulate", "--no-lsl", "--no-tablet")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "already has session" in r.stderr and "--resume" in r.stderr
    r = cli("session", "run", str(spec_path), "--participant", "Alice", "--simulate", "--no-lsl", "--no-tablet")
    assert r.returncode == 2 and "pseudonymous" in r.stderr
    r = cli("session", "run", str(spec_path), "--participant", "P06", "--resume", "--simulate", "--no-lsl",
            "--no-tablet")
    assert r.returncode == 0 and "0 questionnaires answered" in r.stdout  # nothing asked again
    r = cli("export", str(spec_path), "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "responses.csv").read_text())))
    assert len(rows) == 4 * 7 + 3
    rec = [r for r in rows if r["instrument"] == "emotion_recognition" and r["item"] == "emotion"]
    assert all(r["correct"] == "1" for r in rec)  # scripted answers name the trial's emotion
    sam = [r for r in rows if r["instrument"] == "sam"]
    assert {r["scale_min"] for r in sam} == {"1"} and {r["scale_max"] for r in sam} == {"9"}


def test_energy_vad_finds_a_spoken_turn(tmp_path):
    sr = 16000
    rng = np.random.default_rng(0)
    sig = np.concatenate([np.zeros(sr // 2), 0.1 * rng.standard_normal(sr), np.zeros(3 * sr // 2)]).astype(np.float32)
    blocks = [sig[i:i + 320] for i in range(0, len(sig), 320)]
    res = energy_vad(blocks, sr, threshold_db=-40, silence_s=0.8, max_s=10)
    assert res.ended_by == "silence"
    assert abs(res.speech_start_s - 0.5) < 0.05 and abs(res.speech_end_s - 1.5) < 0.05
    quiet = energy_vad([np.zeros(sr * 2, np.float32)], sr, max_s=1.0)
    assert quiet.speech_start_s is None and quiet.ended_by == "max_time"
    wav = tmp_path / "turn.wav"
    write_wav(wav, Audio(sig, sr))
    res = VadTurn(wav, realtime=False).wait_turn(10, 0.8, -40, threading.Event())
    assert res.ended_by == "silence" and abs(res.speech_start_s - 0.5) < 0.05


def test_espeak_ng_speaks_the_agent_turn(tmp_path):
    from vr_study.study.drivers import wav_duration_s
    from vr_study.study.tts import EspeakNg

    tts = EspeakNg()
    wav = tts.synthesize("Hello, thank you for coming in today.", tmp_path)
    assert 1.0 < wav_duration_s(wav) < 6.0
    assert tts.synthesize("Hello, thank you for coming in today.", tmp_path) == wav  # cached
    from vr_study.audio import read_audio

    assert np.abs(read_audio(wav).samples).max() > 0.05


def test_demo_entry_point_runs_a_short_study_through_the_tablet_pages(tmp_path, capsys):
    from study_helpers import make_library

    from vr_study.cli import main
    from vr_study.cli.study import simulate_participant

    assert main(["study", "init", "--short", "--methods", "emage,reconstruction", "-o", str(tmp_path)]) == 0
    make_library(tmp_path / "stimuli")
    res = simulate_participant(tmp_path / "study.yaml", "P01", tmp_path / "out", speed=50)
    assert res["exit_code"] == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "responses.csv").read_text())))
    godspeed = [r for r in rows if r["instrument"] == "godspeed"]
    assert len(rows) == 4 * 7 + len(godspeed) and len(godspeed) == 24
    assert {r["method"] for r in rows if r["trial_kind"] == "playback"} == {"emage", "reconstruction"}
    db = StudyDatabase(tmp_path / "data" / "study.sqlite")
    (sess,) = db.sessions()
    clients = {r.client for r in db.responses(sess.session_id)}
    assert clients and all(c.startswith("127.0.0.1 ") for c in clients)  # answered over HTTP, not the DB API
    assert "tablet: open http://127.0.0.1:" in capsys.readouterr().out


def test_session_run_https_serves_the_tablet_pages_over_tls_with_the_printed_fingerprint(tmp_path):
    """``session run --https``: the pages it starts are TLS only, with the certificate whose
    fingerprint it prints (the one ``tablet serve --https`` would use: next to the database)."""
    import hashlib
    import re
    import socket
    import ssl
    import stat

    import httpx

    from questionnaires.simulate import HttpAnswerer, random_answers

    spec_path = make_study(tmp_path / "study")
    spec = load_spec(spec_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1",
           "LSLAPICFG": str(ROOT / "tests" / "lsl_loopback.cfg")}
    proc = subprocess.Popen([sys.executable, "-m", "vr_study.cli", "session", "run", str(spec_path), "--participant",
                             "P01", "--simulate", "--speed", "50", "--no-lsl", "--https", "--tablet-port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    answerer = None
    try:
        lines = []
        while not lines or "fingerprint:" not in lines[-1]:
            line = proc.stdout.readline()
            assert line, f"session run ended early: {lines} {proc.stderr.read()}"
            lines.append(line)
        m = re.search(r"tablet: open (https://127\.0\.0\.1:(\d+))/t/ and enter the code (\w+)", "".join(lines))
        assert m and int(m.group(2)) == port, lines
        base, code = m.group(1), m.group(3)
        assert any(f"experimenter page: {base}/x/login" in x for x in lines)
        printed = lines[-1].split("fingerprint:")[1].strip()
        # the certificate a client sees on the port is the printed one
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            seen = ":".join(f"{b:02X}" for b in hashlib.sha256(tls.getpeercert(binary_form=True)).digest())
        assert seen == printed and len(printed) == 95
        cert = Path(spec.database).resolve().parent / "tablet-cert.pem"
        assert stat.S_IMODE(cert.stat().st_mode) == 0o600
        assert stat.S_IMODE((cert.parent / "tablet-key.pem").stat().st_mode) == 0o600
        # plain HTTP on that port gets no page
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/t/join", timeout=5)
        with httpx.Client(base_url=base, verify=False, timeout=10) as c:
            r = c.get("/t/join")
            assert r.status_code == 200 and "code" in r.text
        # a tablet (certificate accepted) answers everything over TLS and the session finishes
        answerer = HttpAnswerer(base, code, random_answers(3), verify=False).start()
        out, err = proc.communicate(timeout=120)
    finally:
        if answerer is not None:
            answerer.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert "finished" in out and answerer.error is None and answerer.results
    assert {r.submission for r in answerer.results} == {"stored"}
    db = StudyDatabase(spec.database)
    sid = db.sessions()[0].session_id
    assert len({r.prompt_id for r in db.responses(sid)}) == len(answerer.results)
    db.close()
