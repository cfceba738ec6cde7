"""The headless OpenXR test runtime, driven directly through pyopenxr and the Khronos loader.

Each check runs in a subprocess (pyopenxr switches PyOpenGL's platform on import, and the
loader reads XR_RUNTIME_JSON once per process)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vr_study.xr.testruntime import build_test_runtime, runtime_env

pytestmark = pytest.mark.slow

PRELUDE = textwrap.dedent("""
    import ctypes, json, time
    from vr_study.xr.graphics import import_gl, create_egl_context, xr_binding_struct
    xr = import_gl("egl")
    out = {}

    def expect(name, exc, fn, *a):
        try:
            fn(*a)
            out[name] = "no error"
        except exc:
            out[name] = "ok"
        except Exception as e:
            out[name] = type(e).__name__

    def events(inst):
        states = []
        while True:
            try:
                buf = xr.poll_event(inst)
            except xr.EventUnavailable:
                return states
            if xr.StructureType(buf.type) == xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED:
                ev = ctypes.cast(ctypes.byref(buf), ctypes.POINTER(xr.EventDataSessionStateChanged)).contents
                states.append(xr.SessionState(ev.state).name)

    def instance(exts=("XR_KHR_opengl_enable", "XR_MNDX_egl_enable", "XR_KHR_convert_timespec_time")):
        return xr.create_instance(xr.InstanceCreateInfo(
            application_info=xr.ApplicationInfo(application_name="test", api_version=xr.Version(1, 0, 0)),
            enabled_extension_names=list(exts)))
""")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return build_test_runtime(tmp_path_factory.mktemp("xr-runtime"))


def run_script(body: str, env_extra: dict[str, str]) -> tuple[dict, subprocess.CompletedProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XR_")}
    env.update(env_extra)
    code = PRELUDE + textwrap.dedent(body) + "\nprint('RESULT ' + json.dumps(out))\n"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][7:]), proc


def test_build_is_cached_and_manifest_points_at_the_library(tmp_path):
    m1 = build_test_runtime(tmp_path / "rt")
    lib = Path(json.loads(m1.read_text())["runtime"]["library_path"])
    assert lib.is_file() and lib.name.endswith(".so")
    mtime = lib.stat().st_mtime_ns
    assert build_test_runtime(tmp_path / "rt") == m1 and lib.stat().st_mtime_ns == mtime
    nm = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True).stdout
    exported = {line.split()[-1] for line in nm.splitlines() if line.strip()}
    assert exported & {"xrNegotiateLoaderRuntimeInterface"} and not any(
        s.startswith("rt_") for s in exported), "only the negotiation entry point is exported"


def test_instance_system_views_and_spaces(manifest):
    out, _ = run_script("""
        inst = instance()
        out["runtime"] = xr.get_instance_properties(inst).runtime_name.decode()
        sid = xr.get_system(inst, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        expect("handheld", xr.FormFactorUnsupportedError, xr.get_system, inst,
               xr.SystemGetInfo(form_factor=xr.FormFactor.HANDHELD_DISPLAY))
        vs = xr.enumerate_view_configuration_views(inst, sid, xr.ViewConfigurationType.PRIMARY_STEREO)
        out["view_size"] = [vs[0].recommended_image_rect_width, vs[0].recommended_image_rect_height]
        out["blend"] = list(xr.enumerate_environment_blend_modes(inst, sid, xr.ViewConfigurationType.PRIMARY_STEREO))
        ctx = create_egl_context()
        b = xr_binding_struct(xr, ctx)
        expect("session_without_requirements", xr.GraphicsRequirementsCallMissingError, xr.create_session, inst,
               xr.SessionCreateInfo(system_id=sid, next=ctypes.cast(ctypes.pointer(b), ctypes.c_void_p)))
        xr.get_opengl_graphics_requirements_khr(inst, sid)
        s = xr.create_session(inst, xr.SessionCreateInfo(system_id=sid,
                              next=ctypes.cast(ctypes.pointer(b), ctypes.c_void_p)))
        out["spaces"] = sorted(int(v) for v in xr.enumerate_reference_spaces(s))
        stage = xr.create_reference_space(s, xr.ReferenceSpaceCreateInfo(
            reference_space_type=xr.ReferenceSpaceType.STAGE, pose_in_reference_space=xr.Posef()))
        view = xr.create_reference_space(s, xr.ReferenceSpaceCreateInfo(
            reference_space_type=xr.ReferenceSpaceType.VIEW, pose_in_reference_space=xr.Posef()))
        now = xr.convert_timespec_time_to_time_khr(inst, xr.timespec(int(time.monotonic()), 0))
        loc = xr.locate_space(view, stage, now)
        out["head"] = [loc.pose.position.x, loc.pose.position.y, loc.pose.position.z]
        st, views = xr.locate_views(s, xr.ViewLocateInfo(
            view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO, display_time=now, space=stage))
        out["eyes_x"] = [v.pose.position.x for v in views]
        out["fov"] = [views[0].fov.angle_left, views[0].fov.angle_right]
        ts = xr.convert_time_to_timespec_time_khr(inst, now)
        out["timespec_roundtrip"] = [ts.tv_sec, ts.tv_nsec]
        xr.destroy_space(view); xr.destroy_space(stage); xr.destroy_session(s); xr.destroy_instance(inst)
        ctx.destroy()
    """, runtime_env(manifest, view_size=(200, 220), head_pose="0.1,1.5,0.2", ipd_m=0.064, validation=True))
    assert out["runtime"] == "vr-study headless"
    assert out["handheld"] == "ok"
    assert out["session_without_requirements"] == "ok"
    assert out["view_size"] == [200, 220]
    assert out["blend"] == [1]  # OPAQUE
    assert out["spaces"] == [1, 2, 3]  # VIEW, LOCAL, STAGE
    assert out["head"] == pytest.approx([0.1, 1.5, 0.2], abs=1e-5)
    assert out["eyes_x"] == pytest.approx([0.1 - 0.032, 0.1 + 0.032], abs=1e-5)
    assert out["fov"] == pytest.approx([-0.785398, 0.785398], abs=1e-5)
    assert out["timespec_roundtrip"][1] == 0


def test_state_machine_frame_loop_and_call_order(manifest):
    out, _ = run_script("""
        inst = instance()
        sid = xr.get_system(inst, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        xr.get_opengl_graphics_requirements_khr(inst, sid)
        ctx = create_egl_context()
        b = xr_binding_struct(xr, ctx)
        s = xr.create_session(inst, xr.SessionCreateInfo(system_id=sid,
                              next=ctypes.cast(ctypes.pointer(b), ctypes.c_void_p)))
        out["created"] = events(inst)
        expect("wait_before_begin", xr.SessionNotRunningError, xr.wait_frame, s, xr.FrameWaitInfo())
        expect("end_session_not_running", xr.SessionNotRunningError, xr.end_session, s)
        xr.begin_session(s, xr.SessionBeginInfo(xr.ViewConfigurationType.PRIMARY_STEREO))
        expect("begin_twice", xr.SessionRunningError, xr.begin_session, s,
               xr.SessionBeginInfo(xr.ViewConfigurationType.PRIMARY_STEREO))
        expect("begin_frame_unwaited", xr.CallOrderInvalidError, xr.begin_frame, s, xr.FrameBeginInfo())
        expect("end_session_not_stopping", xr.SessionNotStoppingError, xr.end_session, s)
        sc = xr.create_swapchain(s, xr.SwapchainCreateInfo(
            usage_flags=xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT, format=0x8058, sample_count=1,
            width=32, height=32, face_count=1, array_size=1, mip_count=1))
        expect("release_unacquired", xr.CallOrderInvalidError, xr.release_swapchain_image, sc,
               xr.SwapchainImageReleaseInfo())
        for _ in range(3):
            xr.acquire_swapchain_image(sc, xr.SwapchainImageAcquireInfo())
        expect("acquire_too_many", xr.CallOrderInvalidError, xr.acquire_swapchain_image, sc,
               xr.SwapchainImageAcquireInfo())
        times, should = [], []
        for i in range(6):
            fs = xr.wait_frame(s, xr.FrameWaitInfo())
            xr.begin_frame(s, xr.FrameBeginInfo())
            times.append(fs.predicted_display_time); should.append(bool(fs.should_render))
            if i == 2:
                expect("end_unknown_time", xr.TimeInvalidError, xr.end_frame, s, xr.FrameEndInfo(
                    display_time=fs.predicted_display_time + 12345,
                    environment_blend_mode=xr.EnvironmentBlendMode.OPAQUE))
            xr.end_frame(s, xr.FrameEndInfo(display_time=fs.predicted_display_time,
                                            environment_blend_mode=xr.EnvironmentBlendMode.OPAQUE))
        out["periods_ns"] = [b - a for a, b in zip(times, times[1:])]
        out["lead_ns"] = times[-1] - time.monotonic_ns()
        out["should_render"] = should
        out["running"] = events(inst)
        xr.request_exit_session(s)
        out["exit_requested"] = events(inst)
        xr.end_session(s)
        out["ended"] = events(inst)
        xr.destroy_swapchain(sc); xr.destroy_session(s); xr.destroy_instance(inst); ctx.destroy()
    """, runtime_env(manifest))
    assert out["created"] == ["IDLE", "READY"]
    for k in ("wait_before_begin", "end_session_not_running", "begin_twice", "begin_frame_unwaited",
              "end_session_not_stopping", "release_unacquired", "acquire_too_many", "end_unknown_time"):
        assert out[k] == "ok", (k, out[k])
    # display times on a 90 Hz grid, one period apart unless the application missed a frame
    period = 11_111_111
    assert all(p > 0 and min(p % period, period - p % period) <= 2 for p in out["periods_ns"]), out["periods_ns"]
    assert sum(abs(p - period) <= 2 for p in out["periods_ns"]) >= 3, out["periods_ns"]
    assert 0 < out["lead_ns"] < 40_000_000
    assert out["should_render"][0] is False and out["should_render"][-1] is True
    assert out["running"] == ["SYNCHRONIZED", "VISIBLE", "FOCUSED"]
    assert out["exit_requested"] == ["VISIBLE", "SYNCHRONIZED", "STOPPING"]
    assert out["ended"] == ["IDLE", "EXITING"]


def test_validation_layer_reports_a_real_error(manifest):
    """The zero-error checks elsewhere mean something: a bad call is reported by the layer."""
    _, proc = run_script("""
        inst = instance(exts=())
        try:
            info = xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY)
            info._type = 3  # the wrong structure type
            xr.get_system(inst, info)
        except Exception as e:
            out["error"] = type(e).__name__
        xr.destroy_instance(inst)
    """, runtime_env(manifest, validation=True))
    text = proc.stdout + proc.stderr
    assert "VALID_ERROR" in text


def test_headless_session_without_graphics(manifest):
    """XR_MND_headless: a session with no graphics binding still runs the frame loop."""
    out, _ = run_script("""
        inst = instance(exts=("XR_MND_headless",))
        sid = xr.get_system(inst, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        s = xr.create_session(inst, xr.SessionCreateInfo(system_id=sid))
        out["formats"] = list(xr.enumerate_swapchain_formats(s))
        states = events(inst)
        xr.begin_session(s, xr.SessionBeginInfo(xr.ViewConfigurationType.PRIMARY_STEREO))
        for _ in range(3):
            fs = xr.wait_frame(s, xr.FrameWaitInfo())
            xr.begin_frame(s, xr.FrameBeginInfo())
            xr.end_frame(s, xr.FrameEndInfo(display_time=fs.predicted_display_time,
                                            environment_blend_mode=xr.EnvironmentBlendMode.OPAQUE))
        out["states"] = states + events(inst)
        xr.destroy_session(s); xr.destroy_instance(inst)
    """, runtime_env(manifest, validation=True))
    assert out["formats"] == []
    assert out["states"] == ["IDLE", "READY", "SYNCHRONIZED", "VISIBLE", "FOCUSED"]


def test_build_command_prints_the_manifest(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vr_study.cli", "xr", "build-test-runtime", "-o", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    manifest = Path(proc.stdout.strip())
    assert manifest.parent == tmp_path and json.loads(manifest.read_text())["file_format_version"] == "1.0.0"
    assert f"XR_RUNTIME_JSON={manifest}" in proc.stderr
