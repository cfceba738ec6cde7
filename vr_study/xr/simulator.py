"""Desktop simulator: the XR scene through the same drawing code, without a headset.

A scripted head pose stands in for tracking, a 90 Hz clock for xrWaitFrame, and two
textures of our own for the swapchain images. Headless (EGL) everywhere; with
``capture_dir`` each eye's image of every ``capture_every``-th frame is written as PPM
(the only read-back, and only when asked). Hands, head turns and panel keys come from an
input script and the terminal's keys (:mod:`vr_study.xr.sim_input`); a panel source is
drawn and answered as in the headset (:mod:`vr_study.xr.interaction`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vr_study.xr.capture import write_ppm
from vr_study.xr.framelog import FrameLog, FrameRecord, FrameSummary
from vr_study.xr.viewmath import Fov, Pose, projection_matrix, stereo_eyes, view_matrix

DISPLAY_PERIOD_S = 1.0 / 90.0


@dataclass
class SimulatorConfig:
    """``eye_size`` (width, height) pixels; ``head_pose`` in STAGE (m); ``ipd_m``; ``frames``
    to run (None: until the clip has ended, plus ``tail_s``); ``paced``: keep to 90 Hz
    wall-clock time."""

    eye_size: tuple[int, int] = (640, 720)
    head_pose: Pose = Pose((0.0, 1.6, 0.0))
    ipd_m: float = 0.063
    fov: Fov = Fov()
    frames: int | None = None
    paced: bool = True
    capture_dir: Path | None = None
    capture_every: int = 1
    tail_s: float = 0.5
    input_script: list = field(default_factory=list)  # vr_study.xr.sim_input.ScriptLine
    terminal_keys: bool = True  # read arrow keys, Enter, Backspace when stdin is a terminal


def run_simulator(config: SimulatorConfig, make_presenter: Callable[[Any], Any],
                  frame_log: FrameLog | None = None, should_stop: Callable[[], bool] | None = None,
                  panel_source: Any = None) -> FrameSummary:
    """Run the stereo frame loop headless. ``make_presenter(scene)`` builds the Presenter;
    ``panel_source``: a :class:`~vr_study.xr.panel_source.PanelSource` shown in the scene."""
    import contextlib

    from vr_study.xr.input import controllers_record, pose_list
    from vr_study.xr.interaction import PanelInteraction
    from vr_study.xr.sim_input import ScriptedInput, TerminalKeys
    from vr_study.xr.graphics import import_gl, create_egl_context

    import_gl("egl")
    from OpenGL import GL
    from vr_study.xr.scene import Scene

    ctx = create_egl_context()
    log = frame_log or FrameLog(None)
    w, h = config.eye_size
    textures = [int(t) for t in GL.glGenTextures(2)]
    for tex in textures:
        GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        GL.glTexStorage2D(GL.GL_TEXTURE_2D, 1, GL.GL_SRGB8_ALPHA8, w, h)
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    from vr_study.xr.overlay import Overlay

    scene = Scene()
    overlay = Overlay()
    scene.overlays.append(overlay)
    scripted = ScriptedInput(config.input_script, config.head_pose)
    interaction = PanelInteraction(panel_source) if panel_source is not None else None
    stack = contextlib.ExitStack()
    terminal = stack.enter_context(TerminalKeys()) if config.terminal_keys else None
    presenter = make_presenter(scene)
    proj = projection_matrix(config.fov)
    read_fbo = int(GL.glGenFramebuffers(1))
    next_display = time.monotonic() + 2 * DISPLAY_PERIOD_S
    prev_display = None
    frame = 0
    try:
        while config.frames is None or frame < config.frames:
            if config.paced:
                wake = next_display - 2 * DISPLAY_PERIOD_S
                delay = wake - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            display = next_display
            t0 = time.perf_counter()
            snap, keys = scripted.step(frame, display)
            if terminal is not None:
                keys += terminal.read()
            head = snap.head
            if panel_source is not None:
                for key in keys:
                    panel_source.key(key, display)
            rays = interaction.update(snap) if interaction is not None else []
            if interaction is not None:
                overlay.set_panel(interaction.view, interaction.placement)
            overlay.set_rays(rays)
            presenter.set_participant(head)
            presenter.start_playback(display)
            ages = presenter.update(display)
            for eye, (tex, eye_pose) in enumerate(zip(textures, stereo_eyes(head, config.ipd_m))):
                scene.draw_to_texture(tex, w, h, view_matrix(eye_pose), proj, srgb=True)
            GL.glFlush()
            if config.capture_dir is not None and frame % max(1, config.capture_every) == 0:
                config.capture_dir.mkdir(parents=True, exist_ok=True)
                for eye, tex in enumerate(textures):
                    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, read_fbo)
                    GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D,
                                              tex, 0)
                    px = GL.glReadPixels(0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
                    rgb = np.frombuffer(px, np.uint8).reshape(h, w, 3)[::-1]
                    write_ppm(config.capture_dir / f"frame{frame:06d}_eye{eye}.ppm", rgb)
                GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
            cpu_ms = (time.perf_counter() - t0) * 1e3
            now = time.monotonic()
            missed = 0 if prev_display is None else max(0, round((display - prev_display) / DISPLAY_PERIOD_S) - 1)
            log.record(FrameRecord(frame, display, int(display * 1e9), DISPLAY_PERIOD_S, True, cpu_ms,
                                   now > display, missed, "SIMULATED", ages, pose_list(head),
                                   controllers_record(snap),
                                   {k: [round(hit.uv[0], 5), round(hit.uv[1], 5)] for k, hit in interaction.hits.items()
                                    if hit.uv is not None} if interaction is not None else {},
                                   dict(getattr(presenter, "newest_pose_s", {}))))
            prev_display = display
            frame += 1
            # next frame: the next vsync on the 90 Hz grid that we can still make
            next_display = display + DISPLAY_PERIOD_S
            while next_display < time.monotonic() + DISPLAY_PERIOD_S:
                next_display += DISPLAY_PERIOD_S
            if config.frames is None and presenter.source.finished(display - config.tail_s):
                break
            if should_stop is not None and should_stop():
                break
    finally:
        stack.close()
        presenter.close()
        overlay.release()
        scene.release()
        GL.glDeleteTextures(2, textures)
        GL.glDeleteFramebuffers(1, [read_fbo])
        ctx.destroy()
    return log.close()
