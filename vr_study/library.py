"""Stimulus library: a folder of motion clips plus ``manifest.json`` with content hashes.

Layout of a library folder::

    LIBRARY/
      manifest.json                 # this module's format, rewritten atomically per clip
      clips/<method>/<id>.npz       # BEAT2 .npz (vr_study.formats), one per stimulus
      audio/<utterance>.wav         # the speech each clip plays with (copied in)

Inside each clip file, ``meta.audio_path`` is relative to the clip file's folder
(``../../audio/<utterance>.wav``), so a clip copied out with its audio still finds it.

``manifest.json``::

    {"format": "vr-study-library", "version": 1,
     "clips": {"<id>": {"file": "clips/prosody/<id>.npz", "sha256": "<hex>",
                        "method": "prosody", "emotion": "happy", "utterance": "greeting",
                        "seed": 0, "audio": "audio/greeting.wav", "audio_sha256": "<hex>",
                        "audio_offset_s": 0.0, "duration_s": 4.83, "fps": 30.0,
                        "frames": 145, "transcript": "...", "created": "2026-11-29T19:40:00Z"}}}

Paths in the manifest are relative to the library folder, so a library can be copied.
The study runner and the pose server read libraries through :class:`StimulusLibrary`;
this module does not know how clips are made (no import of ``generators``).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from vr_study.atomic import atomic_path, atomic_write_text
from vr_study.errors import InputError
from vr_study.motion import MotionClip

MANIFEST_NAME = "manifest.json"
FORMAT_NAME = "vr-study-library"
FORMAT_VERSION = 1
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk_bytes)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def safe_name(text: str) -> str:
    """``text`` reduced to characters that are safe in a file name (letters, digits, ._-)."""
    out = _SAFE.sub("-", str(text)).strip("-.")
    return out or "x"


def clip_id(method: str, utterance: str, emotion: str | None, seed: int | None) -> str:
    """The stimulus id used in manifests, file names and metrics CSVs.

    >>> clip_id("prosody", "greeting", "happy", 0)
    'prosody__greeting__happy__s0'
    """
    return "__".join([safe_name(method), safe_name(utterance), safe_name(emotion or "none"),
                      f"s{int(seed or 0)}"])


@dataclass
class LibraryEntry:
    """One stimulus of a library; paths relative to the library folder, times in seconds."""

    id: str
    file: str
    sha256: str
    method: str
    emotion: str | None
    utterance: str | None
    seed: int | None
    audio: str | None = None
    audio_sha256: str | None = None
    audio_offset_s: float = 0.0
    duration_s: float = 0.0
    fps: float = 30.0
    frames: int = 0
    transcript: str | None = None
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("id")
        return d

    @classmethod
    def from_dict(cls, clip_id_: str, d: dict[str, Any], source: str) -> "LibraryEntry":
        names = {f.name for f in dataclasses.fields(cls)} - {"id"}
        for required in ("file", "sha256", "method"):
            if required not in d:
                raise InputError(source, f"clips.{clip_id_}.{required}", "is missing",
                                 "regenerate the clip with `vr-study generate batch`")
        unknown = set(d) - names
        if unknown:
            raise InputError(source, f"clips.{clip_id_}", f"has unknown keys {sorted(unknown)}",
                             f"allowed keys: {', '.join(sorted(names))}")
        d = dict(d)
        d.setdefault("emotion", None)
        d.setdefault("utterance", None)
        d.setdefault("seed", None)
        return cls(id=clip_id_, **d)


class StimulusLibrary:
    """A stimulus library folder (see module docstring). Not thread-safe; one writer."""

    def __init__(self, root: str | Path, entries: dict[str, LibraryEntry] | None = None):
        self.root = Path(root)
        self.entries: dict[str, LibraryEntry] = dict(entries or {})

    # ------------------------------------------------------------------ reading
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    @classmethod
    def open(cls, root: str | Path, create: bool = False) -> "StimulusLibrary":
        """Open the library at ``root``; with ``create`` an absent one starts empty."""
        root = Path(root)
        manifest = root / MANIFEST_NAME
        if not manifest.is_file():
            if create:
                if root.exists() and not root.is_dir():
                    raise InputError(root, None, "is a file, not a library folder", "give a folder path")
                return cls(root)
            raise InputError(root, MANIFEST_NAME, "is missing: not a stimulus library",
                             "create one with `vr-study generate batch ... -o FOLDER`")
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(manifest, None, f"is not valid JSON ({e})",
                             "restore it or delete it and regenerate the library") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise InputError(manifest, "format", f"is {data.get('format') if isinstance(data, dict) else data!r}",
                             f"expected '{FORMAT_NAME}'")
        if data.get("version") != FORMAT_VERSION:
            raise InputError(manifest, "version", f"is {data.get('version')!r}",
                             f"this vr-study reads version {FORMAT_VERSION}")
        clips = data.get("clips")
        if not isinstance(clips, dict):
            raise InputError(manifest, "clips", "is not a mapping of id -> entry", "regenerate the library")
        entries = {}
        for cid, d in clips.items():
            if not isinstance(d, dict):
                raise InputError(manifest, f"clips.{cid}", "is not a mapping", "regenerate the clip")
            entries[cid] = LibraryEntry.from_dict(cid, d, str(manifest))
        return cls(root, entries)

    def path_of(self, clip_id_: str) -> Path:
        """Absolute path of a clip's .npz file."""
        return self.root / self.entry(clip_id_).file

    def audio_of(self, clip_id_: str) -> Path | None:
        """Absolute path of a clip's speech wav (None when it has none)."""
        e = self.entry(clip_id_)
        return self.root / e.audio if e.audio else None

    def entry(self, clip_id_: str) -> LibraryEntry:
        if clip_id_ not in self.entries:
            raise InputError(self.manifest_path, "clips", f"has no clip '{clip_id_}'",
                             f"choose one of {', '.join(sorted(self.entries)[:8]) or '(none)'}")
        return self.entries[clip_id_]

    def find(self, method: str | None = None, emotion: str | None = None,
             utterance: str | None = None, seed: int | None = None) -> list[LibraryEntry]:
        """Entries matching every given field, sorted by id."""
        out = []
        for e in self.entries.values():
            if ((method is None or e.method == method) and (emotion is None or e.emotion == emotion)
                    and (utterance is None or e.utterance == utterance) and (seed is None or e.seed == seed)):
                out.append(e)
        return sorted(out, key=lambda e: e.id)

    def problems(self, clip_id_: str) -> list[str]:
        """What is wrong with one stored clip (missing file, hash mismatch); [] when valid."""
        e = self.entry(clip_id_)
        out = []
        p = self.root / e.file
        if not p.is_file():
            out.append(f"{e.file} is missing")
        elif sha256_file(p) != e.sha256:
            out.append(f"{e.file} does not match its sha256 (changed or truncated)")
        if e.audio:
            a = self.root / e.audio
            if not a.is_file():
                out.append(f"{e.audio} is missing")
            elif e.audio_sha256 and sha256_file(a) != e.audio_sha256:
                out.append(f"{e.audio} does not match its sha256")
        return out

    def is_valid(self, clip_id_: str) -> bool:
        """True when the clip is in the manifest and its files match their hashes."""
        return clip_id_ in self.entries and not self.problems(clip_id_)

    def verify(self) -> dict[str, list[str]]:
        """Problems of every clip: {id: [problem, ...]} for the clips that have any."""
        return {cid: p for cid in sorted(self.entries) if (p := self.problems(cid))}

    def read_clip(self, clip_id_: str, check_hash: bool = True) -> MotionClip:
        """Load a clip (BEAT2 .npz), after checking its hash unless ``check_hash`` is False."""
        from vr_study.formats import read_motion

        if check_hash:
            probs = self.problems(clip_id_)
            if probs:
                raise InputError(self.manifest_path, f"clips.{clip_id_}", "; ".join(probs),
                                 "regenerate it (`vr-study generate batch` skips only valid clips)")
        return read_motion(self.path_of(clip_id_), "beat2")

    # ------------------------------------------------------------------ writing
    def save_manifest(self) -> None:
        """Rewrite manifest.json atomically (temporary file, then rename)."""
        data = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                "clips": {cid: self.entries[cid].to_dict() for cid in sorted(self.entries)}}
        atomic_write_text(self.manifest_path, json.dumps(data, indent=2, sort_keys=False) + "\n")

    def _store_audio(self, audio_path: str | Path, utterance: str) -> tuple[str, str]:
        """Copy the speech file into audio/ (once per content); return (relative path, sha256)."""
        src = Path(audio_path)
        digest = sha256_file(src)
        rel = Path("audio") / f"{safe_name(utterance)}{src.suffix.lower() or '.wav'}"
        dst = self.root / rel
        if dst.is_file() and sha256_file(dst) == digest:
            return rel.as_posix(), digest
        if dst.exists():  # same utterance name, different speech: keep both apart
            rel = Path("audio") / f"{safe_name(utterance)}-{digest[:8]}{src.suffix.lower() or '.wav'}"
            dst = self.root / rel
            if dst.is_file():
                return rel.as_posix(), digest
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
        return rel.as_posix(), digest

    def add_clip(self, clip: MotionClip, audio_path: str | Path | None = None,
                 clip_id_: str | None = None, transcript: str | None = None) -> LibraryEntry:
        """Write ``clip`` into the library and record it; the manifest is rewritten atomically.

        The clip's .npz is written first (atomically), then its audio is copied, then the
        manifest: a crash at any point leaves the previous manifest and no entry pointing
        at a half-written file.
        """
        from vr_study.formats import write_motion

        m = clip.meta
        utt = m.utterance or (Path(audio_path).stem if audio_path else "utterance")
        cid = clip_id_ or clip_id(m.method, utt, m.emotion, m.seed)
        rel = Path("clips") / safe_name(m.method) / f"{cid}.npz"
        self.root.mkdir(parents=True, exist_ok=True)
        audio_rel = audio_sha = None
        audio_src = audio_path or m.audio_path
        if audio_src:
            if not Path(audio_src).is_file():
                raise InputError(audio_src, None, "does not exist", "check the audio path")
            audio_rel, audio_sha = self._store_audio(audio_src, utt)
            clip = clip.copy()
            # inside the clip file the audio path is relative to the clip's own folder
            clip.meta.audio_path = os.path.relpath(self.root / audio_rel, (self.root / rel).parent)
        write_motion(clip, self.root / rel)
        entry = LibraryEntry(
            id=cid, file=rel.as_posix(), sha256=sha256_file(self.root / rel), method=m.method,
            emotion=m.emotion, utterance=utt, seed=None if m.seed is None else int(m.seed),
            audio=audio_rel, audio_sha256=audio_sha, audio_offset_s=float(m.audio_offset_s),
            duration_s=round(clip.duration_s, 6), fps=float(clip.fps), frames=clip.num_frames,
            transcript=transcript,
            created=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"))
        self.entries[cid] = entry
        self.save_manifest()
        return entry

    def ids(self) -> list[str]:
        return sorted(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterable[LibraryEntry]:
        return iter(self.find())


def open_library(root: str | Path, create: bool = False) -> StimulusLibrary:
    """Open (or with ``create`` start) the stimulus library at ``root``."""
    return StimulusLibrary.open(root, create=create)
