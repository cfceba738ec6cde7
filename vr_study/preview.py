"""A stimulus library's contact sheet: one static HTML page, a section per condition.

``vr-study library preview LIB -o OUT/`` writes::

    OUT/
      index.html          # sections per condition (method x emotion), warnings highlighted
      report.json         # the same warnings and measures, machine-readable
      media/<id>_face.png, <id>_body.png     # stills (the clip's middle frame)
      media/<id>_face.webp, <id>_body.webp   # short looping animations (animated WebP)

Stills and loops come from the offline renderer (:mod:`vr_study.render.offline`) at a low
resolution and frame rate so a whole library renders quickly on a CPU. Warnings come from
:mod:`vr_study.clip_checks`; the jerk check compares every clip with the library's median.
The page loads nothing from the network (no scripts, no CDN, inline CSS).
"""
from __future__ import annotations

import contextlib
import html
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from vr_study.clip_checks import ClipWarning, clip_warnings, jerk_outliers, mean_jerk
from vr_study.errors import InputError
from vr_study.library import StimulusLibrary
from vr_study.motion import MotionClip

#: Default size of each still and loop (width, height) in pixels.
DEFAULT_SIZE = (160, 160)
#: Default frame rate of the loops, Hz.
DEFAULT_FPS = 10.0
#: Default longest loop, seconds (longer clips loop their first seconds).
DEFAULT_MAX_SECONDS = 6.0
VIEWS = ("face", "body")  # file suffix -> render view
_RENDER_VIEW = {"face": "face", "body": "full"}


@dataclass
class ClipPreview:
    """One clip's row of the contact sheet: labels, measures (s, m/s^3), warnings, media files."""

    id: str
    method: str
    emotion: str
    utterance: str
    seed: int | None
    duration_s: float
    audio_duration_s: float | None
    mean_jerk_m_s3: float
    warnings: list[ClipWarning] = field(default_factory=list)
    media: dict[str, str] = field(default_factory=dict)  # e.g. "face_still" -> "media/<id>_face.png"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "method": self.method, "emotion": self.emotion, "utterance": self.utterance,
                "seed": self.seed, "duration_s": round(self.duration_s, 4),
                "audio_duration_s": None if self.audio_duration_s is None else round(self.audio_duration_s, 4),
                "mean_jerk_m_s3": round(self.mean_jerk_m_s3, 3),
                "warnings": [{"kind": w.kind, "message": w.message} for w in self.warnings],
                "media": dict(self.media)}


def audio_duration_s(path: str | Path | None) -> float | None:
    """Length of a sound file in seconds (None when no path is given)."""
    if not path:
        return None
    import soundfile as sf

    try:
        return float(sf.info(str(path)).duration)
    except (RuntimeError, sf.LibsndfileError) as e:  # pragma: no cover - depends on file
        raise InputError(path, None, f"is not a readable sound file ({e})", "restore the audio file") from None


def check_library(lib: StimulusLibrary) -> list[tuple[ClipPreview, MotionClip]]:
    """Read every clip of ``lib`` and run every check, the jerk check against the whole library.

    A clip whose file or audio does not match the manifest gets a ``file`` warning (and
    is still shown when its motion can be read).
    """
    if not len(lib):
        raise InputError(lib.manifest_path, "clips", "is empty: nothing to preview",
                         "add clips with `vr-study library add` or `vr-study generate batch`")
    rows: list[tuple[ClipPreview, MotionClip]] = []
    for e in lib:
        problems = lib.problems(e.id)
        if not lib.path_of(e.id).is_file():
            raise InputError(lib.path_of(e.id), None, "is missing", "restore it or remove it from the library")
        clip = lib.read_clip(e.id, check_hash=False)
        audio = lib.audio_of(e.id)
        dur = audio_duration_s(audio) if audio is not None and audio.is_file() else None
        warnings = [ClipWarning("file", p) for p in problems] + clip_warnings(clip, dur)
        rows.append((ClipPreview(e.id, e.method, e.emotion or "none", e.utterance or "", e.seed, clip.duration_s,
                                 dur, mean_jerk(clip), warnings), clip))
    outliers = jerk_outliers({row.id: row.mean_jerk_m_s3 for row, _ in rows})
    for row, _ in rows:
        if row.id in outliers:
            row.warnings.append(outliers[row.id])
    return rows


def render_media(clip: MotionClip, clip_id: str, media_dir: Path, body: Any, size: tuple[int, int],
                 fps: float, max_seconds: float) -> dict[str, str]:
    """Render a clip's face and body stills (PNG, middle frame) and loops (animated WebP).

    Returns {"face_still", "face_loop", "body_still", "body_loop"} -> path relative to the
    preview folder.
    """
    from PIL import Image

    from vr_study.library import safe_name
    from vr_study.render.offline import render_frames

    if clip.duration_s > max_seconds:
        clip = clip.trim(0.0, max_seconds)
    stem = safe_name(clip_id)
    out: dict[str, str] = {}
    for name in VIEWS:
        frames = [Image.fromarray(f) for f in render_frames([clip], view=_RENDER_VIEW[name], size=size,
                                                            fps=fps, captions=False, body_model=body)]
        still = f"media/{stem}_{name}.png"
        loop = f"media/{stem}_{name}.webp"
        frames[len(frames) // 2].save(media_dir.parent / still, optimize=True)
        frames[0].save(media_dir.parent / loop, save_all=True, append_images=frames[1:],
                       duration=int(round(1000.0 / fps)), loop=0, quality=60, method=4)
        out[f"{name}_still"], out[f"{name}_loop"] = still, loop
    return out


@contextlib.contextmanager
def _atomic_dir(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target``, renamed onto it on success (target absent or empty)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_output_dir(out_dir: str | Path) -> Path:
    """``out_dir`` as a Path; raise :class:`InputError` unless it is new or an empty folder."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(out, "-o", "exists and is not an empty folder", "name a new or empty folder")
    return out


def write_preview(library: str | Path, out_dir: str | Path, size: Sequence[int] = DEFAULT_SIZE,
                  fps: float = DEFAULT_FPS, max_seconds: float = DEFAULT_MAX_SECONDS, media: bool = True,
                  body_model: Any = None, progress: Any = None) -> list[ClipPreview]:
    """Check every clip of ``library`` and write the contact sheet to ``out_dir`` (see module doc).

    Everything is checked before anything is written; ``out_dir`` appears only when
    complete. ``size`` (width, height) px and ``fps`` Hz of stills and loops,
    ``max_seconds`` the longest loop; ``media=False`` writes the page without pictures.
    ``progress``: called with each clip id before its media are rendered.
    """
    from vr_study.render.offline import check_size, load_body

    size = check_size(size)
    if not (1.0 <= float(fps) <= 60.0):
        raise InputError(None, "--fps", f"is {fps!r}", "give a loop frame rate between 1 and 60 Hz")
    if not (0.5 <= float(max_seconds) <= 60.0):
        raise InputError(None, "--max-seconds", f"is {max_seconds!r}", "give 0.5 to 60 seconds")
    out = check_output_dir(out_dir)
    lib = StimulusLibrary.open(library)
    rows = check_library(lib)
    body = load_body(body_model) if media else None
    with _atomic_dir(out) as tmp:
        media_dir = tmp / "media"
        media_dir.mkdir()
        for row, clip in rows:
            if media:
                if progress is not None:
                    progress(row.id)
                row.media = render_media(clip, row.id, media_dir, body, size, float(fps), float(max_seconds))
        previews = [row for row, _ in rows]
        (tmp / "index.html").write_text(contact_sheet_html(previews, str(library), size), encoding="utf-8")
        report = {"library": str(library), "clips": [r.to_dict() for r in previews]}
        (tmp / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return previews


# ----------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#1d1d1f;background:#fafafa}
h1{font-size:1.5em}h2{margin-top:1.8em;border-bottom:2px solid #ccc;padding-bottom:.2em}
table.summary{border-collapse:collapse}table.summary td,table.summary th{border:1px solid #ccc;padding:.25em .6em}
.clips{display:flex;flex-wrap:wrap;gap:1em}
.clip{background:#fff;border:2px solid #8fbf8f;border-radius:6px;padding:.6em;width:max-content;max-width:100%}
.clip.bad{border-color:#c62828;background:#fff5f5}
.clip h3{font-size:1em;margin:.1em 0 .3em;font-family:monospace}
.meta{font-size:.85em;color:#555;margin-bottom:.4em}
.media{display:grid;grid-template-columns:repeat(4,auto);gap:4px;font-size:.75em;color:#666;text-align:center}
.media img{display:block;background:#ddd}
ul.warnings{margin:.5em 0 0;padding-left:1.2em;max-width:42em}
ul.warnings li{color:#b71c1c;margin:.2em 0}ul.warnings b{text-transform:uppercase;font-size:.8em}
.ok{color:#2e7d32;font-size:.9em;margin-top:.4em}
.count-bad{color:#b71c1c;font-weight:bold}
"""


def _condition_key(row: ClipPreview) -> tuple[str, str]:
    return row.method, row.emotion


def _anchor(method: str, emotion: str) -> str:
    from vr_study.library import safe_name

    return f"cond-{safe_name(method)}-{safe_name(emotion)}"


def contact_sheet_html(rows: Sequence[ClipPreview], library: str, size: Sequence[int]) -> str:
    """The page: a summary table, then one ``<section>`` per condition (method x emotion)."""
    e = html.escape
    conditions: dict[tuple[str, str], list[ClipPreview]] = {}
    for r in sorted(rows, key=lambda r: (r.method, r.emotion, r.utterance, r.seed or 0, r.id)):
        conditions.setdefault(_condition_key(r), []).append(r)
    n_bad = sum(1 for r in rows if r.warnings)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>Stimulus preview: {e(library)}</title>", f"<style>{_CSS}</style></head><body>",
             f"<h1>Stimulus preview: {e(library)}</h1>",
             f"<p>{len(rows)} clips in {len(conditions)} conditions; "
             f'<span class="{"count-bad" if n_bad else ""}">{n_bad} with warnings</span>.</p>',
             '<table class="summary"><tr><th>method</th><th>emotion</th><th>clips</th><th>with warnings</th></tr>']
    for (method, emotion), rs in conditions.items():
        bad = sum(1 for r in rs if r.warnings)
        parts.append(f'<tr><td><a href="#{_anchor(method, emotion)}">{e(method)}</a></td>'
                     f'<td><a href="#{_anchor(method, emotion)}">{e(emotion)}</a></td>'
                     f'<td>{len(rs)}</td><td class="{"count-bad" if bad else ""}">{bad}</td></tr>')
    parts.append("</table>")
    w, h = int(size[0]), int(size[1])
    for (method, emotion), rs in conditions.items():
        parts.append(f'<section class="condition" id="{_anchor(method, emotion)}" data-method="{e(method)}" '
                     f'data-emotion="{e(emotion)}"><h2>{e(method)} / {e(emotion)}</h2><div class="clips">')
        for r in rs:
            audio = "no speech" if r.audio_duration_s is None else f"speech {r.audio_duration_s:.2f} s"
            parts.append(f'<div class="clip{" bad" if r.warnings else ""}" id="{e(r.id)}">'
                         f"<h3>{e(r.id)}</h3><div class=\"meta\">utterance {e(r.utterance)}, seed {'-' if r.seed is None else r.seed}, "
                         f"motion {r.duration_s:.2f} s, {audio}, mean jerk {r.mean_jerk_m_s3:.1f} m/s&sup3;</div>")
            if r.media:
                parts.append('<div class="media">')
                for key, label in (("face_still", "face"), ("body_still", "body"),
                                   ("face_loop", "face (loop)"), ("body_loop", "body (loop)")):
                    parts.append(f'<div><img src="{e(r.media[key])}" width="{w}" height="{h}" '
                                 f'alt="{e(r.id)} {label}" loading="lazy">{label}</div>')
                parts.append("</div>")
            if r.warnings:
                parts.append('<ul class="warnings">' + "".join(
                    f'<li class="warning" data-kind="{e(x.kind)}"><b>{e(x.kind)}</b> {e(x.message)}</li>'
                    for x in r.warnings) + "</ul>")
            else:
                parts.append('<div class="ok">no warnings</div>')
            parts.append("</div>")
        parts.append("</div></section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def warnings_of(previews: Sequence[ClipPreview]) -> Iterator[tuple[str, ClipWarning]]:
    """(clip id, warning) for every warning, in id order."""
    for r in sorted(previews, key=lambda r: r.id):
        for w in r.warnings:
            yield r.id, w


__all__ = ["ClipPreview", "check_library", "write_preview", "contact_sheet_html", "render_media",
           "audio_duration_s", "warnings_of"]
