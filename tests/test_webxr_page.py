"""The WebXR page in a real browser: Debian's Chromium (headless, SwiftShader WebGL) driven by
Playwright, served over HTTPS with the generated certificate, fed by a real ZeroMQ publisher
through the WebSocket bridge.

Checks what a participant and an experimenter would notice: the page needs pairing, shows
the avatar where our own skinning puts it (silhouette against a numpy rasterisation of the
same pose seen by the page's camera), follows the stream without gaps, starts the speech at
the cue's time, and enters and leaves an (emulated) immersive WebXR session.
"""
from __future__ import annotations

import shutil
import socket
import ssl
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from questionnaires.tls import ensure_certificate
from questionnaires.webxr import THREE_DIR, WebXRConfig, serve
from questionnaires.webxr_model import web_model
from vr_study.storage import StudyDatabase, TrialRecord
from vr_study.stream import PosePublisher
from vr_study.stream.wsbridge import PoseBridge

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
IWER = Path(__file__).resolve().parents[1] / "node_modules" / "iwer" / "build" / "iwer.min.js"
ARGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian package chromium is not installed"),
              pytest.mark.skipif(not (THREE_DIR / "three.module.js").exists(), reason="run `npm ci` (three.js)")]
#: Smallest intersection-over-union of the page's avatar silhouette and our own rasterisation.
MIN_SILHOUETTE_IOU = 0.95   # measured 0.972 at 480x400 (antialiased edges, dark shoes)


def wait_for(page, expr: str, timeout_s: float = 30.0):
    """Poll ``expr`` in the page until truthy (evaluate: the page's CSP forbids string eval)."""
    end = time.monotonic() + timeout_s
    while True:
        v = page.evaluate(expr)
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {expr}: {page.evaluate('JSON.stringify(vrStudy)')[:500]}")
        time.sleep(0.05)


def tone_wav(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="module")
def body():
    from vr_study.body import load_body_model

    return load_body_model()


@pytest.fixture(scope="module")
def site(tmp_path_factory, body):
    tmp = tmp_path_factory.mktemp("webxr")
    db = StudyDatabase(tmp / "study.sqlite")
    trials = [TrialRecord(trial_index=0, block=0, trial_kind="stimulus", position_in_block=0, method="emage",
                          emotion="happy", questionnaires=["sam"])]
    sid = db.create_session("P01", "webxr-test", trials, plan_row=0, seed=0)
    audio_dir = tmp / "speech"
    audio_dir.mkdir()
    tone_wav(audio_dir / "hello.wav")
    tone_wav(tmp / "secret.wav")                  # outside the allowed folder
    pub = PosePublisher("tcp://127.0.0.1:*")
    cert = ensure_certificate(tmp, hosts=["127.0.0.1"])
    config = WebXRConfig(PoseBridge(pub.endpoint), lambda: web_model(body), audio_roots=[audio_dir])
    server = serve(db, config, certificate=cert)
    yield {"db": db, "sid": sid, "pub": pub, "server": server, "cert": cert, "tmp": tmp, "audio": audio_dir}
    server.stop()
    pub.close()
    db.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_paired(browser, site, init_script: str | None = None):
    ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 480, "height": 400})
    ctx.set_default_timeout(20_000)
    if init_script:
        ctx.add_init_script(init_script)
    page = ctx.new_page()
    page.goto(f"{site['server']}/w/")
    assert page.url.endswith("/w/join")                           # not paired: the join page
    page.fill("#code", site["db"].session_code(site["sid"]))
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{site['server']}/w/"
    wait_for(page, "window.vrStudy && (vrStudy.ready || vrStudy.error)")
    assert page.evaluate("vrStudy.error") is None
    wait_for(page, "vrStudy.socket === 'open' && vrStudy.clock.pings >= 4")
    return ctx, page


def release(site) -> None:
    """Free the session for the next test's browser (as the experimenter's Release button)."""
    from questionnaires.tablet_participant import release_tablet

    release_tablet(site["server"].app.state.tablet, site["sid"], "test")


@pytest.fixture()
def headset(browser, site):
    """Opens a paired page (see :func:`open_paired`); closes it and releases the session afterwards."""
    opened = []

    def open_(init_script: str | None = None):
        ctx, page = open_paired(browser, site, init_script)
        opened.append(ctx)
        return page
    yield open_
    for ctx in opened:
        ctx.close()
    release(site)
    

def publish(pub, avatar: str, poses: np.ndarray, fps: float, start_s: float, transl=None, expr=None) -> None:
    """Publish ``poses`` (T, 55, 3) in real time: pose i for presentation at start_s + i / fps."""
    for i, pose in enumerate(poses):
        t = start_s + i / fps
        while time.monotonic() < t - 0.02:                       # 20 ms lead, as a pose server has
            time.sleep(0.002)
        pub.send(avatar, t, fps, pose, np.zeros(3) if transl is None else transl[i],
                 np.zeros(10) if expr is None else expr[i])


def test_page_is_https_with_the_generated_certificate_and_needs_pairing(site, browser, headset):
    host, port = site["server"].removeprefix("https://").split(":")
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((host, int(port))) as raw, ctx.wrap_socket(raw) as tls:
        import hashlib
        served = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest().upper()
    assert ":".join(served[i:i + 2] for i in range(0, 64, 2)) == site["cert"].fingerprint_sha256

    # the pose WebSocket: no pairing cookie, no connection
    import websockets.sync.client as wsc
    from websockets.exceptions import InvalidStatus
    with pytest.raises(InvalidStatus) as refused:
        wsc.connect(f"wss://{host}:{port}/w/ws", ssl=ctx, origin=f"https://{host}:{port}", open_timeout=10)
    assert refused.value.response.status_code == 403

    c = browser.new_context(ignore_https_errors=True)
    page = c.new_page()
    assert page.goto(f"{site['server']}/w/model.json").status == 403          # not paired
    assert page.goto(f"{site['server']}/w/audio?path={site['audio'] / 'hello.wav'}").status == 403
    page.goto(f"{site['server']}/w/")
    assert page.url.endswith("/w/join")
    page.fill("#code", "AAA-BBB-CCC")
    page.click("button[type=submit]")
    assert "No session has the code" in page.inner_text("body")
    assert page.get_attribute("form", "action") == "/w/join"           # typing again stays on the headset's form
    c.close()

    page = headset()
    assert page.evaluate("window.isSecureContext") is True
    # paired: only .wav files inside the allowed folders
    assert page.goto(f"{site['server']}/w/audio?path={site['tmp'] / 'secret.wav'}").status == 403
    assert page.goto(f"{site['server']}/w/audio?path={site['audio'] / 'hello.wav'}").status == 200
    # the model files carry an ETag: a reloading page revalidates them (304, no body) instead
    # of fetching a real SMPL-X model's tens of MB again
    r = page.request.get(f"{site['server']}/w/model.bin")
    etag = r.headers["etag"]
    assert r.status == 200 and len(r.body()) > 100_000 and "no-cache" in r.headers["cache-control"]
    again = page.request.get(f"{site['server']}/w/model.bin", headers={"If-None-Match": etag})
    assert again.status == 304 and again.body() == b""
    other = page.request.get(f"{site['server']}/w/model.bin", headers={"If-None-Match": '"stale"'})
    assert other.status == 200 and other.body() == r.body()
    assert page.request.get(f"{site['server']}/w/model.json").headers["etag"] == etag


def _silhouette_reference(body, pose: np.ndarray, view: np.ndarray, proj: np.ndarray, size: tuple[int, int]
                          ) -> np.ndarray:
    """Our own render of the avatar's silhouette: numpy skinning (what the XR shader does) and
    PIL rasterisation of every triangle, with the page's camera matrices."""
    from PIL import Image, ImageDraw

    from vr_study.xr.avatar import conversational_placements
    from vr_study.xr.gpuskin import build_rig, joint_transforms, skin_reference

    rig = build_rig(body, weight_mode="top4")
    verts, _ = skin_reference(rig, joint_transforms(rig, pose, np.zeros(3), np.zeros(10)), np.zeros(10))
    world = verts @ conversational_placements(1)[0].matrix()[:3, :3].T + conversational_placements(1)[0].position
    clip = np.c_[world, np.ones(len(world))] @ (proj @ view).T
    ndc = clip[:, :3] / clip[:, 3:]
    w, h = size
    px = np.c_[(ndc[:, 0] + 1) / 2 * w, (1 - ndc[:, 1]) / 2 * h]
    img = Image.new("L", size, 0)
    draw = ImageDraw.Draw(img)
    for f in body.faces:
        draw.polygon([tuple(px[i]) for i in f], fill=255)
    return np.asarray(img) > 0


def test_page_draws_the_avatar_where_our_skinning_puts_it(site, headset, body):
    page = headset()
    pose = np.zeros((55, 3))
    pose[16] = [0, 0, -1.1]          # left shoulder: arm down
    pose[17] = [0, 0, 0.6]           # right shoulder: arm half up
    pose[19] = [0, -1.2, 0]          # right elbow bent
    pose[0] = [0, 0.5, 0]            # body turned a little
    publish(site["pub"], "solo", np.repeat(pose[None], 10, 0), 30.0, time.monotonic() + 0.05)
    wait_for(page, "vrStudy.avatars.solo && vrStudy.avatars.solo.seq === 9")
    np.testing.assert_allclose(page.evaluate("vrStudy.avatars.solo.fullPose"), pose.ravel(), atol=1e-6)
    page.evaluate("document.getElementById('bar').style.display = 'none'")
    time.sleep(0.3)
    shot = page.screenshot()
    cam = page.evaluate("vrStudy.camera")
    from io import BytesIO

    from PIL import Image
    rgb = np.asarray(Image.open(BytesIO(shot)).convert("RGB")).astype(int)
    background = np.array([0x30, 0x34, 0x3A])
    drawn = np.abs(rgb - background).max(axis=2) > 3     # the background is one flat colour
    view = np.asarray(cam["view"]).reshape(4, 4).T            # three.js: column-major
    proj = np.asarray(cam["projection"]).reshape(4, 4).T
    ref = _silhouette_reference(body, pose, view, proj, (rgb.shape[1], rgb.shape[0]))
    iou = (drawn & ref).sum() / (drawn | ref).sum()
    import os
    if os.environ.get("WEBXR_DEBUG"):
        dbg = np.zeros(rgb.shape, np.uint8)
        dbg[..., 0] = drawn * 255
        dbg[..., 1] = ref * 255
        Image.fromarray(dbg).save(os.environ["WEBXR_DEBUG"])
        Image.open(BytesIO(shot)).save(os.environ["WEBXR_DEBUG"] + ".shot.png")
    print(f"silhouette IoU {iou:.4f}")
    assert ref.sum() > 0.03 * ref.size                          # the avatar fills a fair part of the view
    assert iou >= MIN_SILHOUETTE_IOU, f"silhouette IoU {iou:.3f}"
    # a different pose does not match: the comparison can fail
    other = _silhouette_reference(body, np.zeros((55, 3)), view, proj, (rgb.shape[1], rgb.shape[0]))
    assert (drawn & other).sum() / (drawn | other).sum() < iou - 0.05
    # the default body has no pose correctives: three.js's own shader, and its vertices (read back
    # from the GPU) are our top-4 skinning's (tests/test_webxr_correctives.py: a body with them)
    assert page.evaluate("vrStudy.correctives") is None
    from vr_study.xr.avatar import conversational_placements
    from vr_study.xr.gpuskin import build_rig, joint_transforms, skin_reference
    rig = build_rig(body, weight_mode="top4")
    verts, _ = skin_reference(rig, joint_transforms(rig, pose, np.zeros(3), np.zeros(10)), np.zeros(10))
    place = conversational_placements(1)[0]
    want = verts @ place.matrix()[:3, :3].T + place.position
    got = np.asarray(page.evaluate("vrStudy.debug.skinnedVertices('solo')")).reshape(-1, 3)
    assert np.linalg.norm(got - want, axis=1).max() < 1e-4          # metres


def test_page_follows_the_stream_interpolating_on_the_servers_clock(site, headset):
    import threading

    page = headset()
    fps, n = 30.0, 150                                         # 5 s: enough page frames on a loaded CPU
    t = np.arange(n) / fps
    angle = -0.3 - 0.8 * np.sin(2 * np.pi * t / 2.0)           # left shoulder swinging, radians
    poses = np.zeros((n, 55, 3))
    poses[:, 16, 2] = angle
    start = time.monotonic() + 0.3
    sender = threading.Thread(target=publish, args=(site["pub"], "walker", poses, fps, start))
    bridge = site["server"].app.state.webxr.bridge
    dropped = bridge.stats.dropped_malformed
    site["pub"].send_raw([b"walker", b"VRPS" + b"\0" * 10, b"junk"])     # off-protocol: the bridge drops it
    sender.start()
    samples = []
    while sender.is_alive():
        before = time.monotonic()
        s = page.evaluate("(() => { const a = vrStudy.avatars.walker; return a && "
                          "{d: a.displayS, z: a.fullPose[16 * 3 + 2], age: a.age_s}; })()")
        after = time.monotonic()
        if s:
            samples.append((before, after, s))
        time.sleep(0.05)
    sender.join()
    inside = [(b, a, s) for b, a, s in samples if start + 0.1 < s["d"] < start + t[-1] and s["age"] == 0]
    assert len(inside) >= 10, samples
    for before, after, s in inside:
        # the page's display time is on the server's clock: at most a few (slow, software-GL)
        # frames behind "now"; a clock offset error would show as a constant shift
        assert before - 0.25 < s["d"] < after + 0.02, (before, s["d"], after)
        # and the pose it shows is the stream's, interpolated at that time (slerp about one axis = linear)
        assert s["z"] == pytest.approx(np.interp(s["d"], start + t, angle), abs=2e-4)
    wait_for(page, f"vrStudy.avatars.walker.stats.received === {n}")
    stats = page.evaluate("vrStudy.avatars.walker.stats")
    assert stats["gaps"] == 0 and stats["duplicates"] == 0 and page.evaluate("vrStudy.malformed") == 0
    assert bridge.stats.dropped_malformed == dropped + 1
    # the publisher went quiet: the last pose is held and its age grows
    wait_for(page, "vrStudy.avatars.walker.age_s > 0.2")
    assert page.evaluate("vrStudy.avatars.walker.fullPose[16 * 3 + 2]") == pytest.approx(angle[-1], abs=1e-6)
    # a second avatar: both stand on the XR renderer's arc, 1.3 m away, facing the participant
    from vr_study.xr.avatar import conversational_placements

    publish(site["pub"], "zeta", poses[:2], fps, time.monotonic())
    places = wait_for(page, "Object.keys(vrStudy.placements).length === 2 && vrStudy.placements")
    for name, want in zip(["walker", "zeta"], conversational_placements(2)):
        np.testing.assert_allclose(places[name]["position"], want.position, atol=1e-6)
        assert places[name]["yaw"] == pytest.approx(want.yaw_rad, abs=1e-6)


def test_audio_cue_starts_the_speech_at_the_cue_time(site, headset):
    page = headset()
    pub = site["pub"]
    publish(pub, "speaker", np.zeros((3, 55, 3)), 30.0, time.monotonic())
    start = time.monotonic() + 0.8
    pub.send_audio_cue("speaker", start, 0.0, str(site["audio"] / "hello.wav"))
    pub.send_audio_cue("speaker", start, 0.0, str(site["tmp"] / "secret.wav"))     # not in an allowed folder
    rec = wait_for(page, "vrStudy.audio.length === 2 && vrStudy.audio[0].heard_s && vrStudy.audio[1].error "
                         "&& vrStudy.audio")
    played, refused = rec
    assert played["error"] is None and played["start_s"] == pytest.approx(start, abs=1e-6)
    # scheduled on the audio clock for the cue's start (mapped through the clock offset) ...
    assert played["scheduled_s"] == pytest.approx(start, abs=0.02)
    # ... and heard (first animation frame whose analyser window is not silent) within a few frames of it;
    # the analyser sees samples when they are rendered, up to the output latency before the speaker does
    assert -0.08 < played["heard_s"] - start < 0.2, played["heard_s"] - start
    assert "403" in refused["error"]


def test_enter_and_exit_vr_with_an_emulated_headset(site, headset):
    if not IWER.exists():
        pytest.skip("run `npm ci` (iwer, the WebXR emulator, is a dev dependency)")
    # Meta's Immersive Web Emulation Runtime stands in for a headset (tests only)
    script = IWER.read_text() + "\n;new IWER.XRDevice(IWER.metaQuest3).installRuntime({forceInstall: true});\n"
    page = headset(script)
    assert page.evaluate("vrStudy.xr.supported") is True
    assert page.is_visible("#enter-vr")
    publish(site["pub"], "vr", np.zeros((3, 55, 3)), 30.0, time.monotonic())
    page.click("#enter-vr")
    wait_for(page, "vrStudy.xr.active && vrStudy.xrFrames > 10")
    assert page.evaluate("vrStudy.xr.referenceSpace") == "local-floor"
    assert page.inner_text("#enter-vr") == "Exit VR"
    # the XR camera is the headset's (IWER's Quest 3 stands at 1.6 m): eye height from the view matrix
    view = np.asarray(page.evaluate("vrStudy.camera.view")).reshape(4, 4).T
    assert np.linalg.inv(view)[1, 3] == pytest.approx(1.6, abs=0.2)
    inline_frames = page.evaluate("vrStudy.frames")
    page.dispatch_event("#enter-vr", "click")      # the emulator's view now covers the page: click in the DOM
    wait_for(page, "!vrStudy.xr.active")
    xr_frames = page.evaluate("vrStudy.xrFrames")
    wait_for(page, f"vrStudy.frames > {inline_frames + 5}")             # back to the inline view, still drawing
    assert page.evaluate("vrStudy.xrFrames") == xr_frames
    assert page.evaluate("vrStudy.xr.sessions") == 1 and page.inner_text("#enter-vr") == "Enter VR"


def _screen_xy(page, uv: tuple[float, float]) -> tuple[float, float]:
    """Where panel coordinates (u, v) appear on the page (CSS px), from the page's matrices."""
    # one read of panel and camera together: the page may swap its panel between two reads
    end = time.monotonic() + 10.0
    while not (st := page.evaluate("vrStudy.panel && vrStudy.panel.matrix ? "
                                   "({p: vrStudy.panel, c: vrStudy.camera, w: innerWidth, h: innerHeight}) : null")):
        assert time.monotonic() < end, "the page shows no panel"
        time.sleep(0.05)
    model = np.asarray(st["p"]["matrix"]).reshape(4, 4).T
    view = np.asarray(st["c"]["view"]).reshape(4, 4).T
    proj = np.asarray(st["c"]["projection"]).reshape(4, 4).T
    local = np.array([(uv[0] - 0.5) * st["p"]["width_m"], (0.5 - uv[1]) * st["p"]["height_m"], 0, 1])
    clip = proj @ view @ model @ local
    x, y = clip[:2] / clip[3]
    return (x + 1) / 2 * st["w"], (1 - y) / 2 * st["h"]


def test_answers_given_on_the_panel_in_the_page_land_in_the_database(site, headset):
    from questionnaires.submission import HEADSET

    db, sid = site["db"], site["sid"]
    pid = db.open_prompt(sid, 0, "emotion_recognition", {"emotion": "happy", "answer_in": HEADSET})
    page = headset()
    info = wait_for(page, "vrStudy.panel && vrStudy.panel.loadedVersion !== undefined && vrStudy.panel.matrix "
                          "&& vrStudy.panel")
    assert info["width_m"] == pytest.approx(0.64, abs=0.01)
    # world-locked in front of the eyes: distance_m ahead (horizontally), drop_m below
    cam = np.linalg.inv(np.asarray(page.evaluate("vrStudy.camera.view")).reshape(4, 4).T)[:3, 3]
    centre = np.asarray(info["matrix"]).reshape(4, 4).T[:3, 3]
    assert np.hypot(*(centre - cam)[[0, 2]]) == pytest.approx(info["distance_m"], abs=0.01)
    assert cam[1] - centre[1] == pytest.approx(info["drop_m"], abs=0.01)
    panel = site["server"].app.state.webxr.panel(sid)

    def click(uv) -> None:
        x, y = _screen_xy(page, uv)
        page.mouse.move(x, y)
        n = page.evaluate("vrStudy.frames")
        wait_for(page, f"vrStudy.frames > {n + 2}")            # hovering for a few frames
        page.mouse.down()
        page.mouse.up()
        n = page.evaluate("vrStudy.frames")
        wait_for(page, f"vrStudy.frames > {n + 2}")

    def until(check, timeout_s: float = 10.0) -> None:
        """The page's events reach the server asynchronously: wait for their effect."""
        end = time.monotonic() + timeout_s
        while not check():
            assert time.monotonic() < end, panel.state()
            time.sleep(0.05)

    v0 = page.evaluate("vrStudy.panel.version")
    click(panel.control_uv("submit"))                               # nothing chosen yet: refused
    until(lambda: "emotion" in panel.state().missing)
    assert db.responses(sid) == []
    wait_for(page, f"vrStudy.panel.loadedVersion > {v0}")          # the page shows the new image
    click(panel.control_uv("option", "emotion", "sad"))
    until(lambda: panel.state().answers.get("emotion") == "sad")
    click(panel.control_uv("option", "confidence", 4))
    until(lambda: panel.state().answers.get("confidence") == 4)
    click(panel.control_uv("submit"))
    until(lambda: len(db.responses(sid)) == 2)
    rows = {r.item_id: r for r in db.responses(sid)}
    assert rows["emotion"].value == "sad" and rows["confidence"].value == 4
    assert rows["emotion"].prompt_id == pid and rows["emotion"].client == "webxr"
    # the prompt is answered: the panel goes away (after the "saved" card)
    wait_for(page, "vrStudy.panel === null", timeout_s=15)
    # while the page's WebSocket is open the panel is drawn: the experimenter page's heartbeat
    from questionnaires.panel_presence import read_presence
    presence = read_presence(db, sid)
    assert presence is not None and presence.connected and presence.label == "WebXR page"
