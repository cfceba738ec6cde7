"""The OpenXR renderer: avatars in a room, in a headset or the desktop simulator.

Modules: :mod:`graphics` (GL contexts and the OpenXR graphics binding; import order),
:mod:`scene` (OpenGL 3.3 core drawing), :mod:`avatar` (body model, placement, normals),
:mod:`posesource` (clip or pose stream), :mod:`presenter` (per-frame posing and clip/audio
start), :mod:`audio_schedule`, :mod:`framelog`, :mod:`session` (the OpenXR frame loop),
:mod:`simulator`, :mod:`viewmath`, and :mod:`testruntime` (the headless OpenXR runtime).
Input and panels: :mod:`input` (OpenXR actions, bindings, per-frame snapshot),
:mod:`sim_input` (the simulator's input script and keys), :mod:`raycast` (panel placement
and ray hits, pure), :mod:`interaction` (per-frame routing to a
:class:`~vr_study.xr.panel_source.PanelSource`), :mod:`overlay` (drawing the panel and rays).

Import nothing that pulls in OpenGL from here: PyOpenGL's platform (EGL or GLX) must be
chosen by :func:`vr_study.xr.graphics.import_gl` before the first ``import OpenGL``.
"""
