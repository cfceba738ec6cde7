"""`vr-study study ...`, `vr-study session run`, `vr-study export`: studies, sessions, data.

This module wires the core (vr_study.study, vr_study.storage) to the questionnaire layer
(instrument definitions, answer checks, the tablet server).
"""
from __future__ import annotations

import argparse
import csv
import sys
import threading
from pathlib import Path
from typing import Any

from vr_study.cli.tablet import add_https_options
from vr_study.errors import InputError

KEY_HELP = "keys (then Enter): p pause, r resume, a repeat stimulus, s skip step, q abort, redo N, Enter ends a turn"


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``study``, ``session`` and ``export`` subcommands."""
    study = sub.add_parser("study", help="write, check and plan a study spec")
    ssub = study.add_subparsers(dest="study_command", metavar="ACTION")

    p = ssub.add_parser("init", help="write a ready study spec modelled on Chhatre et al. 2025")
    p.add_argument("-o", "--output", default=".", help="folder to write study.yaml into (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite an existing study.yaml")
    p.add_argument("--short", action="store_true",
                   help="a short playback study (methods x 2 emotions, no practice or breaks) for demos")
    p.add_argument("--methods", default="emage,reconstruction",
                   help="with --short: comma-separated method names (default: emage,reconstruction)")
    p.add_argument("--library", default="stimuli", help="stimulus library folder, relative to the spec (default: stimuli)")
    p.set_defaults(func=cmd_init)

    p = ssub.add_parser("validate", help="check a study spec (fields, lines, stimulus library, instruments)")
    p.add_argument("spec", help="study .yaml file")
    p.add_argument("--no-library", action="store_true", help="do not check the stimulus library")
    p.set_defaults(func=cmd_validate)

    p = ssub.add_parser("plan", help="print and export every participant's trial order")
    p.add_argument("spec", help="study .yaml file")
    p.add_argument("--participants", type=int, default=None, help="number of participants (default: the spec's)")
    p.add_argument("-o", "--output", default=None, help="write the plan as CSV here")
    p.add_argument("--no-library", action="store_true", help="plan without clip ids (library not needed)")
    p.set_defaults(func=cmd_plan)

    session = sub.add_parser("session", help="run a participant's session")
    sesub = session.add_subparsers(dest="session_command", metavar="ACTION")
    p = sesub.add_parser("run", help="run (or --resume) one participant through the study",
                         description="Runs the participant's plan: stimulus, interaction, questionnaires on "
                                     "the tablet. " + KEY_HELP)
    p.add_argument("spec", help="study .yaml file")
    p.add_argument("--participant", required=True, help="pseudonymous id, e.g. P07")
    p.add_argument("--resume", action="store_true", help="continue the participant's session after a crash")
    p.add_argument("--redo", type=int, action="append", default=[], metavar="TRIAL",
                   help="continue the participant's session and ask trial TRIAL again (earlier answers stay "
                        "stored); repeatable")
    p.add_argument("--restart", action="store_true",
                   help="start the participant over in a new session; the earlier one is kept, marked superseded "
                        "and left out of the export")
    p.add_argument("--pilot", action="store_true",
                   help="a pilot session: recorded as usual, left out of export and analysis unless "
                        "--include-pilots")
    p.add_argument("--simulate", action="store_true", help="no renderer: wait each clip's duration")
    p.add_argument("--speed", type=float, default=1.0, help="with --simulate: divide waits by this factor")
    p.add_argument("--stream", default=None, metavar="ENDPOINT",
                   help="pose server control endpoint (e.g. tcp://127.0.0.1:5556); default with no --simulate")
    p.add_argument("--server-key", help="the pose server's CURVE public key file (server.key from `stream keys`)")
    p.add_argument("--client-key", help="this session runner's CURVE secret key file (session.key_secret from "
                                        "`stream keys`), allow-listed on the pose server")
    p.add_argument("--scripted-answers", default=None, metavar="FILE|random",
                   help="answer every questionnaire automatically (YAML: instrument -> item -> value; "
                        "'$emotion' answers with the trial's emotion; missing items get valid values)")
    p.add_argument("--turn", choices=["vad", "key", "timed"], default=None,
                   help="how the participant's turn ends (default: the spec's; timed with --scripted-answers)")
    p.add_argument("--db", default=None, help="database path or SQLAlchemy URL (default: the spec's storage)")
    p.add_argument("--tablet-host", default="127.0.0.1", help="tablet server address (0.0.0.0 for Wi-Fi tablets)")
    p.add_argument("--tablet-port", type=int, default=8765, help="tablet server port (0 = any free port)")
    p.add_argument("--no-tablet", action="store_true", help="do not start the tablet server (run it separately)")
    add_https_options(p)
    p.add_argument("--no-lsl", action="store_true", help="do not open an LSL marker stream")
    p.set_defaults(func=cmd_session_run)

    p = sub.add_parser("export", help="export a study's responses as tidy CSV with a codebook")
    p.add_argument("spec", help="study .yaml file")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--db", default=None, help="database path or SQLAlchemy URL (default: the spec's storage)")
    p.add_argument("--include-pilots", action="store_true", help="also export pilot sessions (session run --pilot)")
    p.add_argument("--exclude", default=None, metavar="FILE",
                   help="manual exclusions: CSV with participant_id,reason (added to the spec's exclude rules)")
    p.set_defaults(func=cmd_export)

    p = ssub.add_parser("preregister", help="write a pre-registration draft: design, N, orders, stimuli, "
                                            "exclusions, planned analyses")
    p.add_argument("spec", help="study .yaml file")
    p.add_argument("-o", "--output", required=True, help="Markdown file to write (e.g. prereg.md)")
    p.add_argument("--no-library", action="store_true", help="describe the stimuli without reading the library")
    p.set_defaults(func=cmd_preregister)


# -- study ----------------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    from vr_study.atomic import atomic_write_text

    out = Path(args.output) / "study.yaml"
    if out.exists() and not args.force:
        raise InputError(out, None, "already exists", "pass --force to overwrite it or choose another -o folder")
    folder = Path(__file__).resolve().parent.parent / "study"
    if args.short:
        from vr_study.study.counterbalancing import n_rows

        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        if not methods:
            raise InputError(None, "--methods", "is empty", "give method names separated by commas")
        text = (folder / "template_short.yaml").read_text(encoding="utf-8").format(
            n_methods=len(methods), methods=", ".join(methods), library=args.library,
            n_rows=n_rows("williams", 2 * len(methods)))
    else:
        text = (folder / "template_study.yaml").read_text(encoding="utf-8")
        text = text.replace("  library: stimuli ", f"  library: {args.library} ")
    atomic_write_text(out, text)
    print(f"wrote {out}")
    lib = Path(args.output) / args.library
    source = out if not args.short else "UTTERANCES.yaml"  # interaction: the agent's own turns are the speech
    print(f"next: generate the stimuli into {lib} (vr-study generate batch {source} --methods ... -o {lib}), "
          f"then vr-study study validate {out}")
    return 0


def _instruments(spec) -> dict[str, Any]:
    from questionnaires.instruments import load_instruments

    insts = load_instruments()
    if spec.questionnaires.instruments_dir:
        insts.update(load_instruments(spec.resolve(spec.questionnaires.instruments_dir)))
    return insts


def spec_problems(spec, insts: dict[str, Any], check_library: bool = True) -> list[str]:
    """Every reference in the spec that does not resolve, as ``file:line: field: problem; fix``.

    Instruments exist; attention-check answers are items of the check's instrument and lie
    on its scale (or among its options); the levels of a factor that a choice item scores
    against (emotion recognition's ``correct_from: emotion``) are among its options; no
    instrument answered in the headset asks for required typed text; and, with
    ``check_library``, every cell, practice and agent-turn clip is in the library
    (:func:`vr_study.study.stimuli.library_problems`).
    """
    from questionnaires.instruments import ChoiceItem

    from vr_study.study.spec import _field, spec_line
    from vr_study.study.stimuli import _by_cell, library_problems, read_library

    out: list[tuple[tuple, str]] = []
    q = spec.questionnaires
    lists = [(("questionnaires", "after_trial"), q.after_trial), (("questionnaires", "after_block"), q.after_block),
             (("questionnaires", "after_session"), q.after_session),
             (("trials", "practice", "questionnaires"), spec.trials.practice.questionnaires)]
    for loc, ids in lists:
        for k, inst in enumerate(ids):
            if inst not in insts:
                out.append((loc + (k,), f"instrument '{inst}' is not defined; known: {', '.join(sorted(insts))}"))
    ac = spec.trials.attention_checks
    if ac.after_trials:
        inst = insts.get(ac.instrument)
        if inst is None:
            out.append((("trials", "attention_checks", "instrument"),
                        f"instrument '{ac.instrument}' is not defined; known: {', '.join(sorted(insts))}"))
        elif not ac.expect:
            out.append((("trials", "attention_checks", "expect"), "is empty: the check cannot be scored pass/fail; "
                        "give the item and the answer the instruction asks for, e.g. {arousal_realism: 7}"))
        else:
            for item, msg in inst.expected_problems(ac.expect):
                out.append((("trials", "attention_checks", "expect", item), msg))
    out += _headset_text_problems(spec, insts)
    scored = set(q.after_trial) | set(spec.trials.practice.questionnaires)
    for inst_id in sorted(scored):
        inst = insts.get(inst_id)
        for it in (inst.items if inst else ()):
            if isinstance(it, ChoiceItem) and it.correct_from in spec.factors:
                for k, lv in enumerate(spec.factors[it.correct_from]):
                    if lv not in it.options:
                        out.append(((("factors", it.correct_from, k)),
                                    f"{it.correct_from} '{lv}' is not an option of {inst_id}.{it.id} "
                                    f"({', '.join(it.options)}), "
                                    "so no answer could be scored correct; use one of them or give the instrument "
                                    "that option"))
    problems = [f"{spec.source}:{spec_line(spec, loc)}: {_field(loc)}: {msg}" for loc, msg in out]
    if check_library:
        try:
            by_cell = _by_cell(spec, read_library(spec.library_dir))
        except InputError as e:
            problems.append(f"{spec.source}:{spec_line(spec, ('stimuli', 'library'))}: stimuli.library: {e}")
        else:
            problems += [f"{spec.source}:{spec_line(spec, loc)}: {_field(loc)}: {msg}; {fix}"
                         for loc, msg, fix in library_problems(spec, by_cell)]
    return problems


def _headset_text_problems(spec, insts: dict[str, Any]) -> list[tuple[tuple, str]]:
    """Instruments routed to the headset that ask for required free text (no keyboard in VR).

    The panel would stop at such a screen mid-session; the spec is refused before the session
    instead, naming the routing field (``questionnaires.mode`` or ``questionnaires.headset[i]``),
    the instrument and item, and the fix. Optional free-text items are fine: the panel leaves
    them out (stored as unanswered).
    """
    from questionnaires.panel_layout import panel_supported

    q = spec.questionnaires
    out: list[tuple[tuple, str]] = []
    for inst_id in spec.instrument_ids():
        inst = insts.get(inst_id)
        if inst is None or q.channel(inst_id) != "headset":
            continue
        typed = [it.id for it in inst.items if not panel_supported(it) and it.required]
        if not typed:
            continue
        if inst_id in q.headset:
            loc, fix = ("questionnaires", "headset", q.headset.index(inst_id)), \
                "answer it on the tablet: remove it from questionnaires.headset"
        else:
            loc, fix = ("questionnaires", "mode"), \
                f"route it to the tablet: questionnaires.tablet: [{', '.join([*q.tablet, inst_id])}]"
        items = ", ".join(f"'{i}'" for i in typed)
        which = f"items {items} ask" if len(typed) > 1 else f"item {items} asks"
        out.append((loc, f"instrument '{inst_id}' is answered in the headset but its {which} for required typed "
                         f"text, which cannot be typed in VR; {fix}"))
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    from vr_study.study.spec import SpecError, load_spec
    from vr_study.study.stimuli import clips_by_cell

    try:
        spec = load_spec(args.spec)
    except SpecError as e:
        for p in e.problems:
            print(f"error: {p}", file=sys.stderr)
        return 2
    problems = spec_problems(spec, _instruments(spec), check_library=not args.no_library)
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        return 2
    n_clips = 0
    if not args.no_library:
        n_clips = sum(len(v) for v in clips_by_cell(spec).values())
    from vr_study.study.plan import build_plan, design_size

    steps = build_plan(spec, "P1", None).steps
    size = design_size(spec)
    print(f"{args.spec}: ok: study '{spec.study.id}', {len(spec.cells)} cells "
          f"({' x '.join(f'{k}[{len(v)}]' for k, v in spec.factors.items())}), {len(steps)} steps per participant"
          + (f", {n_clips} clips" if not args.no_library else ", library not checked"))
    if spec.study.participants % size:
        print(f"warning: {spec.study.participants} participants is not a multiple of the design's {size} rows; "
              "the order will not be completely balanced", file=sys.stderr)
    ac = spec.trials.attention_checks
    if ac.after_trials:
        print(f"attention checks after main trials {', '.join(map(str, ac.after_trials))}: \"{ac.instruction}\" "
              f"(expect {', '.join(f'{k}={v}' for k, v in ac.expect.items())})")
    return 0


def carryover_reasons(spec, n: int, size: int, seqs: list[list[str]]) -> list[str]:
    """Why the orders of ``seqs`` are not first-order carry-over balanced (empty when they are)."""
    from vr_study.study import counterbalancing as cb

    c = spec.counterbalancing
    reasons = []
    if n % size:
        reasons.append(f"{n} participants are not a multiple of the design's {size} rows (incomplete replication)")
    if spec.trials.repetitions > 1:
        reasons.append(f"{spec.trials.repetitions} repetitions: the last trial of one repetition precedes the first "
                       "of the next")
    if c.block_by:
        k = list(spec.factors).index(c.block_by)
        by_block: dict[str, list[list[str]]] = {}
        for seq in seqs:  # split each participant's sequence where the blocked level changes
            cur: list[str] = []
            for x in seq + [None]:
                if cur and (x is None or x.split("/")[k] != cur[-1].split("/")[k]):
                    by_block.setdefault(cur[0].split("/")[k], []).append(cur)
                    cur = []
                if x is not None:
                    cur.append(x)
        inner_ok = True
        for rows in by_block.values():
            labels = sorted({x for r in rows for x in r})
            inner_ok &= cb.is_carryover_balanced([[labels.index(x) for x in r] for r in rows])
        reasons.append(f"blocked by {c.block_by}: conditions of different blocks are adjacent only at the block "
                       f"boundary, so pairs across blocks cannot occur equally often (within blocks: "
                       f"{'balanced' if inner_ok else 'not balanced'} with design {c.design})")
    elif c.design == "latin":
        reasons.append("a cyclic Latin square balances positions only; design: williams also balances carry-over")
    elif c.design == "random":
        reasons.append("random orders are balanced only in expectation")
    elif c.design == "fixed":
        reasons.append("everyone gets the same order")
    if not reasons:
        reasons.append("the design's rows do not give every ordered pair of conditions equally often")
    return reasons


def plan_report(spec, n: int, library) -> tuple[list, list[str], list[str]]:
    """Plans of ``n`` participants, one order line per participant, and the balance summary lines."""
    from vr_study.storage import canonical_participant_id
    from vr_study.study import counterbalancing as cb
    from vr_study.study.allocation import balance
    from vr_study.study.plan import build_plan, design_size

    plans = [build_plan(spec, canonical_participant_id(f"P{i}", spec.study.participant_pattern), library,
                        arrival_index=i - 1) for i in range(1, n + 1)]
    size = design_size(spec)
    main_kinds = ("playback", "interaction")
    mains = [[t for t in p.steps if t.trial_kind in main_kinds] for p in plans]
    seqs = [["/".join(t.conditions.values()) for t in m] for m in mains]
    order_lines = [f"{p.participant_id} row {p.plan_row}: " + " ".join(
        "/".join(t.conditions.values()) + (f":{t.utterance}" if t.utterance else "") for t in m)
        for p, m in zip(plans, mains)]
    complete = n % size == 0
    labels = sorted({x for s in seqs for x in s})
    idx = {lab: i for i, lab in enumerate(labels)}
    rows = [[idx[x] for x in s] for s in seqs]
    pos_ok = cb.is_position_balanced(rows) if rows and all(len(r) == len(labels) for r in rows) else False
    carry_ok = cb.is_carryover_balanced(rows) if pos_ok else False
    why = "" if carry_ok else " (" + "; ".join(carryover_reasons(spec, n, size, seqs)) + ")"
    summary = [f"design: {spec.counterbalancing.design}"
               + (f" within {spec.counterbalancing.block_by} blocks ({spec.counterbalancing.block_design})"
                  if spec.counterbalancing.block_by else "")
               + f", {size} rows; {n} participants: {'complete' if complete else 'INCOMPLETE'} replication"
               + f"; each condition equally often per position: {'yes' if pos_ok else 'no'}"
               + f"; carry-over balanced: {'yes' if carry_ok else 'no'}{why}"]
    if library is None:
        summary.append("utterances: not allocated (--no-library)")
    elif spec.trials.kind == "interaction" and spec.interaction.turns:
        summary.append("utterances: every interaction trial plays the agent turns "
                       f"({', '.join(u for _, u, _ in spec.interaction.agent_turn_ids())}), each with the clip "
                       "generated from its own speech")
    elif spec.stimuli.selection == "balanced":
        summary.append(balance([[(t.conditions, t.utterance or "") for t in m] for m in mains],
                               spec.factors).summary())
    else:
        summary.append(f"utterances: selection '{spec.stimuli.selection}' (not balanced against conditions; "
                       "selection: balanced does that)")
    practice = sorted({t.clip_id for p in plans for t in p.steps if t.trial_kind == "practice" and t.clip_id})
    if practice:
        summary.append(f"practice clips (never in main trials): {', '.join(practice)}")
    return plans, order_lines, summary


def cmd_plan(args: argparse.Namespace) -> int:
    from vr_study.atomic import atomic_write_text
    from vr_study.study.plan import plans_csv
    from vr_study.study.spec import load_spec
    from vr_study.study.stimuli import clips_by_cell

    spec = load_spec(args.spec)
    n = args.participants or spec.study.participants
    if n < 1:
        raise InputError(None, "--participants", f"is {n}", "give at least 1")
    library = None if args.no_library else clips_by_cell(spec)
    plans, order_lines, summary = plan_report(spec, n, library)
    print("\n".join(order_lines + summary))
    if args.output:
        atomic_write_text(args.output, plans_csv(spec, plans))
        print(f"wrote {args.output}")
    return 0


def cmd_preregister(args: argparse.Namespace) -> int:
    """Write a pre-registration draft (Markdown) from the spec: every number computed, not typed."""
    from vr_study.atomic import atomic_write_text
    from vr_study.study.preregistration import preregistration_markdown
    from vr_study.study.spec import SpecError, load_spec
    from vr_study.study.stimuli import clips_by_cell

    try:
        spec = load_spec(args.spec)
    except SpecError as e:
        for p in e.problems:
            print(f"error: {p}", file=sys.stderr)
        return 2
    insts = _instruments(spec)
    problems = spec_problems(spec, insts, check_library=not args.no_library)
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        return 2
    library = None if args.no_library else clips_by_cell(spec)
    _plans, _orders, summary = plan_report(spec, spec.study.participants, library)
    text = preregistration_markdown(spec, summary, {k: (v.title, v.source, [it.id for it in v.items])
                                                    for k, v in insts.items()})
    atomic_write_text(args.output, text)
    print(f"wrote {args.output}")
    return 0


# -- session ------------------------------------------------------------------------------------------
def _scripted_answers(path: str, spec, db) -> Any:
    """answers_for(instrument_id, context, item ids) -> valid answers, from a YAML file or 'random'."""
    import random

    import yaml

    from questionnaires.instruments import ChoiceItem, TextItem
    from questionnaires.scoring import AnswerError, validate_answers

    script: dict[str, dict[str, Any]] = {}
    if path != "random":
        try:
            script = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise InputError(path, None, "does not exist", "give a YAML file or 'random'") from None
        except yaml.YAMLError as e:
            raise InputError(path, None, f"is not valid YAML ({e})".splitlines()[0], "fix its syntax") from None
        if not isinstance(script, dict) or not all(isinstance(v, dict) for v in script.values()):
            raise InputError(path, None, "must map instrument ids to {item: value}", "see docs/study.md")
    insts = _instruments(spec)
    unknown = [k for k in script if k not in insts]
    if unknown:
        raise InputError(path, None, f"names unknown instruments {unknown}", f"known: {', '.join(sorted(insts))}")
    rng = random.Random(spec.study.seed)

    def answers_for(instrument_id: str, context: dict[str, Any]) -> dict[str, Any]:
        inst = insts[instrument_id]
        given = script.get(instrument_id, {})
        out: dict[str, Any] = {}
        for item in inst.items:
            if item.id in given:
                v = given[item.id]
                if isinstance(v, str) and v.startswith("$"):
                    v = context.get(v[1:])
            elif isinstance(item, ChoiceItem):
                v = context.get(item.correct_from) if item.correct_from in context else item.options[0]
            elif isinstance(item, TextItem):
                v = "scripted answer"
            else:
                v = rng.randint(item.min, item.max)
            if isinstance(context.get("expect"), dict) and item.id in context["expect"]:
                v = context["expect"][item.id]
            out[item.id] = v
        try:
            return validate_answers(inst, out)
        except AnswerError as e:
            raise InputError(path, instrument_id, str(e), "fix the scripted answers") from None

    # fail early on a bad script
    for inst_id in script:
        answers_for(inst_id, {"emotion": next(iter(spec.factors.get("emotion", ["happy"])))})
    return answers_for


def cmd_session_run(args: argparse.Namespace) -> int:
    from vr_study.storage import StudyDatabase
    from vr_study.study.drivers import SimulatedDriver, StreamDriver
    from vr_study.study.markers import LslMarkers, NoMarkers
    from vr_study.study.session import run_session
    from vr_study.study.spec import load_spec
    from vr_study.study.tts import make_backend
    from vr_study.study.turns import KeyTurn, TimedTurn, VadTurn

    spec = load_spec(args.spec)
    problems = spec_problems(spec, _instruments(spec), check_library=False)  # the library: prepare_session
    if problems:
        for p in problems[1:]:
            print(f"error: {p}", file=sys.stderr)
        raise InputError(None, None, problems[0], "fix the spec (vr-study study validate lists every problem)")
    if args.speed <= 0:
        raise InputError(None, "--speed", f"is {args.speed}", "give a positive factor")
    if not args.no_tablet:
        from vr_study.cli._net import check_listen
        check_listen(args.tablet_host, args.tablet_port, "--tablet-host/--tablet-port")
    certificate = None
    if not args.no_tablet:
        from vr_study.cli.tablet import tablet_certificate

        certificate = tablet_certificate(getattr(args, "https", False), getattr(args, "cert_dir", None),
                                         args.tablet_host, str(args.db or spec.database))
    db = StudyDatabase(args.db or spec.database, participant_pattern=spec.study.participant_pattern)
    answers_for = _scripted_answers(args.scripted_answers, spec, db) if args.scripted_answers else None
    speed = args.speed if args.simulate else 1.0
    if args.simulate:
        driver = SimulatedDriver(speed=speed, default_duration_s=spec.trials.default_clip_duration_s)
    else:
        from vr_study.cli.stream import _client_keys, _server_key

        try:
            driver = StreamDriver(args.stream or "tcp://127.0.0.1:5556", server_public_key=_server_key(args.server_key),
                                  client_keys=_client_keys(args))
        except InputError as e:
            raise InputError(args.stream, "--stream", e.problem, "give e.g. tcp://127.0.0.1:5556") from None
    markers = NoMarkers() if args.no_lsl else LslMarkers(f"vr-study-{spec.study.id}", f"vr-study:{spec.study.id}")
    tts = make_backend(spec.interaction.tts)
    key_event = threading.Event()
    mode = args.turn or ("timed" if answers_for or args.simulate else None)
    turn_detector = {"timed": TimedTurn(2.0, speed), "key": KeyTurn(key_event), "vad": VadTurn()}.get(mode) \
        if mode else None
    if turn_detector is None:
        modes = {t.participant for t in spec.interaction.turns if hasattr(t, "participant")}
        turn_detector = KeyTurn(key_event) if "key" in modes else (TimedTurn(2.0, speed) if "timed" in modes
                                                                     else VadTurn())
    if isinstance(turn_detector, VadTurn) and spec.trials.kind == "interaction":
        import shutil

        if shutil.which("arecord") is None:
            raise InputError(None, "--turn", "vad needs a microphone through ALSA's arecord, which is not installed",
                             "apt-get install alsa-utils, or end turns by key with --turn key")

    server = answerer_http = None
    answerer = None
    panel_answerer = None
    q = spec.questionnaires
    headset_screens = q.mode == "headset" or bool(q.headset)

    def on_session(sid: int) -> None:
        nonlocal server, answerer_http, answerer, panel_answerer
        code = db.session_code(sid)
        if headset_screens:
            print(f"headset questionnaires: vr-study xr run ... --questionnaires {args.spec} "
                  f"--participant {db.session(sid).participant_id}")
            if answers_for is not None:    # a scripted participant answers them on the panel
                from questionnaires.simulate import PanelAnswerer

                panel_answerer = PanelAnswerer(db, _instruments(spec), sid, answers_for)
        if not args.no_tablet:
            from questionnaires.tablet import serve

            from vr_study.cli.tablet import print_fingerprint, warn_plain_http

            server = serve(db, args.tablet_host, args.tablet_port, certificate=certificate, instruments_dir=(
                spec.resolve(spec.questionnaires.instruments_dir) if spec.questionnaires.instruments_dir else None))
            warn_plain_http(certificate, args.tablet_host)
            print(f"tablet: open {server}/t/ and enter the code {code}")
            print(f"experimenter page: {server}/x/login   token: {server.app.state.experimenter_token}")
            print_fingerprint(certificate)
        else:
            print(f"session {sid}: tablet join code {code}")
        if answers_for is not None:
            if server is not None:
                from questionnaires.simulate import HttpAnswerer

                answerer_http = HttpAnswerer(
                    str(server), code, lambda form: answers_for(form.instrument_id,
                                                                db.prompt(form.prompt_id).context),
                    verify=str(certificate.cert_path) if certificate is not None else True)
                answerer_http.start()
            else:
                from vr_study.study.answerers import ScriptedAnswerer

                answerer = ScriptedAnswerer(db, lambda pr: answers_for(pr.instrument_id, pr.context))
        if sys.stdin.isatty():
            _start_keyboard(db, sid, key_event)
            print(KEY_HELP)

    def answerer_proxy(prompt):
        if panel_answerer is not None and prompt.context.get("answer_in") == "headset":
            return                         # answered on the panel
        if answerer is not None:
            answerer(prompt)

    from vr_study.stream.control import ControlError

    try:
        outcome = run_session(spec, db, args.participant, driver, resume=args.resume, redo=args.redo,
                              restart=getattr(args, "restart", False), pilot=getattr(args, "pilot", False),
                              answerer=answerer_proxy, markers=markers, tts=tts, turn_detector=turn_detector,
                              speed=speed, log=print, on_session=on_session)
    except ControlError as e:
        raise InputError(None, "--stream", f"pose server problem: {e}",
                         "start it with 'vr-study stream serve', or run with --simulate; then continue with "
                         "--resume (nothing recorded is lost)") from None
    finally:
        if panel_answerer is not None:
            panel_answerer.stop()
        if answerer_http is not None:
            answerer_http.stop()
        if server is not None:
            server.stop()
        driver.close()
        markers.close()
    print(f"session {outcome.session_id} ({outcome.participant_id}): {outcome.status}, "
          f"{outcome.prompts_answered} questionnaires answered in this run")
    return 0 if outcome.status == "finished" else 1


def _start_keyboard(db, session_id: int, key_event: threading.Event) -> None:
    words = {"p": "pause", "r": "resume", "a": "repeat", "s": "skip", "q": "abort"}

    def loop() -> None:
        for line in sys.stdin:
            cmd = line.strip().lower()
            if not cmd:
                key_event.set()
                db.request_control(session_id, "turn", source="keyboard")
            elif cmd in words:
                db.request_control(session_id, words[cmd], source="keyboard")
            elif cmd.startswith("redo ") and cmd[5:].strip().isdigit():
                db.request_control(session_id, "redo", source="keyboard", trial=int(cmd[5:]))
            else:
                print(KEY_HELP)

    threading.Thread(target=loop, name="keyboard", daemon=True).start()


def simulate_participant(spec_path: str | Path, participant_id: str = "P01", export_dir: str | Path | None = None,
                         *, speed: float = 50.0, answers: str = "random", db: str | None = None,
                         tablet_port: int = 0) -> dict[str, Any]:
    """Run one simulated participant through the real tablet pages, then export (for the demo).

    Starts the tablet server, answers every screen over HTTP with scripted answers (a YAML file
    or ``random``; emotion recognition answered with the trial's emotion), runs the session
    with the simulated stimulus driver and, with ``export_dir``, writes the tidy CSV and
    codebook. Returns ``{"exit_code": int, "export_dir": Path | None}``.
    """
    ns = argparse.Namespace(spec=str(spec_path), participant=participant_id, resume=False, redo=[], restart=False,
                            pilot=False, simulate=True,
                            speed=speed, stream=None, scripted_answers=answers, turn="timed", db=db,
                            tablet_host="127.0.0.1", tablet_port=tablet_port, no_tablet=False, no_lsl=True)
    rc = cmd_session_run(ns)
    if export_dir is not None:
        cmd_export(argparse.Namespace(spec=str(spec_path), output=str(export_dir), db=db, include_pilots=False,
                                      exclude=None))
    return {"exit_code": rc, "export_dir": Path(export_dir) if export_dir is not None else None}


# -- export -----------------------------------------------------------------------------------------
def item_info_from_instruments(insts: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """Export metadata for every item of the given questionnaire instruments."""
    from questionnaires.instruments import ChoiceItem, TextItem

    from vr_study.study.export import ItemInfo

    out = {}
    for inst in insts.values():
        subs: dict[str, list[str]] = {}
        for sub in inst.subscales:
            for it in sub.items:
                subs.setdefault(it, []).append(sub.id)
        for it in inst.items:
            if isinstance(it, ChoiceItem):
                info = ItemInfo(inst.id, it.id, it.text, "choice", tuple(subs.get(it.id, ())),
                                options=tuple(it.options), correct_from=it.correct_from)
            elif isinstance(it, TextItem):
                info = ItemInfo(inst.id, it.id, it.text, "text")
            else:
                text = it.text or (f"{it.left} - {it.right}" if hasattr(it, "left") else "")
                info = ItemInfo(inst.id, it.id, text, it.type, tuple(subs.get(it.id, ())), it.min, it.max,
                                bool(it.reversed))
            out[(inst.id, it.id)] = info
    return out


def cmd_export(args: argparse.Namespace) -> int:
    from vr_study.storage import StudyDatabase
    from vr_study.study.export import export_study
    from vr_study.study.spec import load_spec

    spec = load_spec(args.spec)
    url = args.db or spec.database
    if "://" not in url and not Path(url).is_file():
        raise InputError(url, None, "does not exist: no sessions were run with this spec",
                         "run 'vr-study session run' first or pass --db")
    from vr_study.study.quality import read_manual_exclusions

    db = StudyDatabase(url)
    manual = read_manual_exclusions(args.exclude) if getattr(args, "exclude", None) else None
    paths = export_study(db, args.output, item_info_from_instruments(_instruments(spec)), spec.study.id,
                         rules=spec.exclude, include_pilots=getattr(args, "include_pilots", False),
                         manual_exclusions=manual)
    with open(paths["responses.csv"], encoding="utf-8", newline="") as fh:
        n = sum(1 for _ in csv.reader(fh)) - 1
    print(f"wrote {n} responses to {paths['responses.csv']} (+ trials.csv, events.csv, quality.csv, "
          "exclusions.csv, codebook.md, codebook.csv)")
    n_pilots = len(db.pilot_sessions())
    if n_pilots and not getattr(args, "include_pilots", False):
        print(f"left out {n_pilots} pilot session(s) (--include-pilots to export them)")
    with open(paths["exclusions.csv"], encoding="utf-8", newline="") as fh:
        excluded = list(csv.DictReader(fh))
    if excluded:
        print(f"excluded {len(excluded)} participant(s) (marked excluded = 1; analyze drops them):")
        for r in excluded:
            print(f"  {r['participant_id']} (session {r['session_id']}): {r['reasons']}")
    else:
        print("excluded: none")
    return 0
