"""Runners for external methods (EMAGE, TalkSHOW, AMUSE, FaceFormer): run the lab's own installation.

Each runner prepares the speech the way the method expects (16 kHz mono wav in a fresh
folder), runs the method's own inference in its checkout with its own Python, finds the
output file and imports it (:mod:`vr_study.formats`; FaceFormer's FLAME vertices are fitted
to SMPL-X jaw + expression by :mod:`generators.face_fit`).

The runner knows each method's real command line, output location and conventions at a
pinned upstream commit (:data:`BUILTIN`, cited in docs/generators.md); a lab names only
where its installation is::

    methods:
      emage:    {workdir: /opt/PantoMatrix, python: /opt/envs/emage/bin/python}
      talkshow: {workdir: /opt/TalkSHOW, python: /opt/envs/talkshow/bin/python, speaker: 0}
      amuse:    {workdir: /opt/amuse, python: /opt/envs/amuse/bin/python, face: faceformer}
      faceformer: {workdir: /opt/FaceFormer, python: /opt/envs/faceformer/bin/python,
                   device: cpu, flame_vertex_ids: /data/smplx/SMPL-X__FLAME_vertex_ids.npy,
                   body_model: /data/smplx/SMPLX_NEUTRAL.npz}

Any default can be overridden (``command``, ``output``, ``format``, ...); a method name
that is not built in needs ``command`` and ``output``. Placeholders in ``command`` and
``output``: {python} {workdir} {wrappers} (the project's wrapper scripts) {audio} (the
prepared wav) {audio_dir} {stem} {out_dir} (a fresh empty folder) {emotion} {emotion_arg}
{seed} {speaker} {subject} {device} {num_samples}. The command is split like a shell line
(no shell runs it). Other keys: ``sample_rate_hz`` (16000), ``fps`` (output frame rate in
Hz; the clip is resampled to it), ``timeout_s`` (3600), ``env`` (extra environment
variables), ``emotions`` (labels accepted; default happy, neutral), ``num_samples``/
``sample`` (TalkSHOW), ``max_chunk_s`` (longer speech is split), ``face`` (a method whose
jaw, eyes and expression replace this one's), ``body_model`` (SMPL-X file: TalkSHOW's hand
mean; FaceFormer's fitting target), ``flame_vertex_ids`` (FaceFormer), ``output_survives_crash``
(a non-zero exit after the output was written is a warning, not an error).
"""
from __future__ import annotations

import glob
import os
import re
import secrets
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import numpy as np

from vr_study.audio import Audio, write_wav
from vr_study.errors import InputError
from vr_study.motion import MotionClip

from .base import EMOTIONS, Conditioning, Utterance, check_emotion, stamp_meta

CONFIG_ENV = "VR_STUDY_METHODS_CONFIG"
#: the project's wrapper scripts, run with a method's own Python inside its checkout
WRAPPERS_DIR = Path(__file__).resolve().parent / "wrappers"
#: lines a wrapper prints on stderr to pass a warning on to the clip's notes
WARNING_PREFIX = "vr-study-warning:"

#: FaceFormer's VOCASET subjects (README.md of EvelynFan/FaceFormer dfaea81, the vocaset demo line)
VOCASET_TRAIN = ("FaceTalk_170728_03272_TA FaceTalk_170904_00128_TA FaceTalk_170725_00137_TA "
                 "FaceTalk_170915_00223_TA FaceTalk_170811_03274_TA FaceTalk_170913_03279_TA "
                 "FaceTalk_170904_03276_TA FaceTalk_170912_03278_TA")
VOCASET_TEST = "FaceTalk_170809_00138_TA FaceTalk_170731_00024_TA"


@dataclass(frozen=True)
class MethodDefaults:
    """What the runner knows about a method's real code at a pinned commit."""

    upstream: str
    command: str
    output: str
    format: str
    conditioning: Conditioning
    fps: float = 30.0
    max_chunk_s: float | None = None
    output_survives_crash: bool = False
    speaker: str | int | None = None
    subject: str | None = None
    device: str | None = None
    speakers: tuple[str, ...] | None = None     # the speaker/style ids the method accepts


#: built-in defaults per method (docs/generators.md cites the upstream lines)
BUILTIN: dict[str, MethodDefaults] = {
    "emage": MethodDefaults(
        upstream="PantoMatrix/PantoMatrix c7356f3",
        command="{python} test_emage_audio.py --audio_folder {audio_dir} --save_folder {out_dir}",
        output="{out_dir}/{stem}_output.npz", format="beat2",
        conditioning=Conditioning(False, False, False, "no emotion, speaker or seed input: speaker id fixed to 0 "
                                  "and argmax decoding (test_emage_audio.py:19, :37-40)")),
    "talkshow": MethodDefaults(
        upstream="yhw-yhw/TalkSHOW 9aef82d",
        command="{python} scripts/demo.py --config_file ./config/body_pixel.json --infer --audio_file {audio} "
                "--id {speaker} --num_sample {num_samples} --stand",
        output="visualise/video/body-pixel2/{stem}.npy", format="talkshow", output_survives_crash=True,
        speaker=0, speakers=("0", "1", "2", "3"),
        conditioning=Conditioning(False, "draw", True, "speaker id 0-3 (--id); no emotion input; each run draws "
                                  "new samples without a fixed seed (demo.py sets none)")),
    "amuse": MethodDefaults(
        upstream="kiranchhatre/amuse 1978d3a",
        command="{python} {wrappers}/amuse_infer.py --checkout {workdir} --audio {audio} --seed {seed} "
                "--out {out_dir}/{stem}_motion_smplx.npz",
        output="{out_dir}/{stem}_motion_smplx.npz", format="amuse", max_chunk_s=10.0,
        conditioning=Conditioning(False, True, False, "emotion and style come from the speech only (custom audio "
                                  "has no emotion input); the seed is its config's TRAIN_PARAM.seed")),
    "faceformer": MethodDefaults(
        upstream="EvelynFan/FaceFormer dfaea81",
        command="{python} {wrappers}/faceformer_infer.py --template-out {out_dir}/{stem}_template.npy -- "
                "--model_name vocaset --dataset vocaset --vertice_dim 15069 --feature_dim 64 --period 30 --fps 30 "
                f"--train_subjects '{VOCASET_TRAIN}' --test_subjects '{VOCASET_TEST}' "
                "--condition {speaker} --subject {subject} --wav_path {audio} --result_path {out_dir} "
                "--output_path {out_dir} --device {device}",
        output="{out_dir}/{stem}.npy", format="flame_vertices",
        speaker="FaceTalk_170913_03279_TA", subject="FaceTalk_170809_00138_TA", device="cuda",
        speakers=tuple(VOCASET_TRAIN.split()),
        conditioning=Conditioning(False, False, True, "face only; speaking style = one of the 8 VOCASET training "
                                  "subjects (--condition); deterministic; no emotion input")),
}


def check_speaker(method: str, speaker: str | int | None, source: str | None, where: str, *,
                  takes_speaker: bool | None = None, per_method: bool = True) -> str | int | None:
    """``speaker`` if method ``method`` can take it; raise InputError naming ``where`` otherwise.

    A built-in method checks the id against the ids its code accepts (TalkSHOW 0-3,
    FaceFormer's 8 VOCASET training subjects). ``takes_speaker``: whether the method has a
    speaker input (default: a built-in's :class:`Conditioning`; other methods: yes). A
    speaker given to a method without one is an error when it was meant for that method
    (``per_method``) and quietly unused when it was one id for every method (returns None).
    """
    if speaker is None:
        return None
    b = BUILTIN.get(method)
    takes = takes_speaker if takes_speaker is not None else (b.conditioning.speaker if b else True)
    example = "speaker: {talkshow: 2, faceformer: FaceTalk_170728_03272_TA}"
    if not takes:
        if not per_method:
            return None
        raise InputError(source, where, f"gives speaker {speaker!r} to '{method}', which has no speaker input",
                         f"remove it; name only the methods that take one, e.g. {example}")
    if isinstance(speaker, bool) or not isinstance(speaker, (str, int)) or not str(speaker).strip():
        raise InputError(source, where, f"is {speaker!r}, not a speaker id", f"give a name or number, e.g. {example}")
    if b is not None and b.speakers is not None and str(speaker) not in b.speakers:
        fix = f"give one of {', '.join(b.speakers)}"
        if not per_method:
            fix += f"; to give each method its own, use a mapping per method: {example}"
        raise InputError(source, where, f"{speaker!r} is not a {method} speaker/style id", fix)
    return speaker


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
    subject: str | None = None
    device: str | None = None
    max_chunk_s: float | None = None
    face: str | None = None
    body_model: str | None = None
    flame_vertex_ids: str | None = None
    num_samples: int = 1
    sample: int = 0
    output_survives_crash: bool = False
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
        d = {k: v for k, v in d.items() if v is not None or k in ("face", "speaker")}
        builtin = BUILTIN.get(name)
        if builtin is not None:
            for key in ("command", "output", "format", "fps", "max_chunk_s", "output_survives_crash", "speaker",
                        "subject", "device"):
                d.setdefault(key, getattr(builtin, key))
        required = ("workdir",) if builtin else ("command", "workdir", "output")
        for key in required:
            if not d.get(key):
                hint = (f"give the folder of your {name} checkout" if key == "workdir"
                        else f"'{name}' is not built in ({', '.join(BUILTIN)} are): give command and output")
                raise InputError(source, f"methods.{name}.{key}", "is missing", hint)
        d.setdefault("format", "beat2")
        if "speaker" in d and (builtin is None or d["speaker"] != builtin.speaker):
            check_speaker(name, d["speaker"], source, f"methods.{name}.speaker")
        if d.get("emotions") is not None:
            d["emotions"] = tuple(d["emotions"])
        base = Path(source).parent if source and Path(source).is_file() else Path.cwd()
        for key in ("workdir", "python", "body_model", "flame_vertex_ids"):
            value = d.get(key)
            if not value or (key == "python" and os.sep not in str(value)):
                continue  # a bare interpreter name is looked up on PATH
            p = Path(str(value)).expanduser()
            d[key] = str(p if p.is_absolute() else (base / p).resolve())
        try:
            return cls(name=name, source=source, **d)
        except TypeError as e:
            raise InputError(source, f"methods.{name}", f"is invalid ({e})", "see docs/generators.md") from None

    @property
    def conditioning(self) -> Conditioning:
        b = BUILTIN.get(self.name)
        return b.conditioning if b else Conditioning(True, True, True, "a lab's own method: not declared")


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
                         f"add methods.{name} with workdir and python" if name in BUILTIN
                         else f"add methods.{name} with workdir, python, command and output")
    cfg = MethodConfig.from_dict(name, {**methods[name], **options}, source)
    return ExternalRunner(cfg, config)


class ExternalRunner:
    """Generator that runs an external method's inference (see module docstring)."""

    def __init__(self, config: MethodConfig, all_methods: str | Path | dict | None = None):
        self.config = config
        self.name = config.name
        self.emotions = config.emotions
        self.conditioning = config.conditioning
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
    def _speaker(self, utt: Utterance) -> str | int | None:
        """The speaker id this method runs with: the utterance's (checked), else the configured one."""
        speaker = check_speaker(self.name, utt.speaker_for(self.name), str(utt.audio_path), "speaker",
                                per_method=isinstance(utt.speaker, Mapping))
        return self.config.speaker if speaker is None else speaker

    def _placeholders(self, utt: Utterance, wav: Path, out_dir: Path) -> dict[str, str]:
        c = self.config
        speaker = self._speaker(utt)
        return {"python": c.python or "python", "workdir": c.workdir, "wrappers": str(WRAPPERS_DIR),
                "audio": str(wav), "audio_dir": str(wav.parent), "stem": wav.stem, "out_dir": str(out_dir),
                "emotion": utt.emotion, "emotion_arg": c.emotion_args.get(utt.emotion, utt.emotion),
                "seed": str(int(utt.seed)), "speaker": "" if speaker is None else str(speaker),
                "subject": c.subject or "", "device": c.device or "", "num_samples": str(int(c.num_samples))}

    def _format(self, template: str, values: dict[str, str], key: str) -> str:
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError) as e:
            raise InputError(self.config.source, f"methods.{self.name}.{key}", f"has an unknown placeholder ({e})",
                             f"use {{{'}, {'.join(values)}}}") from None

    def _run_once(self, utt: Utterance, audio: Audio, stem: str, work: Path) -> tuple[MotionClip, Path, list[str]]:
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
        started = time.time()
        try:
            proc = subprocess.run(argv, cwd=c.workdir, env=env, capture_output=True, text=True, timeout=c.timeout_s)
        except FileNotFoundError:
            raise InputError(c.source, f"methods.{c.name}.command", f"runs '{argv[0]}', which was not found",
                             "fix the command or the python path") from None
        except subprocess.TimeoutExpired:
            raise InputError(c.source, f"methods.{c.name}.timeout_s", f"{c.name} ran longer than {c.timeout_s:g} s",
                             "raise timeout_s or check the installation") from None
        lines = (proc.stderr or proc.stdout or "").strip().splitlines()
        notes = [ln[len(WARNING_PREFIX):].strip() for ln in (proc.stderr or "").splitlines()
                 if ln.startswith(WARNING_PREFIX)]
        last = next((ln for ln in reversed(lines) if not ln.startswith(WARNING_PREFIX)), "(no output)").strip()
        pattern = self._format(c.output, values, "output")
        if not Path(pattern).is_absolute():
            pattern = str(Path(c.workdir) / pattern)
        found = [Path(p) for p in glob.glob(pattern)]
        fresh = [p for p in found if p.stat().st_mtime >= started - 1.0]
        if proc.returncode != 0:
            if not (c.output_survives_crash and fresh):
                raise InputError(c.source, f"methods.{c.name}.command", f"exited with code {proc.returncode}: {last}",
                                 f"run it by hand in {c.workdir} to see the full error")
            notes.append(f"{c.name} exited with code {proc.returncode} after writing its output ({last}); "
                         "the output was used (its rendering step failed)")
        if not found:
            raise InputError(c.source, f"methods.{c.name}.output", f"matched no file ('{pattern}') after the run",
                             f"check where {c.name} writes its result and set output accordingly")
        if not fresh:
            raise InputError(c.source, f"methods.{c.name}.output", f"matched only files older than this run ('{pattern}')",
                             f"{c.name} did not write a new result: run it by hand in {c.workdir}")
        path = max(fresh, key=lambda p: p.stat().st_mtime)
        clip = self._import(path, out_dir, stem, notes)
        return clip, path, notes

    def _import(self, path: Path, out_dir: Path, stem: str, notes: list[str]) -> MotionClip:
        c = self.config
        if c.format == "flame_vertices":
            return self._import_flame(path, out_dir / f"{stem}_template.npy", notes)
        from vr_study.formats import read_motion

        opts: dict[str, Any] = {}
        if c.format == "talkshow":
            # the sample count is read from the file (TalkSHOW stacks the samples along the rows);
            # see _talkshow_samples for a file that cannot tell
            opts.update(num_samples=None, sample=c.sample)
            if c.body_model:
                from vr_study.body import load_body_model

                opts["hands_mean"] = load_body_model(c.body_model).hands_mean
        try:
            clip = read_motion(path, c.format, **opts)
            if c.format == "talkshow":
                clip = self._talkshow_samples(clip, path, opts, notes)
            return clip
        except InputError as e:
            raise InputError(path, e.field, f"({c.name} output) {e.problem}",
                             f"{c.name}'s output is not what was expected: {e.fix}") from None

    def _talkshow_samples(self, clip: MotionClip, path: Path, opts: dict[str, Any], notes: list[str]) -> MotionClip:
        """Check the sample count found in TalkSHOW's file against the ``--num_sample`` it was run with.

        Found N > 1 (the face repeats in N row blocks): the file is right; a different
        configured count is noted. Found 1 while more were asked for: the face never changes,
        so the file cannot tell; it is read with the configured count (and noted).
        """
        from vr_study.formats import read_motion

        found, asked = int(clip.meta.extra.get("num_samples", 1)), int(self.config.num_samples)
        if found == asked:
            return clip
        if found > 1:
            notes.append(f"talkshow's output holds {found} stacked samples, not the configured num_samples "
                         f"{asked}; the file's count was used")
            return clip
        notes.append(f"talkshow's output does not show its sample count (constant face); read as the "
                     f"configured {asked} samples")
        return read_motion(path, "talkshow", **{**opts, "num_samples": asked})

    def _import_flame(self, path: Path, template_path: Path, notes: list[str]) -> MotionClip:
        """FaceFormer's FLAME vertices -> a clip with SMPL-X jaw + expression (generators.face_fit)."""
        from vr_study.body import load_body_model

        from .face_fit import (computed_correspondence, face_clip, fit_face, flame_frames,
                               load_correspondence)

        c = self.config
        try:
            verts = flame_frames(np.load(path, allow_pickle=False), path)
        except ValueError as e:
            raise InputError(path, None, f"({c.name} output) cannot be read ({e})",
                             f"{c.name}'s output is not what was expected") from None
        template = np.load(template_path).reshape(-1, 3) if template_path.is_file() else None
        if template is None:
            notes.append("no FaceFormer template saved with the result: the first frame was taken as the neutral face")
        body = load_body_model(c.body_model)
        if c.flame_vertex_ids:
            corr = load_correspondence(c.flame_vertex_ids, body)
        else:
            corr = computed_correspondence(body, template if template is not None else verts[0])
            notes.append("FLAME-to-body correspondence computed by nearest vertices (no flame_vertex_ids given): "
                         "approximate; only the body's jaw and expression shapes come through")
        fit = fit_face(verts, body, corr, template)
        notes.append(f"FaceFormer FLAME vertices fitted to jaw + {body.num_expression} expression coefficients: "
                     f"RMS residual {1000 * float(np.mean(fit.rms_residual_m)):.2f} mm "
                     f"(face offsets RMS {1000 * float(np.mean(fit.rms_offset_m)):.2f} mm)")
        clip = face_clip(fit, c.fps)
        clip.meta.extra["face_fit_rms_residual_m"] = float(np.mean(fit.rms_residual_m))
        clip.meta.extra["face_fit_correspondence"] = corr.source
        return clip

    def generate(self, utterance: Utterance) -> MotionClip:
        from .prosody import concat_clips
        from .speech import load_speech

        c = self.config
        check_emotion(self, utterance.emotion, str(utterance.audio_path))
        self.check_installation()
        speech = load_speech(utterance.audio_path, c.sample_rate_hz)
        audio = speech.audio
        # a plain, unique name: TalkSHOW cuts the name at the first dot (demo.py:243-244) and
        # writes into a shared folder of the checkout, so runs must not reuse a name
        base = re.sub(r"[^A-Za-z0-9_-]", "_", Path(utterance.audio_path).stem)[:40] or "speech"
        stem = f"{base}-{secrets.token_hex(3)}"
        n = audio.samples.shape[0]
        step = int(c.max_chunk_s * c.sample_rate_hz) if c.max_chunk_s else n
        pieces, outputs, notes = [], [], list(speech.notes)
        with tempfile.TemporaryDirectory(prefix=f"vr-study-{c.name}-") as tmp:
            for k, s0 in enumerate(range(0, n, step)):
                part = Audio(audio.samples[s0:s0 + step], c.sample_rate_hz, 1, audio.path)
                clip, out, run_notes = self._run_once(utterance, part, stem if step >= n else f"{stem}_{k:03d}",
                                                      Path(tmp) / f"run{k}")
                clip = self._fit_length(clip.resample(c.fps) if abs(clip.fps - c.fps) > 1e-6 else clip,
                                        part.duration_s, out)
                pieces.append(clip)
                outputs.append(out.name)
                notes.extend(n_ for n_ in run_notes if n_ not in notes)
        clip = concat_clips(pieces) if len(pieces) > 1 else pieces[0]
        cond = self.conditioning
        if not cond.emotion_label:
            notes.append(f"{c.name} has no emotion input: the label '{utterance.emotion}' only names the speech's "
                         "emotion")
        if cond.seed is False and utterance.seed:
            notes.append(f"{c.name} is deterministic: seed {utterance.seed} changes nothing")
        if c.face:
            clip = self._merge_face(clip, utterance)
            notes.append(f"jaw, expression and eyes from '{c.face}'")
            notes.extend(f"{c.face}: {n_}" for n_ in clip.meta.extra.pop("face_notes", []))
        stamp_meta(clip, c.name, utterance, 0.0, notes=notes, outputs=outputs, installation=c.workdir,
                   command=c.command)
        clip.meta.extra.pop("speaker", None)            # the id this method really ran with, if it takes one
        if cond.speaker and self._speaker(utterance) is not None:
            clip.meta.extra["speaker"] = self._speaker(utterance)
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
        """Take jaw, eyes and expression from the configured face method (resampled to this clip's fps)."""
        face_name = self.config.face
        if face_name == self.name:
            raise InputError(self.config.source, f"methods.{self.name}.face", "names the method itself",
                             "name another method (e.g. faceformer or prosody)")
        methods = {}
        try:
            methods, _ = load_methods_config(self._all_methods)
        except InputError:
            pass
        if face_name in methods:
            face_gen = load_runner(face_name, self._all_methods)
        elif face_name in BUILTIN:
            raise InputError(self.config.source, f"methods.{self.name}.face",
                             f"names '{face_name}', which has no entry in the methods config",
                             f"add methods.{face_name} with its workdir and python")
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
        for note in face.meta.extra.get("notes") or []:
            out.meta.extra.setdefault("face_notes", []).append(note)
        return out
