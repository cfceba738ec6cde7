"""``vr-study metrics``: objective motion metrics per clip, as a tidy CSV.

    vr-study metrics CLIPS... [--audio WAV ...] [--reference CLIP] -o metrics.csv
    vr-study metrics --library DIR [CLIP_IDS...] -o metrics.csv [--groups groups.csv]

Columns: clip_id, method, emotion, utterance, seed, fps, duration_s, bc, l1div, jerk_mean,
accel_mean, face_mse, face_lvd (empty where not applicable). ``clip_id`` is the library
id, or the file stem. ``--groups`` adds one row per (method, emotion, utterance) with the
diversity across its samples (seeds).
"""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("metrics", help="objective motion metrics (beat consistency, diversity, jerk, face error) as CSV")
    p.add_argument("clips", nargs="*", help="motion files, or clip ids of --library (default: all of it)")
    p.add_argument("--library", help="stimulus library folder (clips and their audio come from its manifest)")
    p.add_argument("--audio", nargs="+", help="speech wav: one for all clips, or one per clip "
                                              "(default: the audio recorded with each clip)")
    p.add_argument("--reference", help="reference clip for face MSE/LVD (e.g. the reconstruction)")
    p.add_argument("--sigma", type=float, default=0.3, help="BC tolerance sigma in seconds (0.5 for TalkSHOW data)")
    p.add_argument("--skip-s", type=float, default=2.0, help="BC: seconds ignored at each end (default 2)")
    p.add_argument("--body-model", help="SMPL-X model file (default: vr-study's default body)")
    p.add_argument("--groups", help="also write per (method, emotion, utterance) sample diversity here")
    p.add_argument("-o", "--output", required=True, help="output CSV")
    p.set_defaults(func=_run)


def _body(path: str | None):
    """The body model (or None: joints then come from the default skeleton)."""
    from vr_study.errors import InputError

    try:
        from vr_study.body import load_body_model
    except ImportError:
        if path:
            raise InputError(path, None, "cannot be loaded: this vr-study has no body-model support",
                             "update vr-study") from None
        return None
    if path:
        return load_body_model(path)
    try:
        return load_body_model()
    except InputError as e:  # no default body built yet: joints from the default skeleton
        print(f"note: body model unavailable ({e}); joints from the default skeleton", file=sys.stderr)
        return None


def _joints(clip, body):
    from vr_study.clip_checks import joint_positions

    return body.pose_clip(clip).joints if body is not None else joint_positions(clip)


def _face_vertices(clip, body):
    """Head vertices (T, V_head, 3) posed with jaw + expression only (the rest at zero)."""
    import numpy as np

    face = clip.copy()
    for name in ("global_orient", "body_pose", "leye_pose", "reye_pose", "left_hand_pose", "right_hand_pose",
                 "transl"):
        setattr(face, name, np.zeros_like(getattr(face, name)))
    head = body.regions["head"] if hasattr(body, "regions") else slice(None)
    return body.pose_clip(face).vertices[:, head]


def _run(args) -> int:
    import csv
    from pathlib import Path

    import numpy as np

    from analysis import motion_metrics as mm
    from vr_study.atomic import atomic_path
    from vr_study.audio import read_audio
    from vr_study.errors import InputError
    from vr_study.formats import read_motion

    items = []  # (clip_id, clip, audio path or None)
    if args.library:
        from vr_study.library import StimulusLibrary

        lib = StimulusLibrary.open(args.library)
        for cid in args.clips or lib.ids():
            items.append((cid, lib.read_clip(cid), lib.audio_of(cid)))
    else:
        if not args.clips:
            raise InputError(None, "CLIPS", "are missing", "give motion files or --library DIR")
        for f in args.clips:
            clip = read_motion(f)
            audio = clip.meta.audio_path
            if audio and not Path(audio).is_absolute():
                audio = str(Path(f).parent / audio)
            items.append((Path(f).stem, clip, audio))
    if args.audio:
        if len(args.audio) not in (1, len(items)):
            raise InputError(None, "--audio", f"gives {len(args.audio)} files for {len(items)} clips",
                             "give one wav for all clips or one per clip")
        wavs = args.audio * len(items) if len(args.audio) == 1 else args.audio
        items = [(cid, clip, w) for (cid, clip, _), w in zip(items, wavs)]

    body = _body(args.body_model)
    ref_vertices = None
    if args.reference:
        if body is None:
            raise InputError(args.reference, None, "needs a body model to pose face vertices",
                             "install the body model (vr-study body) or drop --reference")
        ref_vertices = _face_vertices(read_motion(args.reference), body)

    from tqdm import tqdm

    rows, joints_by_group = [], {}
    onset_cache = {}
    for cid, clip, audio in tqdm(items, desc="metrics", unit="clip", disable=len(items) < 3):
        joints = _joints(clip, body)
        bc = float("nan")
        if audio:
            if not Path(audio).is_file():
                raise InputError(audio, None, f"(audio of {cid}) does not exist", "pass --audio WAV")
            if audio not in onset_cache:
                a = read_audio(audio)
                onset_cache[audio] = mm.audio_onsets_s(a.samples, a.sample_rate_hz)
            onsets = onset_cache[audio] - clip.meta.audio_offset_s
            bc = mm.beat_consistency(joints, clip.fps, onsets, sigma_s=args.sigma, skip_s=args.skip_s)
        fmse = flvd = float("nan")
        if ref_vertices is not None:
            v = _face_vertices(clip, body)
            fmse, flvd = mm.face_mse(v, ref_vertices), mm.face_lvd(v, ref_vertices)
        m = clip.meta
        rows.append({"clip_id": cid, "method": m.method, "emotion": m.emotion or "", "utterance": m.utterance or "",
                     "seed": "" if m.seed is None else m.seed, "fps": clip.fps,
                     "duration_s": round(clip.duration_s, 4), "bc": bc, "l1div": mm.l1_diversity(joints),
                     "jerk_mean": mm.mean_jerk(joints, clip.fps), "accel_mean": mm.mean_acceleration(joints, clip.fps),
                     "face_mse": fmse, "face_lvd": flvd})
        joints_by_group.setdefault((m.method, m.emotion or "", m.utterance or cid), []).append(joints)

    def cell(v):
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.6g}"
        return v

    with atomic_path(args.output) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(mm.CSV_COLUMNS))
            w.writeheader()
            for r in rows:
                w.writerow({k: cell(v) for k, v in r.items()})
    if args.groups:
        with atomic_path(args.groups) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["method", "emotion", "utterance", "n_samples", "sample_div_m"])
                for (method, emo, utt), js in sorted(joints_by_group.items()):
                    w.writerow([method, emo, utt, len(js), cell(mm.sample_diversity(js))])
    print(f"wrote {args.output}: {len(rows)} clips" + (f"; {args.groups}" if args.groups else ""),
          file=sys.stdout)
    return 0
