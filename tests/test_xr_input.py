"""Controller input, pointer rays and the panel layer.

The pure geometry (panel placement, ray/panel intersection) and the simulator's input
script are tested directly. The rest runs through the real Khronos loader (bundled in
pyopenxr), the project's headless OpenXR runtime with scripted controllers
(XR_HEADLESS_INPUT_SCRIPT) and the Khronos core validation layer, each in a subprocess
(pyopenxr switches PyOpenGL's platform on import; the loader reads XR_RUNTIME_JSON once).
Binding paths are checked against the OpenXR registry's lists (KhronosGroup/OpenXR-Docs @
9b6424730599568cd630255cbe6c07161bd53cd0, specification/registry/xr.xml lines 12386-12553).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from vr_study.errors import InputError
from vr_study.xr.capture import read_ppm
from vr_study.xr.raycast import PanelPlacement, forward_ray, intersect_panel, place_panel
from vr_study.xr.sim_input import ScriptedInput, TerminalKeys, read_input_script
from vr_study.xr.testruntime import build_test_runtime, runtime_env
from vr_study.xr.viewmath import Pose, yaw_quat

EYE_W, EYE_H = 160, 180
TOUCH = "/interaction_profiles/oculus/touch_controller"
INDEX = "/interaction_profiles/valve/index_controller"
HAND_EXT = "/interaction_profiles/ext/hand_interaction_ext"
# the panel of the test double: 0.6 m x 0.3 m, 0.8 m ahead of a head at (0, 1.6, 0) looking
# down -Z, 0.1 m below eye height -> centre (0, 1.5, -0.8)
PANEL_W, PANEL_H = 0.6, 0.3
# the right controller: at (0.2, 1.5, -0.2), turned left by atan(1/6) so that its ray hits
# the panel at x = 0.2 - 0.6 / 6 = 0.1 m: u = 0.5 + 0.1 / 0.6, v = 0.5
RIGHT_YAW = math.atan(1 / 6)
RIGHT_AIM = [0.2, 1.5, -0.2, *yaw_quat(RIGHT_YAW)]
EXPECTED_UV = (0.5 + 0.1 / 0.6, 0.5)
GAZE_UV = (0.5, 0.5 - 0.1 / PANEL_H)
MAGENTA = (230, 40, 200)
YELLOW = (240, 230, 40)


# ---------------------------------------------------------------- pure geometry
def test_panel_is_placed_ahead_below_eye_height_facing_the_head():
    head = Pose((0.5, 1.7, 1.0), yaw_quat(math.pi / 2))  # looking down -X, slightly pitched is ignored
    p = place_panel(head, 0.6, 0.3, distance_m=0.8, drop_m=0.1)
    assert p.center == pytest.approx((0.5 - 0.8, 1.6, 1.0))
    right, up, normal = p.axes()
    assert normal == pytest.approx([1, 0, 0])  # the front faces back towards the head
    assert right == pytest.approx([0, 0, -1])  # the participant's right when looking down -X
    # the head looking straight at the panel's centre sees uv (0.5, 0.5)
    hit = intersect_panel(np.array([0.5, 1.6, 1.0]), np.array([-1.0, 0, 0]), p)
    assert hit is not None and hit[0] == pytest.approx((0.5, 0.5)) and hit[1] == pytest.approx(0.8)


def test_pitched_head_places_the_panel_on_the_horizontal():
    pitch = 0.4  # looking down
    head = Pose((0, 1.6, 0), (-math.sin(pitch / 2), 0, 0, math.cos(pitch / 2)))
    p = place_panel(head, 0.6, 0.3, 0.8, 0.1)
    assert p.center == pytest.approx((0, 1.5, -0.8))


@pytest.mark.parametrize("origin,direction,uv", [
    ((0, 1.5, 0), (0, 0, -1), (0.5, 0.5)),
    ((-0.3, 1.65, 0), (0, 0, -1), (0.0, 0.0)),       # top-left corner
    ((0.3, 1.35, 0), (0, 0, -1), (1.0, 1.0)),        # bottom-right corner
    ((0.1, 1.4, -0.2), (0, 0, -1), (0.5 + 0.1 / 0.6, 0.5 + 0.1 / 0.3)),
    ((0, 1.5, 0), (0.1, 0.05, -0.8), (0.5 + 0.1 / 0.6, 0.5 - 0.05 / 0.3)),  # oblique: hits at x 0.1, y 1.55
])
def test_ray_hits_give_panel_uv(origin, direction, uv):
    panel = PanelPlacement((0.0, 1.5, -0.8), 0.0, 0.6, 0.3)
    hit = intersect_panel(np.array(origin, float), np.array(direction, float), panel)
    assert hit is not None
    assert hit[0] == pytest.approx(uv, abs=1e-9)
    assert (np.array(origin) + hit[1] * np.array(direction) / np.linalg.norm(direction))[2] == pytest.approx(-0.8)
    assert panel.point_at(*hit[0]) == pytest.approx(np.array(origin) + hit[1] * np.array(direction)
                                                     / np.linalg.norm(direction))


@pytest.mark.parametrize("origin,direction", [
    ((0, 1.5, 0), (0, 0, 1)),           # pointing away
    ((0, 1.5, -1.5), (0, 0, 1)),        # from behind the panel
    ((0.31, 1.5, 0), (0, 0, -1)),       # just past the right edge
    ((0, 1.5, 0), (1, 0, 0)),           # parallel
])
def test_ray_misses(origin, direction):
    panel = PanelPlacement((0.0, 1.5, -0.8), 0.0, 0.6, 0.3)
    assert intersect_panel(np.array(origin, float), np.array(direction, float), panel) is None


def test_forward_ray_of_an_aim_pose():
    o, d = forward_ray(Pose((0.2, 1.5, -0.2), yaw_quat(RIGHT_YAW)))
    assert o == pytest.approx([0.2, 1.5, -0.2])
    assert d == pytest.approx([-math.sin(RIGHT_YAW), 0, -math.cos(RIGHT_YAW)])


# ---------------------------------------------------------------- simulator input
def test_simulator_input_script_plays_hands_keys_and_head(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(json.dumps(o) for o in [
        {"frame": 0, "hand": "right", "aim": RIGHT_AIM},
        {"frame": 2, "hand": "right", "select": True},
        {"frame": 2, "key": "down"},
        {"frame": 3, "key": "select"},
        {"frame": 4, "hand": "right", "select": False},
        {"frame": 5, "head": [0, 1.6, 0, *yaw_quat(0.3)]},
    ]) + "\n")
    sim = ScriptedInput(read_input_script(f), Pose((0, 1.6, 0)))
    steps = [sim.step(i, i / 90) for i in range(6)]
    assert [k for _, k in steps] == [[], [], ["down"], ["select"], [], []]
    assert [s.hand("right").select for s, _ in steps] == [False, False, True, True, False, False]
    assert [s.hand("right").select_pressed for s, _ in steps] == [False, False, True, False, False, False]
    assert steps[0][0].hand("right").aim.position == pytest.approx((0.2, 1.5, -0.2))
    assert steps[0][0].hand("left").aim is None
    assert steps[5][0].head.orientation == pytest.approx(yaw_quat(0.3))


@pytest.mark.parametrize("line,field", [
    ('{"frame": -1, "key": "up"}', "frame"),
    ('{"frame": 1, "key": "enter"}', "key"),
    ('{"frame": 1, "hand": "middle"}', "hand"),
    ('{"frame": 1, "hand": "left", "aim": [1, 2]}', "aim"),
    ('{"frame": 1, "head": [0, 1.6, 0, 0, 0, 0, 0]}', "head"),
])
def test_bad_input_script_lines_are_named(tmp_path, line, field):
    f = tmp_path / "bad.jsonl"
    f.write_text(line + "\n")
    with pytest.raises(InputError) as e:
        read_input_script(f)
    assert f"field '{field}'" in str(e.value) and str(f) in str(e.value)


def test_terminal_key_sequences():
    keys = TerminalKeys()
    keys._buf = b"\x1b[A\x1b[Bx\r\x7f\x1b["
    assert keys.parse() == ["up", "down", "select", "back"]
    keys._buf += b"C"
    assert keys.parse() == ["right"]


def test_terminal_keys_from_a_real_terminal():
    """Through a pseudo-terminal: cbreak mode inside (keys arrive without Enter), the
    terminal's settings restored afterwards."""
    import pty
    import termios

    master, slave = pty.openpty()
    with os.fdopen(slave, "r") as tty_in:
        before = termios.tcgetattr(slave)
        with TerminalKeys(tty_in) as keys:
            assert not termios.tcgetattr(slave)[3] & termios.ICANON  # no line buffering
            os.write(master, b"\x1b[B\x1b[B\r")
            time.sleep(0.05)
            assert keys.read() == ["down", "down", "select"]
            assert keys.read() == []
        assert termios.tcgetattr(slave) == before
    os.close(master)


def test_cli_rejects_a_bad_input_script(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"frame": 0, "key": "jump"}\n')
    proc = subprocess.run([sys.executable, "-m", "vr_study.cli", "xr", "run", "--simulate", "--frames", "2",
                           "--input-script", str(f)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and "jump" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- through the OpenXR loader
DRIVER = textwrap.dedent('''
    import json, sys
    import numpy as np
    from vr_study.xr.panel_source import PanelView
    from vr_study.xr.framelog import FrameLog
    from vr_study.xr.posesource import ClipPoseSource
    from vr_study.motion import MotionClip

    import os
    MAGENTA, YELLOW = %(magenta)r, %(yellow)r
    STRIPES = os.environ.get("PANEL_STRIPES") == "1"

    class Panel:
        """A PanelSource test double: one colour, a new version (another colour) after N views."""
        def __init__(self, switch_after):
            self.calls, self.switch_after = 0, switch_after
            self.pointers, self.keys = [], []
        def view(self, now_s):
            self.calls += 1
            version = 1 if self.calls <= self.switch_after else 2
            if STRIPES:  # one-pixel black and white columns, far finer than the eye's pixels
                img = np.zeros((512, 1024, 4), np.uint8)
                img[:, ::2, :3] = 255
            else:
                img = np.zeros((128, 256, 4), np.uint8)
                img[..., :3] = MAGENTA if version == 1 else YELLOW
            img[..., 3] = 255
            return PanelView(img, %(width)r, version, distance_m=0.8, drop_m=0.1)
        def pointer(self, ev):
            self.pointers.append([ev.source, list(ev.uv) if ev.uv else None, ev.select])
        def key(self, key, now_s):
            self.keys.append(key)

    class Still:
        """A presenter without avatars (the panel and rays are what is checked)."""
        def __init__(self, scene):
            self.scene = scene
            self.source = ClipPoseSource(MotionClip.zeros(10, fps=30.0))
            self.motion_start_s = None
        def set_participant(self, head): pass
        def start_playback(self, t): pass
        def update(self, t): return {}
        def close(self): pass

    mode, frames, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    panel = Panel(int(sys.argv[4]))
    box = []
    def make(scene):
        box.append(Still(scene))
        return box[-1]
    out = {}
    if mode == "xr":
        from vr_study.xr.session import XrRunConfig, run_xr
        res = run_xr(XrRunConfig(binding="egl", frames=frames), make, FrameLog(log_path), panel_source=panel)
        out["exit"] = res.exit_reason
    else:
        from pathlib import Path
        from vr_study.xr.simulator import SimulatorConfig, run_simulator
        from vr_study.xr.sim_input import read_input_script
        cfg = SimulatorConfig(eye_size=(%(w)d, %(h)d), frames=frames, paced=False, capture_dir=Path(sys.argv[5]),
                              capture_every=5, input_script=read_input_script(sys.argv[6]), terminal_keys=False)
        run_simulator(cfg, make, FrameLog(log_path), panel_source=panel)
    out["uploads"] = box[0].scene.overlays[0].uploads if mode == "sim" else None
    out["pointers"] = panel.pointers
    out["keys"] = panel.keys
    print("RESULT " + json.dumps(out))
''') % {"magenta": MAGENTA, "yellow": YELLOW, "width": PANEL_W, "w": EYE_W, "h": EYE_H}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return build_test_runtime(tmp_path_factory.mktemp("xr-runtime"))


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XR_")}
    env.pop("DISPLAY", None)
    env.update(extra)
    return env


def drive(tmp: Path, mode: str, frames: int, switch_after: int, env_extra: dict[str, str],
          extra_args: list[str] = ()) -> tuple[dict, list[dict], subprocess.CompletedProcess]:
    script = tmp / "driver.py"
    script.write_text(DRIVER)
    log = tmp / "frames.jsonl"
    proc = subprocess.run([sys.executable, str(script), mode, str(frames), str(log), str(switch_after), *extra_args],
                          env=clean_env(env_extra), capture_output=True, text=True, timeout=240)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][7:]), [json.loads(x) for x in log.read_text().splitlines()], proc


def write_jsonl(path: Path, objs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(o) + "\n" for o in objs))
    return path


def project(point, eye_x: float) -> tuple[float, float]:
    """Pixel (column, row) of a STAGE point in an eye at (eye_x, 1.6, 0) looking down -Z with
    the test runtime's 45-degree half-angle field of view."""
    x, y, z = point
    return (EYE_W / 2 + (EYE_W / 2) * (x - eye_x) / -z, EYE_H / 2 - (EYE_H / 2) * (y - 1.6) / -z)


def colour_mask(rgb: np.ndarray, colour, tol: int = 40) -> np.ndarray:
    return np.all(np.abs(rgb.astype(int) - np.array(colour)) < tol, axis=-1)


def ray_mask(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return (b > 200) & (g > 170) & (r < 190) & (b - r > 60)


@pytest.fixture(scope="module")
def xr_run(manifest, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("xr-input")
    script = write_jsonl(tmp / "input.jsonl", [
        {"frame": 0, "hand": "right", "profile": TOUCH, "aim": RIGHT_AIM, "grip": [0.22, 1.45, -0.15]},
        {"frame": 0, "hand": "left", "profile": INDEX, "aim": [-0.2, 1.3, -0.1], "grip": [-0.2, 1.25, -0.05]},
        {"frame": 10, "hand": "right", "select": 1},
        {"frame": 13, "hand": "right", "select": 0, "thumbstick": [0.25, -0.5]},
        {"frame": 16, "hand": "left", "profile": HAND_EXT},  # not offered: no profile, hand inactive
        {"frame": 20, "hand": "right", "select": 0.9},      # trigger/value above the threshold
        {"frame": 23, "hand": "right", "select": 0.2},
    ])
    env = runtime_env(manifest, view_size=(EYE_W, EYE_H), head_pose="0,1.6,0", paced=False, validation=True,
                      capture_dir=tmp / "cap", capture_every=1, input_script=script)
    out, log, proc = drive(tmp, "xr", 30, 25, env)
    return out, log, proc, tmp / "cap"


@pytest.mark.slow
def test_scripted_presses_arrive_as_select_edges(xr_run):
    out, log, proc, _ = xr_run
    assert "Core Validation Layer is initialized" in proc.stdout + proc.stderr
    bad = [x for x in (proc.stdout + proc.stderr).splitlines() if "VALID_ERROR" in x or "VALID_WARNING" in x]
    assert not bad, bad[:5]
    pressed = [r["frame"] for r in log if r["controllers"].get("right", {}).get("select_pressed")]
    assert pressed == [10, 20]
    held = [r["frame"] for r in log if r["controllers"].get("right", {}).get("select")]
    assert held == [10, 11, 12, 20, 21, 22]
    # the panel source sees the same levels on the right pointer, at the panel spot it points at
    right = [p for p in out["pointers"] if p[0] == "right"]
    levels = [p[2] for p in right]
    rises = sum(1 for a, b in zip(levels, levels[1:]) if b and not a)
    assert rises == 2
    assert all(p[1] == pytest.approx(EXPECTED_UV, abs=1e-4) for p in right)


@pytest.mark.slow
def test_aim_and_grip_poses_locate_in_stage(xr_run):
    _, log, _, _ = xr_run
    rec = next(r for r in log if r["should_render"])
    right, left = rec["controllers"]["right"], rec["controllers"]["left"]
    assert right["profile"] == TOUCH and left["profile"] == INDEX
    assert right["aim"] == pytest.approx(RIGHT_AIM, abs=1e-5)
    assert right["grip"] == pytest.approx([0.22, 1.45, -0.15, 0, 0, 0, 1], abs=1e-5)
    assert left["aim"] == pytest.approx([-0.2, 1.3, -0.1, 0, 0, 0, 1], abs=1e-5)
    assert rec["head_pose"] == pytest.approx([0, 1.6, 0, 0, 0, 0, 1], abs=1e-5)
    # after the left hand switched to a profile the application could not bind (the runtime
    # does not offer XR_EXT_hand_interaction here), it is unbound and untracked
    late = [r for r in log if r["frame"] >= 17 and r["should_render"]]
    assert late and all(r["controllers"]["left"]["profile"] is None and r["controllers"]["left"]["aim"] is None
                        for r in late)
    assert all(r["controllers"]["right"]["profile"] == TOUCH for r in late)
    sticks = {r["frame"]: r["controllers"]["right"]["thumbstick"] for r in log if r["should_render"]}
    assert sticks[12] == [0, 0] and sticks[13] == [0.25, -0.5] and sticks[29] == [0.25, -0.5]


@pytest.mark.slow
def test_panel_source_gets_uv_for_controllers_and_gaze(xr_run):
    out, log, _, _ = xr_run
    rendered = [r for r in log if r["should_render"]]
    assert all(r["panel_uv"]["right"] == pytest.approx(EXPECTED_UV, abs=1e-4) for r in rendered)
    assert all(r["panel_uv"]["gaze"] == pytest.approx(GAZE_UV, abs=1e-4) for r in rendered)
    assert all("left" not in r["panel_uv"] for r in rendered)  # its ray passes under the panel
    gaze = [p for p in out["pointers"] if p[0] == "gaze"]
    assert gaze and all(p[1] == pytest.approx(GAZE_UV, abs=1e-4) and p[2] is False for p in gaze)
    left = [p for p in out["pointers"] if p[0] == "left"]
    assert len(left) == len(rendered) and all(p[1] is None for p in left)


@pytest.mark.slow
def test_eye_images_show_the_panel_and_the_ray(xr_run):
    _, log, _, cap = xr_run
    first = next(r["frame"] for r in log if r["should_render"])
    # XR_HEADLESS_CAPTURE names frames by the runtime's count of submitted frames (the same here)
    for eye, eye_x in ((0, -0.0315), (1, 0.0315)):
        rgb = read_ppm(cap / f"frame{first + 8:06d}_eye{eye}.ppm")
        panel = colour_mask(rgb, MAGENTA)
        rows, cols = np.nonzero(panel)
        assert panel.sum() > 500
        (c0, r0), (c1, r1) = project((-0.3, 1.65, -0.8), eye_x), project((0.3, 1.35, -0.8), eye_x)
        assert cols.min() == pytest.approx(c0, abs=2) and cols.max() == pytest.approx(c1, abs=2)
        assert rows.min() == pytest.approx(r0, abs=2) and rows.max() == pytest.approx(r1, abs=2)
        ray = ray_mask(rgb)
        assert ray.sum() > 20, "no ray pixels"
        hc, hr = project((0.1, 1.5, -0.8), eye_x)
        rr, rc = np.nonzero(ray)
        assert np.min(np.hypot(rc - hc, rr - hr)) < 2.5, "the ray does not reach the hit point"
        # it ends there: nothing of it beyond the hit point (further left on the panel; the
        # left hand's ray, which misses the panel below, stays left of column 76)
        right_ray = rc[rc > 76]
        assert right_ray.size > 10 and right_ray.min() > hc - 3
        # the left hand's ray passes under the panel; further on, the panel hides it (depth test)
        for z, seen in ((-0.5, True), (-0.7, True), (-2.0, False)):
            lc, lr = (int(round(v)) for v in project((-0.2, 1.3, z), eye_x))
            assert ray[lr - 1: lr + 2, lc - 1: lc + 2].any() == seen, f"left ray at z = {z} m"
    # the new version (another colour) is on screen after the switch
    last = read_ppm(cap / f"frame{log[-1]['frame']:06d}_eye0.ppm")
    assert colour_mask(last, YELLOW).sum() > 500 and colour_mask(last, MAGENTA).sum() == 0


def run_binding_script(manifest: Path, body: str, extra_env: dict[str, str] | None = None) -> dict:
    code = textwrap.dedent("""
        import ctypes, json
        from vr_study.xr.graphics import import_gl
        xr = import_gl("egl")
        exts = [e.extension_name.decode() for e in xr.enumerate_instance_extension_properties()]
        want = ["XR_MNDX_egl_enable"] + (["XR_EXT_hand_interaction"] if "XR_EXT_hand_interaction" in exts else [])
        inst = xr.create_instance(xr.InstanceCreateInfo(
            application_info=xr.ApplicationInfo(application_name="test", api_version=xr.Version(1, 0, 0)),
            enabled_extension_names=want))
        aset = xr.create_action_set(inst, xr.ActionSetCreateInfo(action_set_name="s", localized_action_set_name="s"))
        act = xr.create_action(aset, xr.ActionCreateInfo(action_name="select", action_type=xr.ActionType.BOOLEAN_INPUT,
                                                         localized_action_name="select"))
        def suggest(profile, path):
            b = xr.ActionSuggestedBinding(act, xr.string_to_path(inst, path))
            try:
                xr.suggest_interaction_profile_bindings(inst, xr.InteractionProfileSuggestedBinding(
                    interaction_profile=xr.string_to_path(inst, profile), count_suggested_bindings=1,
                    suggested_bindings=ctypes.pointer(b)))
                return "ok"
            except xr.ResultException as e:
                return type(e).__name__
        out = {}
    """) + textwrap.dedent(body) + "\nprint('RESULT ' + json.dumps(out))\n"
    env = runtime_env(manifest)
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, "-c", code], env=clean_env(env), capture_output=True, text=True,
                          timeout=120)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][7:])


@pytest.mark.slow
def test_binding_paths_not_in_the_spec_are_rejected(manifest):
    from vr_study.xr.input import HAND_INTERACTION_PROFILE, SUGGESTED_BINDINGS

    ours = [[p, "/user/hand/" + h + path] for p, acts in SUGGESTED_BINDINGS.items() for path in acts.values()
            for h in ("left", "right") if p != HAND_INTERACTION_PROFILE]
    out = run_binding_script(manifest, f"""
        out["ours"] = [suggest(p, b) for p, b in {ours!r}]
        out["trigger_click_on_touch"] = suggest("{TOUCH}", "/user/hand/right/input/trigger/click")
        out["a_on_left_touch"] = suggest("{TOUCH}", "/user/hand/left/input/a/click")
        out["typo"] = suggest("{INDEX}", "/user/hand/right/input/triger/click")
        out["x_on_left_touch"] = suggest("{TOUCH}", "/user/hand/left/input/x/click")
        out["bare_trigger_on_index"] = suggest("{INDEX}", "/user/hand/right/input/trigger")
        out["unknown_profile"] = suggest("/interaction_profiles/acme/wand", "/user/hand/right/input/select/click")
        out["hand_ext_without_extension"] = suggest("{HAND_EXT}", "/user/hand/right/input/pinch_ext/value")
    """)
    assert out["ours"] == ["ok"] * len(ours)
    assert out["trigger_click_on_touch"] == "PathUnsupportedError"  # Touch has trigger/value only
    assert out["a_on_left_touch"] == "PathUnsupportedError"         # A is on the right controller
    assert out["typo"] == "PathUnsupportedError"
    assert out["x_on_left_touch"] == "ok"
    assert out["bare_trigger_on_index"] == "ok"  # an identifier without component: the runtime picks
    assert out["unknown_profile"] == "PathUnsupportedError"
    assert out["hand_ext_without_extension"] == "PathUnsupportedError"
    out = run_binding_script(manifest, f"""
        out["hand_ext"] = suggest("{HAND_EXT}", "/user/hand/right/input/pinch_ext/value")
        out["hand_ext_bad"] = suggest("{HAND_EXT}", "/user/hand/right/input/select/click")
    """, {"XR_HEADLESS_HAND_INTERACTION": "1"})
    assert out == {"hand_ext": "ok", "hand_ext_bad": "PathUnsupportedError"}


@pytest.mark.slow
def test_hand_tracking_pinch_selects_when_the_runtime_offers_hand_interaction(manifest, tmp_path):
    script = write_jsonl(tmp_path / "hands.jsonl", [
        {"frame": 0, "hand": "right", "profile": HAND_EXT, "aim": RIGHT_AIM},
        {"frame": 6, "hand": "right", "select": 0.95},  # pinch_ext/value
        {"frame": 9, "hand": "right", "select": 0.0},
    ])
    env = runtime_env(manifest, view_size=(64, 72), paced=False, input_script=script, hand_interaction=True)
    _, log, _ = drive(tmp_path, "xr", 12, 100, env)
    assert [r["frame"] for r in log if r["controllers"].get("right", {}).get("select_pressed")] == [6]
    assert all(r["controllers"]["right"]["profile"] == HAND_EXT for r in log if r["should_render"])
    assert all(r["panel_uv"]["right"] == pytest.approx(EXPECTED_UV, abs=1e-4) for r in log if r["should_render"])


@pytest.mark.slow
def test_simulator_routes_script_keys_and_pointers_to_the_panel(tmp_path):
    script = write_jsonl(tmp_path / "sim.jsonl", [
        {"frame": 0, "hand": "right", "aim": RIGHT_AIM},
        {"frame": 3, "key": "down"},
        {"frame": 4, "hand": "right", "select": True},
        {"frame": 5, "hand": "right", "select": False},
        {"frame": 6, "key": "select"},
    ])
    out, log, _ = drive(tmp_path, "sim", 12, 8, {}, [str(tmp_path / "cap"), str(script)])
    assert out["keys"] == ["down", "select"]
    right = [p for p in out["pointers"] if p[0] == "right"]
    assert len(right) == 12 and all(p[1] == pytest.approx(EXPECTED_UV, abs=1e-4) for p in right)
    assert [p[2] for p in right] == [False] * 4 + [True] + [False] * 7
    assert out["uploads"] == 2  # version 1, then version 2 once; not every frame
    assert log[0]["head_pose"] == pytest.approx([0, 1.6, 0, 0, 0, 0, 1])
    assert log[0]["controllers"]["right"]["aim"] == pytest.approx(RIGHT_AIM, abs=1e-5)
    rgb = read_ppm(tmp_path / "cap" / "frame000005_eye0.ppm")
    assert colour_mask(rgb, MAGENTA).sum() > 500 and ray_mask(rgb).sum() > 20


@pytest.mark.slow
def test_fine_panel_detail_is_filtered_not_aliased(tmp_path):
    """Text finer than the eye's pixels must not shimmer: with the mipmapped, anisotropically
    filtered sRGB texture, 1-pixel black/white columns seen 17x minified come out as an even
    grey of half the light (sRGB ~188), not a moire of black and white pixels (std 59 with
    plain bilinear sampling) nor the 128 that averaging the sRGB codes would give."""
    script = write_jsonl(tmp_path / "none.jsonl", [])
    _, _, _ = drive(tmp_path, "sim", 1, 100, {"PANEL_STRIPES": "1"}, [str(tmp_path / "cap"), str(script)])
    rgb = read_ppm(tmp_path / "cap" / "frame000000_eye0.ppm").astype(float)
    (c0, r0), (c1, r1) = project((-0.3, 1.65, -0.8), -0.0315), project((0.3, 1.35, -0.8), -0.0315)
    inner = rgb[int(r0) + 3: int(r1) - 3, int(c0) + 3: int(c1) - 3, 1]
    assert inner.size > 500
    assert inner.std() < 6, f"aliased: std {inner.std():.1f}"
    assert inner.mean() == pytest.approx(188, abs=12)


@pytest.mark.slow
def test_cli_run_logs_controllers_and_draws_their_rays(manifest, tmp_path):
    """`vr-study xr run` (no panel): the scripted controller's ray is drawn 2 m long beside
    the avatar, and the frame log carries head and controller poses."""
    script = write_jsonl(tmp_path / "input.jsonl", [
        {"frame": 0, "hand": "right", "profile": "/interaction_profiles/khr/simple_controller",
         "aim": [0.25, 1.3, -0.1], "grip": [0.25, 1.25, -0.05]},
        {"frame": 5, "hand": "right", "select": 1},
    ])
    env = runtime_env(manifest, view_size=(EYE_W, EYE_H), paced=False, input_script=script)
    log = tmp_path / "frames.jsonl"
    proc = subprocess.run([sys.executable, "-m", "vr_study.cli", "xr", "run", "--frames", "10", "--validate",
                           "--binding", "egl", "--frame-log", str(log), "--capture-dir", str(tmp_path / "cap"),
                           "--capture-every", "9"],
                          env=clean_env(env), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bad = [x for x in (proc.stdout + proc.stderr).splitlines() if "VALID_ERROR" in x or "VALID_WARNING" in x]
    assert not bad, bad[:5]
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    rendered = [r for r in rows if r["should_render"]]
    assert rendered and all(r["head_pose"] == pytest.approx([0, 1.6, 0, 0, 0, 0, 1], abs=1e-5) for r in rendered)
    right = [r["controllers"]["right"] for r in rendered]
    assert all(c["profile"] == "/interaction_profiles/khr/simple_controller" for c in right)
    assert all(c["aim"] == pytest.approx([0.25, 1.3, -0.1, 0, 0, 0, 1], abs=1e-5) for c in right)
    assert [r["frame"] for r in rendered if r["controllers"]["right"]["select_pressed"]] == [5]
    rgb = read_ppm(tmp_path / "cap" / "frame000009_eye1.ppm")
    ray = ray_mask(rgb)
    for z in (-0.6, -1.0):  # along the ray, in front of the avatar (1.3 m away), which hides the rest
        c, r = (int(round(v)) for v in project((0.25, 1.3, z), 0.0315))
        assert ray[r - 1: r + 2, c - 1: c + 2].any(), f"no ray at z = {z} m"


# ---------------------------------------------------------------- thumbstick as arrow keys
def test_stick_keys_press_once_repeat_while_held_and_release_with_hysteresis():
    from vr_study.xr.stick_keys import PRESS, RELEASE, REPEAT_DELAY_S, REPEAT_EVERY_S, StickKeys, stick_direction

    assert stick_direction(0.2, 0.9) == ("up", 0.9) and stick_direction(0.0, -0.7) == ("down", 0.7)
    assert stick_direction(-0.8, 0.5) == ("left", 0.8) and stick_direction(0.61, -0.6) == ("right", 0.61)
    s = StickKeys()
    dt = 1 / 90
    keys = [s.update("right", (0.0, y), i * dt) for i, y in enumerate([0.0, PRESS - 0.01, PRESS, 0.9, 0.9])]
    assert keys == [[], [], ["up"], [], []]
    # back to just above RELEASE: still held (no chatter); below it: released; pushed again: a new key
    assert s.update("right", (0.0, RELEASE + 0.01), 5 * dt) == []
    assert s.update("right", (0.0, PRESS), 6 * dt) == []
    assert s.update("right", (0.0, RELEASE - 0.01), 7 * dt) == []
    assert s.update("right", (0.0, -0.9), 8 * dt) == ["down"]
    # held: repeats after the delay, then every REPEAT_EVERY_S; each hand on its own
    t0 = 8 * dt
    ts = np.arange(t0, t0 + REPEAT_DELAY_S + 3 * REPEAT_EVERY_S + 0.01, dt)[1:]
    repeats = [t for t in ts if s.update("right", (0.0, -0.9), t)]
    assert len(repeats) == 4 and repeats[0] == pytest.approx(t0 + REPEAT_DELAY_S, abs=dt)
    assert np.diff(repeats) == pytest.approx([REPEAT_EVERY_S] * 3, abs=dt)
    assert s.update("left", (0.9, 0.0), ts[-1]) == ["right"]
    # swung straight over to another direction: that key at once
    assert s.update("right", (0.9, 0.0), ts[-1] + dt) == ["right"]


@pytest.mark.slow
def test_thumbstick_moves_the_panel_focus_and_the_trigger_off_the_panel_selects(manifest, tmp_path):
    """Through the headless runtime (XR_HEADLESS_INPUT_SCRIPT): stick pushes arrive at the panel
    source as arrow keys; the trigger pulled with the ray off the panel presses the focused
    control only after the stick was used; pulled on the panel it is a pointer press, no key."""
    low = [0.2, 1.0, -0.1]      # the ray passes under the panel
    script = write_jsonl(tmp_path / "stick.jsonl", [
        {"frame": 0, "hand": "right", "profile": TOUCH, "aim": low},
        {"frame": 3, "hand": "right", "select": 1},                  # no stick used yet: nothing
        {"frame": 4, "hand": "right", "select": 0},
        {"frame": 6, "hand": "right", "thumbstick": [0.0, -0.9]},    # down
        {"frame": 8, "hand": "right", "thumbstick": [0.0, -0.45]},   # still held: no second key
        {"frame": 10, "hand": "right", "thumbstick": [0.0, 0.0]},
        {"frame": 12, "hand": "right", "thumbstick": [0.8, 0.1]},    # right
        {"frame": 14, "hand": "right", "thumbstick": [0.0, 0.0]},
        {"frame": 16, "hand": "right", "select": 1},                 # off the panel: select
        {"frame": 18, "hand": "right", "select": 0},
        {"frame": 20, "hand": "right", "aim": RIGHT_AIM, "select": 1},   # on the panel: a pointer press
        {"frame": 22, "hand": "right", "select": 0},
        {"frame": 24, "hand": "right", "thumbstick": [-0.65, 0.62]},     # left (the larger axis)
        {"frame": 26, "hand": "right", "thumbstick": [0.0, 0.0]},
    ])
    env = runtime_env(manifest, view_size=(64, 72), paced=False, input_script=script)
    out, log, _ = drive(tmp_path, "xr", 30, 100, env)
    assert out["keys"] == ["down", "right", "select", "left"]
    sticks = {r["frame"]: r["controllers"]["right"]["thumbstick"] for r in log if r["should_render"]}
    assert sticks[6] == [0.0, -0.9] and sticks[24] == [-0.65, 0.62]
    right = [p for p in out["pointers"] if p[0] == "right"]
    assert sum(1 for a, b in zip(right, right[1:]) if b[2] and not a[2] and b[1] is not None) == 1
