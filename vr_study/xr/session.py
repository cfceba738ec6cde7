"""The OpenXR frame loop (pyopenxr): instance, system, session, swapchains, frames.

One run: create an instance with XR_KHR_opengl_enable (and the binding's extension, and
XR_KHR_convert_timespec_time when offered), find the head-mounted system, make an OpenGL
context (:mod:`vr_study.xr.graphics`), create the session, a STAGE space (LOCAL moved
1.6 m down where a runtime has no STAGE) and one swapchain per eye, then run frames:

* events: READY -> xrBeginSession; STOPPING -> xrEndSession; EXITING or LOSS_PENDING ->
  leave; SYNCHRONIZED / VISIBLE / FOCUSED are tracked (rendering only when the runtime
  says ``shouldRender``).
* per frame: xrWaitFrame gives the predicted display time (XrTime), converted to
  CLOCK_MONOTONIC seconds; poses and audio are scheduled for that time; xrLocateViews in
  STAGE; each eye is drawn straight into its acquired swapchain image; xrEndFrame with
  one projection layer.
* the application asks to exit (xrRequestExitSession) after ``frames`` frames or when a
  clip has finished, and then follows the runtime's state changes to a clean end.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

from vr_study.xr.clock import WaitFrameClock
from vr_study.xr.framelog import FrameLog, FrameRecord, FrameSummary
from vr_study.xr.input import HAND_INTERACTION_EXTENSION, XrInput, controllers_record, pose_list
from vr_study.xr.interaction import PanelInteraction
from vr_study.xr.raycast import RAY_LENGTH_M, forward_ray
from vr_study.xr.viewmath import Fov, Pose, projection_matrix, view_matrix

if TYPE_CHECKING:
    from vr_study.xr.panel_source import PanelSource

GL_SRGB8_ALPHA8 = 0x8C43
GL_RGBA8 = 0x8058


class NoRuntimeError(RuntimeError):
    """No OpenXR runtime is installed or active."""


class XrSessionError(RuntimeError):
    """The runtime refused something the renderer needs (one line, for the user)."""


class XrRuntimeError(RuntimeError):
    """An OpenXR call failed with an error the renderer does not expect (one line)."""


@dataclass
class XrRunConfig:
    """``binding``: 'auto', 'egl' or 'xlib' (:mod:`vr_study.xr.graphics`); ``frames``: ask to
    exit after this many frames (None: when the clip ends, or never for a stream);
    ``tail_s``: keep showing the last pose this long after a clip ends."""

    binding: str = "auto"
    frames: int | None = None
    tail_s: float = 0.5
    app_name: str = "vr-study"


@dataclass
class XrRunResult:
    summary: FrameSummary
    exit_reason: str
    runtime_name: str = ""
    gl_renderer: str = ""
    binding: str = ""
    states: list[str] = field(default_factory=list)


def _manifest_problem(path: str) -> str | None:
    """Why the runtime manifest at ``path`` cannot be used, or None if it looks usable."""
    import json
    from pathlib import Path

    p = Path(path).expanduser()
    if not p.is_file():
        return "does not exist"
    try:
        lib = json.loads(p.read_text(encoding="utf-8"))["runtime"]["library_path"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return "is not an OpenXR runtime manifest (JSON with runtime.library_path)"
    lib_path = Path(lib) if Path(lib).is_absolute() else p.parent / lib
    if "/" in lib and not lib_path.is_file():
        return f"names the library {lib_path}, which does not exist"
    return None


def _no_runtime_message(error: BaseException | None = None) -> str:
    """One line: what the loader looked at and found, and what to do."""
    env = os.environ.get("XR_RUNTIME_JSON")
    if env:
        problem = _manifest_problem(env)
        found = (f"XR_RUNTIME_JSON={env} {problem}" if problem else
                 f"the runtime in XR_RUNTIME_JSON={env} did not start ({type(error).__name__ if error else 'failed'})")
        fix = "point XR_RUNTIME_JSON at a working runtime manifest, or unset it"
    else:
        dirs = [os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")]
        dirs += (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":") + ["/etc", "/usr/share", "/usr/local/share"]
        cands = [os.path.join(d, "openxr", "1", "active_runtime.json") for d in dirs if d]
        existing = [c for c in cands if os.path.exists(c)]
        if existing:
            problem = _manifest_problem(existing[0])
            found = (f"the active runtime {existing[0]} {problem}" if problem else
                     f"the active runtime {existing[0]} did not start ({type(error).__name__ if error else 'failed'})")
        else:
            found = "XR_RUNTIME_JSON is unset and no active_runtime.json exists in " + ", ".join(
                os.path.dirname(os.path.dirname(os.path.dirname(c))) for c in cands)
        fix = "start SteamVR or Monado (which install an active runtime), or set XR_RUNTIME_JSON"
    return (f"no OpenXR runtime: {found}; {fix}; "
            "to try the scene without a headset run: vr-study xr run --simulate")


@contextlib.contextmanager
def _captured_stderr() -> Iterator[Callable[[], str]]:
    """Collect what C code writes to file descriptor 2 inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    tmp = tempfile.TemporaryFile()
    text: list[str] = []
    try:
        os.dup2(tmp.fileno(), 2)
        yield lambda: "".join(text)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        tmp.seek(0)
        text.append(tmp.read().decode(errors="replace"))
        tmp.close()


def run_xr(config: XrRunConfig, make_presenter: Callable[[Any], Any], frame_log: FrameLog | None = None,
           panel_source: "PanelSource | None" = None) -> XrRunResult:
    """Run an OpenXR session until the runtime ends it. ``make_presenter(scene)`` -> Presenter.

    ``panel_source``: a panel (in-VR questionnaire) drawn world-locked in the scene, which
    receives the controllers' and the gaze's pointer events every frame
    (:mod:`vr_study.xr.interaction`)."""
    from vr_study.xr import graphics

    kind = config.binding
    if kind == "auto":
        kind = "xlib" if os.environ.get("DISPLAY") else "egl"
    xr = graphics.import_gl("egl" if kind == "egl" else "glx")
    if xr is None:
        raise NoRuntimeError("pyopenxr is not installed (pip install pyopenxr)")
    with _captured_stderr() as loader_messages:  # the loader prints its own lines when it finds nothing
        try:
            available = [e.extension_name.decode() for e in xr.enumerate_instance_extension_properties()]
            failed = None
        except (xr.RuntimeUnavailableError, xr.RuntimeFailureError, xr.InitializationFailedError) as e:
            failed = e
    if failed is not None:
        if os.environ.get("VR_STUDY_DEBUG"):
            sys.stderr.write(loader_messages())
        raise NoRuntimeError(_no_runtime_message(failed)) from failed
    sys.stderr.write(loader_messages())
    needed = graphics.required_extensions(kind)
    missing = [e for e in needed if e not in available]
    if missing:
        hint = " (set DISPLAY to use the Xlib binding)" if kind == "egl" else ""
        raise XrSessionError(f"the OpenXR runtime lacks {', '.join(missing)}{hint}")
    extensions = needed + [e for e in (xr.KHR_CONVERT_TIMESPEC_TIME_EXTENSION_NAME, HAND_INTERACTION_EXTENSION)
                           if e in available]
    instance = xr.create_instance(xr.InstanceCreateInfo(
        application_info=xr.ApplicationInfo(application_name=config.app_name, application_version=1,
                                            engine_name="vr-study", engine_version=1,
                                            api_version=xr.Version(1, 0, 0)),
        enabled_extension_names=extensions))
    try:
        return _run_instance(xr, instance, kind, extensions, config, make_presenter, frame_log or FrameLog(None),
                             panel_source)
    except xr.ResultException as e:  # an error result the frame loop does not handle
        raise XrRuntimeError(f"the OpenXR runtime failed: {type(e).__name__} ({' '.join(str(e).split())[:200]})") \
            from e
    finally:
        with contextlib.suppress(xr.ResultException):
            xr.destroy_instance(instance)


def _run_instance(xr: Any, instance: Any, kind: str, extensions: list[str], config: XrRunConfig,
                  make_presenter: Callable[[Any], Any], log: FrameLog, panel_source: Any = None) -> XrRunResult:
    from vr_study.xr import graphics

    props = xr.get_instance_properties(instance)
    runtime_name = props.runtime_name.decode(errors="replace")
    try:
        system_id = xr.get_system(instance, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
    except xr.FormFactorUnavailableError as e:
        raise XrSessionError(f"{runtime_name}: no headset connected (XR_ERROR_FORM_FACTOR_UNAVAILABLE)") from e
    view_type = xr.ViewConfigurationType.PRIMARY_STEREO
    config_views = xr.enumerate_view_configuration_views(instance, system_id, view_type)
    blend_modes = list(xr.enumerate_environment_blend_modes(instance, system_id, view_type))
    blend = xr.EnvironmentBlendMode.OPAQUE if xr.EnvironmentBlendMode.OPAQUE.value in blend_modes \
        else xr.EnvironmentBlendMode(blend_modes[0])
    reqs = xr.get_opengl_graphics_requirements_khr(instance, system_id)
    ctx = graphics.create_egl_context() if kind == "egl" else graphics.create_glx_context()
    gl_version = _gl_version()
    if gl_version < (reqs.min_api_version_supported.major, reqs.min_api_version_supported.minor):
        raise XrSessionError(f"the runtime needs OpenGL {reqs.min_api_version_supported}, "
                             f"this context is {gl_version}")
    binding = graphics.xr_binding_struct(xr, ctx)
    session = xr.create_session(instance, xr.SessionCreateInfo(
        system_id=system_id, next=ctypes.cast(ctypes.pointer(binding), ctypes.c_void_p)))
    result = XrRunResult(log.summary, "", runtime_name, ctx.renderer(), kind)
    loop = None
    try:
        loop = _FrameLoop(xr, instance, session, config_views, blend, extensions, config, log, panel_source)
        loop.setup(make_presenter)
        result.exit_reason = loop.run()
        result.states = loop.states
    finally:
        if loop is not None:
            loop.release()
        xr.destroy_session(session)
        ctx.destroy()
    result.summary = log.close()
    return result


def _gl_version() -> tuple[int, int]:
    from OpenGL import GL
    return int(GL.glGetIntegerv(GL.GL_MAJOR_VERSION)), int(GL.glGetIntegerv(GL.GL_MINOR_VERSION))


class _FrameLoop:
    def __init__(self, xr: Any, instance: Any, session: Any, config_views: Any, blend: Any,
                 extensions: list[str], config: XrRunConfig, log: FrameLog, panel_source: Any = None):
        self.xr, self.instance, self.session = xr, instance, session
        self.extensions = extensions
        self.panel_source = panel_source
        self.input: XrInput | None = None
        self.overlay = None
        self.interaction = PanelInteraction(panel_source) if panel_source is not None else None
        self.config_views, self.blend, self.config, self.log = config_views, blend, config, log
        self.timespec = xr.KHR_CONVERT_TIMESPEC_TIME_EXTENSION_NAME in extensions
        self.state = xr.SessionState.UNKNOWN
        self.states: list[str] = []
        self.running = False
        self.exit_requested = False
        self.frame = 0
        self.prev_display_ns: int | None = None
        self.swapchains: list[Any] = []
        self.images: list[list[int]] = []
        self.scene = None
        self.presenter = None
        self.snapshot = None  # this frame's InputSnapshot (rendered frames)
        self.fallback_clock = None if self.timespec else WaitFrameClock()

    # ------------------------------------------------------------------ setup
    def setup(self, make_presenter: Callable[[Any], Any]) -> None:
        xr = self.xr
        spaces = list(xr.enumerate_reference_spaces(self.session))
        identity = xr.Posef()
        if xr.ReferenceSpaceType.STAGE.value in spaces:
            info = xr.ReferenceSpaceCreateInfo(reference_space_type=xr.ReferenceSpaceType.STAGE,
                                               pose_in_reference_space=identity)
        else:  # seated runtimes: LOCAL is at the head; put our floor 1.6 m below it
            info = xr.ReferenceSpaceCreateInfo(reference_space_type=xr.ReferenceSpaceType.LOCAL,
                                               pose_in_reference_space=xr.Posef(position=xr.Vector3f(0, -1.6, 0)))
        self.space = xr.create_reference_space(self.session, info)
        formats = list(xr.enumerate_swapchain_formats(self.session))
        fmt = next((f for f in (GL_SRGB8_ALPHA8, GL_RGBA8) if f in formats), None)
        if fmt is None:
            raise XrSessionError("the runtime offers neither GL_SRGB8_ALPHA8 nor GL_RGBA8 swapchains")
        self.srgb = fmt == GL_SRGB8_ALPHA8
        for v in self.config_views:
            sc = xr.create_swapchain(self.session, xr.SwapchainCreateInfo(
                usage_flags=xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT | xr.SwapchainUsageFlags.SAMPLED_BIT,
                format=fmt, sample_count=1, width=v.recommended_image_rect_width,
                height=v.recommended_image_rect_height, face_count=1, array_size=1, mip_count=1))
            self.swapchains.append(sc)
            self.images.append([int(i.image) for i in xr.enumerate_swapchain_images(sc, xr.SwapchainImageOpenGLKHR)])
        from vr_study.xr.overlay import Overlay
        from vr_study.xr.scene import Scene
        self.scene = Scene()
        self.overlay = Overlay()
        self.scene.overlays.append(self.overlay)
        self.input = XrInput(xr, self.instance, self.session, self.space, self.extensions)
        if self.input.profiles_rejected:
            print(f"note: the OpenXR runtime refused the bindings for {', '.join(self.input.profiles_rejected)}",
                  file=sys.stderr)
        self.presenter = make_presenter(self.scene)

    def release(self) -> None:
        if self.presenter is not None:
            self.presenter.close()
        if self.input is not None:
            self.input.release()
            self.input = None
        if self.overlay is not None:
            self.overlay.release()
            self.overlay = None
        if self.scene is not None:
            self.scene.release()
        for sc in self.swapchains:
            self.xr.destroy_swapchain(sc)
        self.swapchains = []
        if getattr(self, "space", None) is not None:
            self.xr.destroy_space(self.space)
            self.space = None

    # ------------------------------------------------------------------ time
    def to_monotonic_s(self, xr_time_ns: int) -> float:
        """XrTime -> CLOCK_MONOTONIC seconds: XR_KHR_convert_timespec_time when offered, else
        calibrated from the runtime's own xrWaitFrame predictions (:mod:`vr_study.xr.clock`)."""
        if self.timespec:
            ts = self.xr.convert_time_to_timespec_time_khr(self.instance, xr_time_ns)
            return ts.tv_sec + ts.tv_nsec * 1e-9
        return self.fallback_clock.to_monotonic_s(xr_time_ns)

    # ------------------------------------------------------------------ loop
    def run(self) -> str:
        """Frames until the session ends; SIGINT/SIGTERM ask the runtime to end it cleanly."""
        import signal

        stop = []
        handler = lambda signum, _frame: stop.append(signum)  # noqa: E731
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._run(stop)
        finally:
            for sig, h in previous.items():
                signal.signal(sig, h)

    def _run(self, stop: list) -> str:
        xr = self.xr
        while True:
            reason = self.poll_events()
            if reason:
                return reason
            if stop:
                if not self.running:
                    return "interrupted"
                self.request_exit()
            if not self.running:
                time.sleep(0.005)
                continue
            try:
                self.one_frame()
            except xr.SessionLossPending:
                return "session loss pending"
            except xr.SessionLostError:
                return "session lost"

    def poll_events(self) -> str | None:
        xr = self.xr
        while True:
            try:
                buf = xr.poll_event(self.instance)
            except xr.EventUnavailable:
                return None
            etype = xr.StructureType(buf.type)
            if etype == xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING:
                return "instance loss pending"
            if etype == xr.StructureType.EVENT_DATA_INTERACTION_PROFILE_CHANGED:
                if self.input is not None:
                    self.input.refresh_profiles()
                continue
            if etype != xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED:
                continue
            ev = ctypes.cast(ctypes.byref(buf), ctypes.POINTER(xr.EventDataSessionStateChanged)).contents
            self.state = xr.SessionState(ev.state)
            self.states.append(self.state.name)
            if self.state == xr.SessionState.READY:
                xr.begin_session(self.session, xr.SessionBeginInfo(
                    primary_view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO))
                self.running = True
            elif self.state == xr.SessionState.STOPPING:
                xr.end_session(self.session)
                self.running = False
            elif self.state == xr.SessionState.EXITING:
                return "runtime requested exit" if not self.exit_requested else "application requested exit"
            elif self.state == xr.SessionState.LOSS_PENDING:
                return "session loss pending"

    def request_exit(self) -> None:
        if not self.exit_requested:
            self.exit_requested = True
            self.xr.request_exit_session(self.session)

    def one_frame(self) -> None:
        xr = self.xr
        frame_state = xr.wait_frame(self.session, xr.FrameWaitInfo())
        if self.fallback_clock is not None:
            self.fallback_clock.observe(time.monotonic(), int(frame_state.predicted_display_time),
                                        int(frame_state.predicted_display_period))
        t0 = time.perf_counter()
        try:
            xr.begin_frame(self.session, xr.FrameBeginInfo())
        except xr.FrameDiscarded:
            pass  # the previous frame was never ended: it is discarded, this one goes ahead
        display_ns = int(frame_state.predicted_display_time)
        display_s = self.to_monotonic_s(display_ns)
        period_s = frame_state.predicted_display_period * 1e-9
        layers = []
        ages: dict[str, float] = {}
        self.snapshot = None
        if frame_state.should_render:
            ages, layer = self.render(display_ns, display_s)
            if layer is not None:
                layers.append(ctypes.byref(layer))
        xr.end_frame(self.session, xr.FrameEndInfo(display_time=display_ns, environment_blend_mode=self.blend,
                                                   layers=layers))
        cpu_ms = (time.perf_counter() - t0) * 1e3
        missed = 0
        if self.prev_display_ns is not None and period_s > 0:
            missed = max(0, round((display_ns - self.prev_display_ns) * 1e-9 / period_s) - 1)
        self.prev_display_ns = display_ns
        snap = self.snapshot
        self.log.record(FrameRecord(self.frame, display_s, display_ns, period_s, bool(frame_state.should_render),
                                    cpu_ms, time.monotonic() > display_s, missed, self.state.name, ages,
                                    pose_list(snap.head) if snap else None,
                                    controllers_record(snap) if snap else {},
                                    {k: [round(h.uv[0], 5), round(h.uv[1], 5)] for k, h in self.interaction.hits.items()
                                     if h.uv is not None} if (snap and self.interaction) else {},
                                    dict(getattr(self.presenter, "newest_pose_s", {})) if snap else {}))
        self.frame += 1
        if self.config.frames is not None and self.frame >= self.config.frames:
            self.request_exit()
        elif (self.config.frames is None and self.presenter.motion_start_s is not None
              and self.presenter.source.finished(display_s - self.config.tail_s)):
            self.request_exit()

    def render(self, display_ns: int, display_s: float) -> tuple[dict[str, float], Any]:
        xr = self.xr
        view_state, views = xr.locate_views(self.session, xr.ViewLocateInfo(
            view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO, display_time=display_ns,
            space=self.space))
        flags = xr.ViewStateFlags(view_state.view_state_flags)
        if not (flags & xr.ViewStateFlags.POSITION_VALID_BIT and flags & xr.ViewStateFlags.ORIENTATION_VALID_BIT):
            return {}, None  # tracking lost: submit no layer this frame
        eyes = [_pose(v.pose) for v in views]
        head = Pose(tuple((a + b) / 2 for a, b in zip(eyes[0].position, eyes[1].position)), eyes[0].orientation)
        self.presenter.set_participant(head)
        self.presenter.start_playback(display_s)
        ages = self.presenter.update(display_s)
        self.snapshot = snap = self.input.sync(display_ns, display_s, head)
        if self.interaction is not None:
            rays = self.interaction.update(snap)
            self.overlay.set_panel(self.interaction.view, self.interaction.placement)
        else:
            rays = [(o, o + d * RAY_LENGTH_M, False) for o, d in
                    (forward_ray(h.aim) for h in snap.hands.values() if h.aim is not None)]
        self.overlay.set_rays(rays)
        proj_views = []
        for i, (v, sc) in enumerate(zip(views, self.swapchains)):
            idx = xr.acquire_swapchain_image(sc, xr.SwapchainImageAcquireInfo())
            xr.wait_swapchain_image(sc, xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION))
            cv = self.config_views[i]
            w, h = cv.recommended_image_rect_width, cv.recommended_image_rect_height
            fov = Fov(v.fov.angle_left, v.fov.angle_right, v.fov.angle_up, v.fov.angle_down)
            self.scene.draw_to_texture(self.images[i][idx], w, h, view_matrix(eyes[i]), projection_matrix(fov),
                                       srgb=self.srgb)
            xr.release_swapchain_image(sc, xr.SwapchainImageReleaseInfo())
            proj_views.append(xr.CompositionLayerProjectionView(
                pose=v.pose, fov=v.fov, sub_image=xr.SwapchainSubImage(
                    swapchain=sc, image_rect=xr.Rect2Di(offset=xr.Offset2Di(0, 0), extent=xr.Extent2Di(w, h)),
                    image_array_index=0)))
        layer = xr.CompositionLayerProjection(space=self.space, views=proj_views)
        self._keep = (proj_views, layer)  # alive until xrEndFrame has read them
        return ages, layer


def _pose(p: Any) -> Pose:
    return Pose((p.position.x, p.position.y, p.position.z),
                (p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w))
