"""``vr-study generate``: motion from speech, one clip or a whole stimulus library.

    vr-study generate METHOD --audio WAV --emotion happy|neutral [--seed N] [--transcript TEXT] -o CLIP.npz
    vr-study generate batch UTTERANCES.(yaml|csv) --methods M.. --emotions E.. --seeds N.. -o LIBRARY_DIR

METHOD: ``prosody`` (built in), ``emage``/``talkshow``/``amuse``/``faceformer`` (need
--methods-config), or a lab's own class ``package.module:ClassName``. Utterance lists give
one wav per emotion (``wav: {happy: x_happy.wav, neutral: x_neutral.wav}``); batch refuses
labels a method ignores (docs/generators.md).
"""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate", help="generate motion from speech (one clip, or `batch` to fill a stimulus library)",
        description="vr-study generate METHOD --audio WAV --emotion E [--seed N] -o CLIP.npz\n"
                    "vr-study generate batch UTTERANCES.yaml --methods M.. --emotions E.. --seeds N.. -o LIBRARY",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method", help="prosody | emage | talkshow | amuse | faceformer | package.module:ClassName | batch")
    p.add_argument("utterances", nargs="?", help="batch only: utterance list (.yaml or .csv with id, wav, text)")
    p.add_argument("-o", "--output", required=True, help="clip .npz (single) or library folder (batch)")
    p.add_argument("--audio", help="speech wav (single clip)")
    p.add_argument("--emotion", help="emotion label (single clip): happy or neutral")
    p.add_argument("--seed", type=int, default=0, help="random seed: different seeds, different motion (default 0)")
    p.add_argument("--transcript", help="the words spoken (stored with the clip)")
    p.add_argument("--speaker", help="speaker/style id for methods that take one (TalkSHOW 0..3)")
    p.add_argument("--utterance-id", help="utterance id stored with the clip (default: the wav's file stem)")
    p.add_argument("--methods", nargs="+", help="batch: methods to run")
    p.add_argument("--emotions", nargs="+", default=["happy", "neutral"], help="batch: emotions (default happy neutral)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="batch: seeds (default 0)")
    p.add_argument("--methods-config", help="YAML describing the external methods' installations "
                                            "(or set VR_STUDY_METHODS_CONFIG)")
    p.add_argument("--fps", type=float, default=30.0, help="prosody: output frame rate in Hz (default 30)")
    p.add_argument("--allow-clipped", action="store_true", help="use clipped audio anyway")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _options(args, method: str) -> dict:
    from generators.registry import EXTERNAL_METHODS

    if method == "prosody":
        return {"fps": args.fps, "allow_clipped": args.allow_clipped}
    if method in EXTERNAL_METHODS:
        return {"config": args.methods_config}
    return {}


def _run(args) -> int:
    from vr_study.errors import InputError

    if args.method == "batch":
        return _batch(args)
    if args.utterances:
        raise InputError(None, "arguments", f"unexpected '{args.utterances}' after the method",
                         "give the speech with --audio (or use `vr-study generate batch LIST`)")
    if not args.audio:
        raise InputError(None, "--audio", "is missing", "give the speech wav with --audio WAV")
    if not args.emotion:
        raise InputError(None, "--emotion", "is missing", "give --emotion happy or --emotion neutral")
    if not args.output.endswith(".npz"):
        raise InputError(args.output, None, "does not end in .npz", "name the output file *.npz")
    from generators.base import Utterance
    from generators.registry import get_generator
    from vr_study.formats import write_motion

    gen = get_generator(args.method, **_options(args, args.method))
    utt = Utterance(args.audio, transcript=args.transcript, emotion=args.emotion, speaker=args.speaker,
                    seed=args.seed, id=args.utterance_id)
    clip = gen.generate(utt)
    for note in clip.meta.extra.get("notes") or []:
        print(f"note: {args.audio}: {note}", file=sys.stderr)
    for warning in _orientation_warnings(clip):
        print(f"warning: {args.audio}: {warning}", file=sys.stderr)
    write_motion(clip, args.output)
    print(f"wrote {args.output}: {args.method}, {args.emotion}, seed {args.seed}, "
          f"{clip.num_frames} frames at {clip.fps:g} Hz ({clip.duration_s:.2f} s)")
    return 0


def _batch(args) -> int:
    from vr_study.errors import InputError

    if not args.utterances:
        raise InputError(None, "UTTERANCES", "is missing", "give an utterance list: vr-study generate batch LIST.yaml")
    from vr_study.study.agent_speech import is_study_spec, spec_batch_inputs

    if is_study_spec(args.utterances):  # the spec's agent turns are the speech: TTS first, then each method
        args.utterances, args.methods, args.emotions = spec_batch_inputs(args.utterances, args.methods, args.emotions)
        print(f"agent turns synthesised: {args.utterances}")
    if not args.methods:
        raise InputError(None, "--methods", "is missing", "name the methods to run, e.g. --methods prosody")
    from generators.batch import fill_library, read_utterance_list

    utts = read_utterance_list(args.utterances)
    opts = {m: {k: v for k, v in _options(args, m).items() if k != "config"} for m in args.methods}
    result = fill_library(args.output, utts, args.methods, args.emotions, args.seeds,
                          methods_config=args.methods_config, progress=not args.no_progress,
                          generator_options=opts, check_clip=_orientation_warnings)
    for cid, notes in result.notes.items():
        for note in notes:
            print(f"note: {cid}: {note}", file=sys.stderr)
    for cid, warnings in result.warnings.items():
        for warning in warnings:
            print(f"warning: {cid}: {warning}", file=sys.stderr)
    print(f"library {args.output}: {len(result.generated)} generated, {len(result.skipped)} already there")
    return 0


def _orientation_warnings(clip) -> list[str]:
    """Upside-down, lying or facing-away bodies (vr_study.motion.orientation_warnings)."""
    from vr_study import motion

    check = getattr(motion, "orientation_warnings", None)  # provided by the readers' work on vr_study.motion
    return list(check(clip)) if check is not None else []
