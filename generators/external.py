"""Runners for external methods (EMAGE, TalkSHOW, AMUSE): run the lab's own installation.

Each runner prepares the speech the way the method expects (16 kHz mono wav in a fresh
folder), runs the method's own inference command in its working folder with its own
Python interpreter, finds the output file, and imports it with :mod:`vr_study.formats`.

The installation is described in a methods config (YAML), one entry per method::

    methods:
      emage:
        workdir: /opt/PantoMatrix                 # the method's checkout
        python: /opt/envs/emage/bin/python        # its own environment
        command: "{python} test_emage_audio.py --audio_folder {audio_dir} --save_folder {out_dir}"
        output: "{out_dir}/{stem}_output.npz"     # a path or glob; relative = to workdir
        format: beat2                             # vr_study.formats reader
      talkshow:
        workdir: /opt/TalkSHOW
        python: /opt/envs/talkshow/bin/python
        command: "{python} scripts/demo.py --config_file ./config/body_pixel.json --infer --audio_file {audio} --id {speaker} --num_sample 1"
        output: "visualise/video/body-pixel/{stem}/*.npy"
        format: talkshow
        speaker: 0
        body_model: null                          # SMPL-X file whose hand mean TalkSHOW used
      amuse:
        workdir: /opt/AMUSE
        python: /opt/envs/amuse/bin/python
        command: "{python} main.py --fn infer_gesture --audio {audio} --emotion {emotion_arg} --out {out_dir}"
        output: "{out_dir}/*.npz"
        format: amuse
        max_chunk_s: 10                           # AMUSE infers 10 s chunks
        emotion_args: {happy: happy, neutral: neutral}
        face: prosody                             # jaw + expression + eyes come from this method

Placeholders in ``command`` and ``output``: {python} {workdir} {audio} (the prepared wav)
{audio_dir} {stem} {out_dir} (a fresh empty folder) {emotion} {emotion_arg} {seed}
{speaker}. The command is split like a shell line (no shell runs it). Optional keys:
``sample_rate_hz`` (16000), ``fps`` (30: output frame rate in Hz; the clip is resampled to
it), ``timeout_s`` (3600), ``env`` (extra environment variables), ``emotions`` (labels
the method accepts; default happy, neutral), ``num_samples``/``sample`` (TalkSHOW).
"""
from __future__ import annotations

import glob
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vr_study.audio import Audio, write_wav
from vr_study.errors import InputError
from vr_study.motion import MotionClip

from .base import EMOTIONS, Utterance, check_emotion, stamp_meta

CONFIG_ENV = "VR_STUDY_METHODS_CONFIG"
#: the readers each built-in runner uses by default
DEFAULT_FORMATS = {"emage": "beat2", "talkshow": "talkshow", "amuse": "amuse"}
DEFAULT_MAX_CHUNK_S = {"amuse": 10.0}


@dataclass
class MethodConfig:
    """One method's installation (see module docstring); times in seconds, rates in Hz."""

    name: str
    command: str
    workdir: str
    output: str
    format: str
    python: str | None = None
    sample_rate_hz: int = 16000
    fps: float = 30.0
    timeout_s: float = 3600.0
    env: dict[str, str] = field(default_factory=dict)
    emotions: tuple[str, ...] | None = EMOTIONS
    emotion_args: dict[str, str] = field(default_factory=dict)
    speaker: str | int | None = None
    max_chunk_s: float | None = None
    face: str | None = None
    body_model: str | None = None
    num_samples: int = 1
    sample: int = 0
    source: str = "methods config"

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any], source: str) -> "MethodConfig":
        if not isinstance(d, dict):
            raise InputError(source, f"methods.{name}", "is not a mapping", "see docs/generators.md for the layout")
        known = {f for f in cls.__dataclass_fields__} - {"name", "source"}
        unknown = set(d) - known
        if unknown:
            raise InputError(source, f"methods.{name}", f"has unknown keys {sorted(unknown)}",
                             f"allowed: {', '.join(sorted(known))}")
        for key in ("command", "workdir", "output"):
            if not d.get(key):
                raise InputError(source, f"methods.{name}.{key}", "is missing", "see docs/generators.md")
        d = dict(d)
        d.setdefault("format", DEFAULT_FORMATS.get(name, "beat2"))
        d.setdefault("max_chunk_s", DEFAULT_MAX_CHUNK_S.get(name))
        if d.get("emotions") is not None:
            d["emotions"] = tuple(d["emotions"])
        base = Path(source).parent if source and Path(source).is_file() else Path.cwd()
        for key in ("workdir", "python", "body_model"):
            value = d.get(key)
            if not value or (key == "python" and os.sep not in str(value)):
                continue  # a bare interpreter name is looked up on PATH
            p = Path(str(value)).expanduser()
            d[key] = str(p if p.is_absolute() else (base / p).resolve())
        try:
            return cls(name=name, source=source, **d)
        except TypeError as e:
            raise InputError(source, f"methods.{name}", f"is invalid ({e})", "see docs/generators.md") from None


def load_methods_config(config: str | Path | dict | None) -> tuple[dict[str, dict], str]:
    """The ``methods`` mapping of a config file (or dict) and a name for error messages."""
    if config is None:
        config = os.environ.get(CONFIG_ENV)
    if config is None:
        raise InputError(None, "methods config", "is not given, so external methods cannot be found",
                         f"pass --methods-config methods.yaml or set {CONFIG_ENV} (see docs/generators.md)")
    if isinstance(config, dict):
        data, source = config, "methods config"
    else:
        import yaml

        path = Path(config)
        if not path.is_file():
            raise InputError(path, None, "does not exist", "check the methods config path")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            line = getattr(getattr(e, "problem_mark", None), "line", None)
            where = f" at line {line + 1}" if line is not None else ""
            raise InputError(path, None, f"is not valid YAML{where}", "fix the syntax") from None
        source = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("methods"), dict):
        raise InputError(source, "methods", "is missing or not a mapping", "start the file with 'methods:'")
    return data["methods"], source


def load_runner(name: str, config: str | Path | dict | None = None, **options: Any) -> "ExternalRunner":
    """The runner for method ``name`` as configured in ``config``."""
    methods, source = load_methods_config(config)
    if name not in methods:
        raise InputError(source, "methods", f"has no entry for '{name}'",
                         f"add methods.{name} with workdir, python, command and output")
    cfg = MethodConfig.from_dict(name, {**methods[name], **options}, source)
    return ExternalRunner(cfg, config)


class ExternalRunner:
    """Generator that runs an external method's inference (see module docstring)."""

    def __init__(self, config: MethodConfig, all_methods: str | Path | dict | None = None):
        self.config = config
        self.name = config.name
        self.emotions = config.emotions
        self._all_methods = all_methods

    # ------------------------------------------------------------------ checks
    def check_installation(self) -> None:
        """Raise InputError naming what is missing from the method's installation."""
        c = self.config
        if not Path(c.workdir).is_dir():
            raise InputError(c.source, f"methods.{c.name}.workdir", f"'{c.workdir}' does not exist",
                             f"install {c.name} there or fix the path")
        if c.python:
            py = Path(c.python)
            if os.sep in c.python and not (py.is_file() and os.access(py, os.X_OK)):
                raise InputError(c.source, f"methods.{c.name}.python", f"'{c.python}' is not an executable interpreter",
                                 f"point it at the Python of {c.name}'s own environment")

    # ------------------------------------------------------------------ running
    def _placeholders(self, utt: Utterance, wav: Path, out_dir: Path) -> dict[str, str]:
        c = self.config
        speaker = utt.speaker if utt.speaker is not None else c.speaker
        return {"python": c.python or "python", "workdir": c.workdir, "audio": str(wav),
                "audio_dir": str(wav.parent), "stem": wav.stem, "out_dir": str(out_dir),
                "emotion": utt.emotion, "emotion_arg": c.emotion_args.get(utt.emotion, utt.emotion),
                "seed": str(int(utt.seed)), "speaker": "" if speaker is None else str(speaker)}

    def _format(self, template: str, values: dict[str, str], key: str) -> str:
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError) as e:
            raise InputError(self.config.source, f"methods.{self.name}.{key}", f"has an unknown placeholder ({e})",
                             f"use {{{'}, {'.join(values)}}}") from None

    def _run_once(self, utt: Utterance, audio: Audio, stem: str, work: Path) -> tuple[MotionClip, Path]:
        c = self.config
        audio_dir = work / "audio"
        out_dir = work / "out"
        audio_dir.mkdir(parents=True)
        out_dir.mkdir()
        wav = audio_dir / f"{stem}.wav"
        write_wav(wav, audio)
        values = self._placeholders(utt, wav, out_dir)
        argv = [self._format(tok, values, "command") for tok in shlex.split(c.command)]
        env = {**os.environ, **{k: str(v) for k, v in c.env.items()}}
        try:
            proc = subprocess.run(argv, cwd=c.workdir, env=env, capture_output=True, text=True, timeout=c.timeout_s)
        except FileNotFoundError:
            raise InputError(c.source, f"methods.{c.name}.command", f"runs '{argv[0]}', which was not found",
                             "fix the command or the python path") from None
        except subprocess.TimeoutExpired:
            raise InputError(c.source, f"methods.{c.name}.timeout_s", f"{c.name} ran longer than {c.timeout_s:g} s",
                             "raise timeout_s or check the installation") from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()
            last = tail[-1] if tail else "(no output)"
            raise InputError(c.source, f"methods.{c.name}.command", f"exited with code {proc.returncode}: {last}",
                             f"run it by hand in {c.workdir} to see the full error")
        pattern = self._format(c.output, values, "output")
        if not Path(pattern).is_absolute():
            pattern = str(Path(c.workdir) / pattern)
        found = [Path(p) for p in glob.glob(pattern)]
        if not found:
            raise InputError(c.source, f"methods.{c.name}.output", f"matched no file ('{pattern}') after the run",
                             f"check where {c.name} writes its result and set output accordingly")
        path = max(found, key=lambda p: p.stat().st_mtime)
        from vr_study.formats import read_motion

        opts: dict[str, Any] = {}
        if c.format == "talkshow":
            opts.update(num_samples=c.num_samples, sample=c.sample)
            if c.body_model:
                from vr_study.body import load_body_model

                opts["hands_mean"] = load_body_model(c.body_model).hands_mean
        try:
            clip = read_motion(path, c.format, **opts)
        except InputError as e:
            raise InputError(path, e.field, f"({c.name} output) {e.problem}",
                             f"{c.name}'s output is not what was expected: {e.fix}") from None
        return clip, path

    def generate(self, utterance: Utterance) -> MotionClip:
        from .prosody import concat_clips
        from .speech import load_speech

        c = self.config
        check_emotion(self, utterance.emotion, str(utterance.audio_path))
        self.check_installation()
        speech = load_speech(utterance.audio_path, c.sample_rate_hz)
        audio = speech.audio
        stem = Path(utterance.audio_path).stem
        n = audio.samples.shape[0]
        step = int(c.max_chunk_s * c.sample_rate_hz) if c.max_chunk_s else n
        pieces, outputs = [], []
        with tempfile.TemporaryDirectory(prefix=f"vr-study-{c.name}-") as tmp:
            for k, s0 in enumerate(range(0, n, step)):
                part = Audio(audio.samples[s0:s0 + step], c.sample_rate_hz, 1, audio.path)
                clip, out = self._run_once(utterance, part, stem if s0 == 0 and step >= n else f"{stem}_{k:03d}",
                                           Path(tmp) / f"run{k}")
                clip = self._fit_length(clip.resample(c.fps) if abs(clip.fps - c.fps) > 1e-6 else clip,
                                        part.duration_s, out)
                pieces.append(clip)
                outputs.append(out.name)
        clip = concat_clips(pieces) if len(pieces) > 1 else pieces[0]
        notes = list(speech.notes)
        if c.face:
            clip = self._merge_face(clip, utterance)
            notes.append(f"jaw, expression and eyes from '{c.face}'")
        stamp_meta(clip, c.name, utterance, 0.0, notes=notes, outputs=outputs, installation=c.workdir,
                   command=c.command)
        clip.meta.source_format = c.format
        return clip.validate(f"{c.name} motion for {utterance.audio_path}")

    def _fit_length(self, clip: MotionClip, duration_s: float, path: Path) -> MotionClip:
        """Trim to the audio's length; reject output much shorter than the audio."""
        want = max(1, int(round(duration_s * clip.fps)))
        if clip.num_frames >= want:
            return clip.trim(0.0, want / clip.fps) if clip.num_frames > want else clip
        short_s = (want - clip.num_frames) / clip.fps
        if short_s > 0.5:
            raise InputError(path, "poses", f"covers {clip.duration_s:.2f} s but the audio lasts {duration_s:.2f} s",
                             f"{self.name}'s output is not what was expected: check that it read the whole wav")
        pad = want - clip.num_frames  # a few frames short: hold the last pose
        idx = np.concatenate([np.arange(clip.num_frames), np.full(pad, clip.num_frames - 1)])
        return MotionClip.from_poses(clip.poses()[idx], clip.transl[idx], clip.expression[idx], clip.betas,
                                     clip.fps, clip.gender, clip.meta)

    def _merge_face(self, clip: MotionClip, utterance: Utterance) -> MotionClip:
        """Take jaw, eyes and expression from the configured face method."""
        face_name = self.config.face
        if face_name == self.name:
            raise InputError(self.config.source, f"methods.{self.name}.face", "names the method itself",
                             "name another method (e.g. prosody or a configured faceformer)")
        methods = {}
        try:
            methods, _ = load_methods_config(self._all_methods)
        except InputError:
            pass
        if face_name in methods:
            face_gen = load_runner(face_name, self._all_methods)
        else:
            from .registry import get_generator

            face_gen = get_generator(face_name)
        face = face_gen.generate(utterance)
        if abs(face.fps - clip.fps) > 1e-6:
            face = face.resample(clip.fps)
        T = clip.num_frames
        idx = np.minimum(np.arange(T), face.num_frames - 1)
        out = clip.copy()
        out.jaw_pose = face.jaw_pose[idx].copy()
        out.leye_pose = face.leye_pose[idx].copy()
        out.reye_pose = face.reye_pose[idx].copy()
        out.expression = face.expression[idx].copy()
        out.meta.extra["face_method"] = face_name
        return out
