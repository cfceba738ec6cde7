"""Offline rendering of motion clips: frames as arrays, PNG files, or an MP4 with speech.

One or more clips are shown side by side (one avatar per panel, a caption per panel),
each resampled to the output frame rate; a clip that ends early holds its last frame.
All arguments are checked before anything is written, and files are written to a
temporary name and renamed, so bad input or a crash leaves no partial output.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from vr_study.errors import InputError
from vr_study.motion import MotionClip
from vr_study.render.framing import check_view, frame_camera
from vr_study.render.scene import CameraSpec, floor_height_m

MIN_SIZE_PX, MAX_SIZE_PX = 16, 4096
MAX_OUTPUT_PX = 8192  # per side of the whole (tiled) frame
MIN_FPS_HZ, MAX_FPS_HZ = 1.0, 240.0
DEFAULT_MAX_FPS_HZ = 60.0  # default output rate: the clips' highest rate, up to this
SKIN_CHUNK_FRAMES = 64  # frames posed at a time (bounds memory on long clips)
FRAMING_SAMPLES = 24  # frames sampled to frame the camera


# ----------------------------------------------------------------------------- inputs
def parse_size(text: str) -> tuple[int, int]:
    """``'640x480'`` -> (640, 480); raise :class:`InputError` for anything else."""
    parts = str(text).lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(None, "--size", f"'{text}' is not WIDTHxHEIGHT", "write it like 640x480")
    return check_size((int(parts[0]), int(parts[1])))


def check_size(size: Sequence[int]) -> tuple[int, int]:
    """Check a panel size (width, height) in pixels: even, 16..4096 each."""
    try:
        w, h = (int(x) for x in size)
    except (TypeError, ValueError):
        raise InputError(None, "--size", f"{size!r} is not a (width, height) pair", "write it like 640x480") from None
    for name, v in (("width", w), ("height", h)):
        if not MIN_SIZE_PX <= v <= MAX_SIZE_PX:
            raise InputError(None, "--size", f"{name} {v} px is out of range",
                             f"use {MIN_SIZE_PX}..{MAX_SIZE_PX} px, e.g. 640x480")
        if v % 2:
            raise InputError(None, "--size", f"{name} {v} px is odd", "H.264 (yuv420p) needs even sizes, e.g. 640x480")
    return w, h


def check_fps(fps: float | None, clips: Sequence[MotionClip]) -> float:
    """The output frame rate: ``fps`` if given (1..240 Hz), else the highest clip rate, at most 60 Hz."""
    value = min(max(c.fps for c in clips), DEFAULT_MAX_FPS_HZ) if fps is None else fps
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(None, "--fps", f"{fps!r} is not a number", "give frames per second, e.g. 30") from None
    if not (np.isfinite(value) and MIN_FPS_HZ <= value <= MAX_FPS_HZ):
        raise InputError(None, "--fps", f"{value:g} Hz is out of range", f"use {MIN_FPS_HZ:g}..{MAX_FPS_HZ:g} Hz")
    return value


def load_clips(clips: Sequence[MotionClip | str | Path], fmt: str | None = None) -> list[MotionClip]:
    """Read and validate clips given as MotionClip objects or motion file paths."""
    if not clips:
        raise InputError(None, "CLIP", "no motion clip given", "name at least one motion file")
    from vr_study.formats import read_motion

    out = []
    for c in clips:
        if isinstance(c, MotionClip):
            out.append(c.validate())
        else:
            path = Path(c)
            if not path.exists():
                raise InputError(path, None, "does not exist", "check the motion file path")
            clip = read_motion(path, fmt)
            if clip.meta.audio_path and not Path(clip.meta.audio_path).is_absolute():
                # a relative audio path in a motion file is relative to that file
                beside = path.parent / clip.meta.audio_path
                if beside.exists() and not Path(clip.meta.audio_path).exists():
                    clip.meta.audio_path = str(beside)
            out.append(clip)
    return out


def default_caption(clip: MotionClip) -> str:
    """'method / emotion' from the clip's metadata (just the method if no emotion is set)."""
    parts = [clip.meta.method or "unknown"]
    if clip.meta.emotion:
        parts.append(clip.meta.emotion)
    return " / ".join(parts)


def resolve_captions(captions: Sequence[str] | bool | None, clips: Sequence[MotionClip]) -> list[str]:
    """Captions per clip: None or True -> from metadata, False -> none, else the given texts."""
    if captions is None or captions is True:
        return [default_caption(c) for c in clips]
    if captions is False:
        return ["" for _ in clips]
    captions = [str(c) for c in captions]
    if len(captions) != len(clips):
        raise InputError(None, "--caption", f"{len(captions)} captions for {len(clips)} clips",
                         "give one caption per clip")
    return captions


def resolve_audio(audio: Any, clips: Sequence[MotionClip]) -> tuple[Any, float]:
    """(Audio or None, offset in seconds) for the soundtrack.

    ``audio``: a path or :class:`~vr_study.audio.Audio` (played from the first clip's
    ``meta.audio_offset_s``), None to use the first clip's ``meta.audio_path``, or False
    for a silent video.
    """
    from vr_study.audio import Audio, read_audio

    if audio is False:
        return None, 0.0
    offset = float(clips[0].meta.audio_offset_s)
    if isinstance(audio, Audio):
        return audio, offset
    if audio is not None:
        return read_audio(audio), offset
    for clip in clips:
        if clip.meta.audio_path:
            path = Path(clip.meta.audio_path)
            if not path.is_file():
                raise InputError(path, None, "(the clip's audio_path) does not exist",
                                 "pass the speech with --audio WAV, or --no-audio for a silent video")
            return read_audio(path), float(clip.meta.audio_offset_s)
    return None, 0.0


def load_body(body_model: Any) -> Any:
    """A body model: the default one for None, one loaded from a path, or the given object."""
    if body_model is not None and hasattr(body_model, "pose_clip"):
        return body_model
    from vr_study.body import load_body_model

    return load_body_model(body_model)


# ----------------------------------------------------------------------------- render loop
def frame_clip(clip: MotionClip, body: Any, view: str, aspect: float) -> tuple[CameraSpec, float]:
    """The still camera for ``view`` of ``clip`` (framing sampled frames) and the floor height (m).

    ``aspect`` = panel width / height. The floor lies just under the body's lowest vertex in
    frame 0.
    """
    sample = np.unique(np.linspace(0, clip.num_frames - 1, min(FRAMING_SAMPLES, clip.num_frames)).astype(int))
    posed = body.pose_clip(clip, frames=sample)
    camera = frame_camera(view, np.asarray(posed.joints), np.asarray(posed.vertices), aspect)
    return camera, floor_height_m(np.asarray(posed.vertices[0]))


def _frame_count(clip: MotionClip, fps: float) -> int:
    """Frames a clip spans at ``fps`` Hz (its duration kept)."""
    return max(1, int(round(clip.num_frames * fps / clip.fps)))


@dataclass
class _Panel:
    clip: MotionClip  # resampled to the output rate
    mesh: Any  # DynamicMesh
    body_node: Any
    floor_node: Any
    camera_node: Any
    camera: CameraSpec
    view_proj: np.ndarray  # (4, 4) world -> clip coordinates of the camera
    caption: str
    chunk_start: int = -1
    chunk: np.ndarray | None = None  # (n, V, 3) posed vertices of frames chunk_start...
    prepared: int = -1  # output frame whose vertices the mesh holds now
    mouth: Any = None  # MouthParts (teeth, tongue, cavity) or None
    mouth_mesh: Any = None  # its DynamicMesh
    mouth_node: Any = None

    def mouth_vertices(self, body: Any, frame: int) -> np.ndarray:
        """(N, 3) posed mouth-part vertices (rigid to the head and jaw) of ``frame``."""
        from vr_study.body.mouth import pose_mouth, skinning_transforms

        f = min(frame, self.clip.num_frames - 1)
        A = skinning_transforms(body, self.clip.full_pose()[f:f + 1], self.clip.transl[f:f + 1],
                                self.clip.expression[f:f + 1], self.clip.betas)
        return pose_mouth(self.mouth, A)[0]

    def vertices(self, body: Any, frame: int) -> np.ndarray:
        frame = min(frame, self.clip.num_frames - 1)  # hold the last frame
        if self.chunk is None or not self.chunk_start <= frame < self.chunk_start + len(self.chunk):
            self.chunk_start = frame
            frames = slice(frame, min(frame + SKIN_CHUNK_FRAMES, self.clip.num_frames))
            self.chunk = np.asarray(body.pose_clip(self.clip, frames=frames).vertices, np.float32)
        return self.chunk[frame - self.chunk_start]


class ClipRenderer:
    """Renders clips side by side, frame by frame (see :func:`render_frames`)."""

    def __init__(self, clips: Sequence[MotionClip], body: Any, view: str, size: tuple[int, int],
                 fps: float, captions: Sequence[str]):
        from vr_study.render.compose import grid_shape
        from vr_study.render.dynamic_mesh import DynamicMesh
        from vr_study.render.gl_scene import build_scene, make_camera_node, make_floor_node, make_material
        from vr_study.render.offscreen import FrameRenderer
        from vr_study.render.scene import default_scene

        spec = default_scene(None)
        self.body, self.view, self.size, self.fps = body, view, size, fps
        self.num_frames = max(_frame_count(c, fps) for c in clips)
        rows, cols = grid_shape(len(clips))
        self.frame_shape = (rows * size[1], cols * size[0], 3)
        self.scene = build_scene(spec)
        colors = getattr(body, "vertex_colors", None)
        texture = getattr(body, "texture", None)
        if texture is not None:  # a base-colour texture carries the materials (not the vertex colours)
            colors = None
        # vertex colours or a texture carry the materials: the base colour then only tints them (white)
        material = make_material(spec.body_material if colors is None and texture is None else
                                 replace(spec.body_material, base_color=(1.0, 1.0, 1.0)),
                                 None if texture is None else texture.image)
        aspect = size[0] / size[1]
        self.panels: list[_Panel] = []
        for clip, caption in zip(clips, captions):
            clip = clip.resample(fps) if abs(clip.fps - fps) > 1e-9 else clip
            camera, floor_y = frame_clip(clip, body, view, aspect)
            first = np.asarray(body.pose_clip(clip, frames=slice(0, 1)).vertices[0], np.float32)
            mesh = DynamicMesh(body.faces, first, material, colors, None if texture is None else texture.split)
            body_node = self.scene.add(mesh.mesh)
            from vr_study.body.mouth import mouth_for
            mouth = mouth_for(body, clip.betas)
            floor_node = make_floor_node(default_scene(floor_y).floor)
            self.scene.add_node(floor_node)
            camera_node = make_camera_node(camera)
            self.scene.add_node(camera_node)
            view_proj = camera_node.camera.get_projection_matrix(*size) @ np.linalg.inv(camera.pose_matrix())
            panel = _Panel(clip, mesh, body_node, floor_node, camera_node, camera, view_proj, caption)
            if mouth is not None:  # teeth, tongue and cavity: their own small mesh
                panel.mouth = mouth
                panel.mouth_mesh = DynamicMesh(mouth.faces, panel.mouth_vertices(body, 0), make_material(
                    replace(spec.body_material, base_color=(1.0, 1.0, 1.0))), mouth.colors)
                panel.mouth_node = self.scene.add(panel.mouth_mesh.mesh)
            self.panels.append(panel)
        self._gl = FrameRenderer(*size)

    def _prepare(self, index: int, frame: int) -> None:
        """Pose clip ``index`` for output frame ``frame`` (skinning, normals, culling)."""
        panel = self.panels[index]
        if panel.prepared != frame:
            panel.mesh.set_vertices(panel.vertices(self.body, frame), np.asarray(panel.camera.position),
                                    panel.view_proj)
            if panel.mouth is not None:
                panel.mouth_mesh.set_vertices(panel.mouth_vertices(self.body, frame))
            panel.prepared = frame

    def render_panel(self, index: int, frame: int) -> np.ndarray:
        """RGB (height, width, 3) of clip ``index`` at output frame ``frame`` (no caption).

        While this panel is drawn, the panel drawn next (the next clip, or the first clip's
        next frame) is posed, so the CPU's work overlaps the drawing.
        """
        panel = self.panels[index]
        for i, p in enumerate(self.panels):
            p.body_node.mesh.is_visible = p.floor_node.mesh.is_visible = i == index
            if p.mouth_node is not None:
                p.mouth_node.mesh.is_visible = i == index
        self._prepare(index, frame)
        self.scene.main_camera_node = panel.camera_node
        nxt = (index + 1, frame) if index + 1 < len(self.panels) else (0, frame + 1)
        ahead = (lambda: self._prepare(*nxt)) if nxt[1] < self.num_frames else None
        meshes = [panel.mesh] + ([panel.mouth_mesh] if panel.mouth_mesh is not None else [])
        return self._gl.render(self.scene, meshes, [panel.floor_node.mesh], while_drawing=ahead)

    def render(self, frame: int) -> np.ndarray:
        """The full output frame ``frame``: every panel with its caption, tiled."""
        from vr_study.render.compose import draw_caption, tile

        panels = [draw_caption(self.render_panel(i, frame), p.caption) for i, p in enumerate(self.panels)]
        return tile(panels)

    def close(self) -> None:
        self._gl.close()


@dataclass
class RenderPlan:
    """Checked inputs of a render: clips, output rate (Hz), panel size (px), captions."""

    clips: list[MotionClip]
    view: str
    size: tuple[int, int]
    fps: float
    captions: list[str]

    @property
    def num_frames(self) -> int:
        return max(_frame_count(c, self.fps) for c in self.clips)

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of the tiled output frame, pixels."""
        from vr_study.render.compose import grid_shape

        rows, cols = grid_shape(len(self.clips))
        return cols * self.size[0], rows * self.size[1]


def plan_render(clips: Sequence[MotionClip | str | Path], view: str = "full", size: Sequence[int] = (640, 480),
                fps: float | None = None, captions: Sequence[str] | bool | None = None,
                fmt: str | None = None) -> RenderPlan:
    """Check every argument of a render (raises :class:`InputError`); nothing is drawn."""
    check_view(view)
    size = check_size(size)
    loaded = load_clips(clips, fmt)
    plan = RenderPlan(loaded, view, size, check_fps(fps, loaded), resolve_captions(captions, loaded))
    w, h = plan.frame_size
    if w > MAX_OUTPUT_PX or h > MAX_OUTPUT_PX:
        raise InputError(None, "--size", f"{len(loaded)} panels of {size[0]}x{size[1]} make a {w}x{h} frame",
                         f"keep the whole frame within {MAX_OUTPUT_PX} px per side: use a smaller --size")
    return plan


def render_frames(clips: Sequence[MotionClip | str | Path], view: str = "full", size: Sequence[int] = (640, 480),
                  fps: float | None = None, captions: Sequence[str] | bool | None = None,
                  body_model: Any = None, progress: bool = False) -> Iterator[np.ndarray]:
    """Yield each output frame, RGB (height, width, 3) uint8, clips side by side.

    ``view`` is 'full', 'upper' or 'face'; ``size`` (width, height) is one panel in pixels;
    ``fps`` the output rate in Hz (default: the highest clip rate, at most 60 Hz); ``captions`` per clip
    (None: 'method / emotion' from metadata, False: none); ``body_model`` a body model, a
    model file path, or None for the default body.
    """
    plan = plan_render(clips, view, size, fps, captions)
    yield from _frames(plan, load_body(body_model), progress)


def _frames(plan: RenderPlan, body: Any, progress: bool) -> Iterator[np.ndarray]:
    from tqdm import tqdm

    renderer = ClipRenderer(plan.clips, body, plan.view, plan.size, plan.fps, plan.captions)
    try:
        for i in tqdm(range(renderer.num_frames), desc="render", unit="frame", disable=not progress):
            yield renderer.render(i)
    finally:
        renderer.close()


@dataclass
class RenderResult:
    """What :func:`render_video` wrote: frames, rate (Hz), duration (s), frame size (px)."""

    path: Path | None
    png_dir: Path | None
    num_frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    has_audio: bool


@contextlib.contextmanager
def _atomic_dir(target: Path) -> Iterator[Path]:
    """A temporary directory beside ``target``, renamed onto it on success (target must be empty)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            target.rmdir()  # empty (checked before rendering)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def render_video(clips: Sequence[MotionClip | str | Path], out_path: str | Path | None,
                 audio: Any = None, view: str = "full", size: Sequence[int] = (640, 480),
                 fps: float | None = None, captions: Sequence[str] | bool | None = None,
                 body_model: Any = None, png_dir: str | Path | None = None,
                 progress: bool = False, fmt: str | None = None) -> RenderResult:
    """Render clips to an H.264 MP4 (``out_path``) with speech, and/or PNG frames (``png_dir``).

    ``audio``: a wav path or :class:`~vr_study.audio.Audio` (None: the first clip's
    ``meta.audio_path``; False: silent). The clip plays from ``meta.audio_offset_s`` seconds
    into the audio; the audio track lasts exactly as long as the video (silence-padded).
    Other arguments as in :func:`render_frames`. Everything is checked before anything is
    written; outputs appear only when complete.
    """
    from vr_study.atomic import atomic_path
    from vr_study.render.video import VideoWriter, soundtrack

    if out_path is None and png_dir is None:
        raise InputError(None, "-o", "no output given", "name an .mp4 file with -o, or a folder with --png-dir")
    if out_path is not None:
        out_path = Path(out_path)
        if out_path.suffix.lower() != ".mp4":
            raise InputError(out_path, None, "is not an .mp4 file name", "name the output like out.mp4")
        if out_path.is_dir():
            raise InputError(out_path, None, "is a directory", "name an .mp4 file")
    if png_dir is not None:
        png_dir = Path(png_dir)
        if png_dir.exists() and (not png_dir.is_dir() or any(png_dir.iterdir())):
            raise InputError(png_dir, "--png-dir", "exists and is not an empty folder",
                             "name a new or empty folder for the PNG frames")
    plan = plan_render(clips, view, size, fps, captions, fmt)
    track, offset = resolve_audio(audio, plan.clips) if out_path is not None else (None, 0.0)
    body = load_body(body_model)
    width, height = plan.frame_size

    with contextlib.ExitStack() as stack:
        writer = None
        if out_path is not None:
            tmp = stack.enter_context(atomic_path(out_path))
            sound = soundtrack(track, offset, plan.duration_s) if track is not None else None
            writer = stack.enter_context(VideoWriter(tmp, width, height, plan.fps, sound))
        frames_dir = stack.enter_context(_atomic_dir(png_dir)) if png_dir is not None else None
        for i, frame in enumerate(_frames(plan, body, progress)):
            if writer is not None:
                writer.write(frame)
            if frames_dir is not None:
                from PIL import Image

                Image.fromarray(frame).save(frames_dir / f"frame_{i:06d}.png", compress_level=1)
    return RenderResult(out_path, png_dir, plan.num_frames, plan.fps, plan.duration_s, width, height,
                        track is not None and out_path is not None)
