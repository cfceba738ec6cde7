"""``vr-study library add|list|verify|preview``: put existing clips into a stimulus library.

Clips made outside ``vr-study generate`` (the reconstruction baseline, an external
method's output, motion capture) enter a library here, with the same manifest, hashes and
copied speech as generated ones.
"""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("library", help="add existing clips to a stimulus library, list and verify it")
    lsub = p.add_subparsers(dest="library_command", metavar="ACTION")

    a = lsub.add_parser("add", help="add motion files (any readable format) to a library")
    a.add_argument("library", help="library folder (created when absent)")
    a.add_argument("clips", nargs="+", help="motion files")
    a.add_argument("--from", dest="fmt", help="input format, when it cannot be detected")
    a.add_argument("--method", help="method label (default: the clip's own, e.g. 'reconstruction')")
    a.add_argument("--emotion", help="emotion label (default: the clip's own)")
    a.add_argument("--utterance", help="utterance id (default: the clip's own, else the audio file's stem)")
    a.add_argument("--seed", type=int, help="seed / take number (default: the clip's own)")
    a.add_argument("--audio", help="speech wav the clip plays with (default: the clip's audio_path)")
    a.add_argument("--fps", type=float, default=30.0, help="resample to this rate in Hz (default 30)")
    a.set_defaults(func=_add)

    ls = lsub.add_parser("list", help="one line per clip")
    ls.add_argument("library")
    ls.set_defaults(func=_list)

    v = lsub.add_parser("verify", help="check every clip and audio file against its sha256 (exit 1 on problems)")
    v.add_argument("library")
    v.set_defaults(func=_verify)

    pv = lsub.add_parser("preview", help="an HTML contact sheet per condition with warnings for bad clips",
                         description="Check every clip (speech length, jerk outliers, root drift, frozen "
                                     "body, orientation, expression range) and write OUT/index.html: one "
                                     "section per method x emotion with face and body stills and loops.")
    pv.add_argument("library")
    pv.add_argument("-o", "--output", required=True, metavar="OUT", help="folder to write (new or empty)")
    pv.add_argument("--size", default="160x160", metavar="WxH", help="still and loop size in pixels (default 160x160)")
    pv.add_argument("--fps", type=float, default=10.0, help="loop frame rate in Hz (default 10)")
    pv.add_argument("--max-seconds", type=float, default=6.0, help="longest loop in seconds (default 6)")
    pv.add_argument("--no-media", action="store_true", help="warnings only: render no stills or loops")
    pv.add_argument("--body-model", metavar="PATH", help="SMPL-X model file; default: the bundled body")
    pv.set_defaults(func=_preview)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _add(args) -> int:
    from pathlib import Path

    from vr_study.errors import InputError
    from vr_study.formats import read_motion
    from vr_study.library import StimulusLibrary
    from vr_study.preview import audio_duration_s

    # read and check everything first: nothing enters the library unless all clips are good
    clips = []
    for path in args.clips:
        clip = read_motion(path, args.fmt)
        if args.fps and abs(clip.fps - args.fps) > 1e-9:
            clip = clip.resample(args.fps)
        m = clip.meta
        m.method = args.method or (m.method if m.method != "unknown" else None) or ""
        if not m.method:
            raise InputError(path, "--method", "is not recorded in the clip", "name the method with --method")
        m.emotion = args.emotion or m.emotion
        m.seed = args.seed if args.seed is not None else m.seed
        m.utterance = args.utterance or m.utterance
        audio = args.audio or m.audio_path
        if audio and not Path(audio).is_absolute() and not Path(audio).is_file():
            audio = str(Path(path).parent / audio)  # stored relative to the clip file
        if audio and not Path(audio).is_file():
            raise InputError(path, "--audio", f"names '{audio}', which does not exist", "give the speech wav")
        clips.append((clip, audio, audio_duration_s(audio), path))
    lib = StimulusLibrary.open(args.library, create=True)
    added = []
    for clip, audio, dur, path in clips:
        e = lib.add_clip(clip, audio)
        print(f"added {e.id}: {e.frames} frames at {e.fps:g} Hz ({e.duration_s:.2f} s)"
              + (f", audio {e.audio}" if e.audio else ""))
        added.append((e.id, clip, dur, path))
    _print_clip_warnings(lib, added)
    return 0


def _print_clip_warnings(lib, added) -> None:
    """``warning: FILE: KIND: ...`` on stderr for each check of vr_study.clip_checks that fails.

    The jerk check compares the added clips with every clip now in the library.
    """
    import sys

    from vr_study.clip_checks import clip_warnings, jerk_outliers, mean_jerk

    jerks = {cid: mean_jerk(clip) for cid, clip, _, _ in added}
    for cid in lib.ids():
        if cid not in jerks and lib.path_of(cid).is_file():
            jerks[cid] = mean_jerk(lib.read_clip(cid, check_hash=False))
    outliers = jerk_outliers(jerks)
    for cid, clip, audio_s, path in added:
        found = clip_warnings(clip, audio_s) + ([outliers[cid]] if cid in outliers else [])
        for w in found:
            print(f"warning: {path}: {w}", file=sys.stderr)


def _preview(args) -> int:
    from vr_study.preview import warnings_of, write_preview
    from vr_study.render.offline import parse_size

    size = parse_size(args.size)
    previews = write_preview(args.library, args.output, size=size, fps=args.fps, max_seconds=args.max_seconds,
                             media=not args.no_media, body_model=args.body_model,
                             progress=lambda cid: print(f"rendering {cid}", flush=True))
    found = list(warnings_of(previews))
    for cid, w in found:
        print(f"warning: {cid}: {w}")
    bad = len({cid for cid, _ in found})
    print(f"wrote {args.output}/index.html: {len(previews)} clips, {bad} with warnings")
    return 0


def _list(args) -> int:
    from vr_study.library import StimulusLibrary

    lib = StimulusLibrary.open(args.library)
    for e in lib:
        print(f"{e.id}\t{e.method}\t{e.emotion}\t{e.utterance}\tseed {e.seed}\t{e.duration_s:.2f} s\t{e.file}")
    print(f"{len(lib)} clips")
    return 0


def _verify(args) -> int:
    from vr_study.library import StimulusLibrary

    lib = StimulusLibrary.open(args.library)
    problems = lib.verify()
    for cid, probs in problems.items():
        for p in probs:
            print(f"{cid}: {p}")
    print(f"{len(lib) - len(problems)} of {len(lib)} clips verified")
    return 1 if problems else 0
