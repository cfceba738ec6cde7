"""``vr-study analyze``: the statistics report of a study, or a simulated study for demos.

    vr-study analyze DATA.csv -o REPORT_DIR [--metrics metrics.csv] [--items A B]
                     [--columns participant_id=pid,method=cond]
                     [--layout auto|long|wide] [--pattern REGEX] [--scale 1,7]
                     [--codebook codebook.csv|instrument.yaml]
    vr-study analyze simulate -o data.csv [--participants 48] [--seed 0]
    vr-study analyze calibrate DATA.csv [--items A B] [--sims 500] [--mixed-sims 100]
                     [--alpha 0.05] [--seed 0] [-o calibration.json]
    vr-study analyze power SPEC.yaml --effect method=0.5 [--effect emotion=0.3]
                     [--participants N] [--clips-per-cell K] [--pilot DATA.csv --item I]
                     [--sd participant=0.6,clip=0.3,...] [--power-target 0.8] [-o power.json]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from vr_study.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``analyze`` to the parser."""
    p = sub.add_parser(
        "analyze", help="statistics report (ART, mixed models, RM-ANOVA, ...) of a study",
        description="Analyse the tidy export of a study (or any CSV with the columns "
                    "participant_id, method, emotion, item, value) into REPORT_DIR: "
                    "index.html, results.json, tables/ (CSV, Markdown, LaTeX), figures/. "
                    "'vr-study analyze simulate -o data.csv' writes a SIMULATED study.")
    p.add_argument("data", help="tidy CSV from 'vr-study export', a wide trial CSV (PsychoPy, "
                                "jsPsych, Qualtrics, published data; a folder of them), or one of "
                                "the words 'simulate', 'calibrate', 'power'")
    p.add_argument("target", nargs="?",
                   help="calibrate: the data CSV; power: the study spec YAML")
    p.add_argument("-o", "--out",
                   help="report directory (or, with 'simulate', the CSV to write; with "
                        "'calibrate'/'power', an optional JSON file for the numbers)")
    p.add_argument("--metrics", help="per-clip metrics CSV ('vr-study metrics') to correlate "
                                     "with ratings (joined on clip_id)")
    p.add_argument("--items", nargs="+", help="rating items to analyse (default: all); in the "
                                              "wide layout, the rated columns (a,b,c or a b c)")
    p.add_argument("--columns", help="column mapping OUR=YOURS,... or a JSON file, e.g. "
                                     "participant_id=pid,method=condition,value=rating")
    p.add_argument("--layout", default="auto", choices=["auto", "long", "wide"],
                   help="long: one row per answer (vr-study export); wide: one row per trial "
                        "and one column per rated item (PsychoPy, jsPsych, published data); "
                        "default: detected and explained in one line")
    p.add_argument("--pattern", help="one row per participant (e.g. Qualtrics): regular "
                                     "expression naming the parts of the answer columns, e.g. "
                                     "'(?P<method>[^_]+)_(?P<emotion>[^_]+)_(?P<item>.+)'")
    p.add_argument("--scale", help="MIN,MAX of rating items whose data does not say (e.g. 1,7)")
    p.add_argument("--codebook", help="item metadata (instrument, subscale, scale, reversed): "
                                      "codebook.csv of 'vr-study export', or instrument "
                                      "YAML file(s) / ids, comma-separated")
    p.add_argument("--chance", type=float,
                   help="recognition chance level (default 1 / number of options)")
    p.add_argument("--adjust", default="holm", choices=["holm", "bonferroni", "fdr_bh", "none"],
                   help="p-value adjustment for pairwise contrasts (default holm)")
    p.add_argument("--no-clip-effect", action="store_true",
                   help="leave the clip random intercept out of the mixed models")
    p.add_argument("--no-ordinal", action="store_true", help="skip the ordinal models")
    p.add_argument("--art-pooled", action="store_true",
                   help="ART in ARTool's pooled Error(participant) form on trial rows, to "
                        "reproduce a published analysis (labelled so; not valid with "
                        "replicate clips or method preferences)")
    p.add_argument("--calibration-sims", type=int, default=200,
                   help="null studies per rated item for the report's validity panel "
                        "(default 200, the mixed model on 10 of them; 0: none)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--jobs", type=int, default=0,
                   help="worker processes for the rating items (default 0: one per CPU core this "
                        "process may use; 1: no workers). Results are identical either way")
    p.add_argument("--simulated", action="store_true",
                   help="label the report as simulated (automatic when study_id says so)")
    p.add_argument("--exclude", metavar="FILE",
                   help="manual exclusions: CSV participant_id,reason (on top of the export's exclusions)")
    p.add_argument("--include-pilots", action="store_true", help="keep pilot sessions (rows with pilot = 1)")
    p.add_argument("--keep-excluded", action="store_true",
                   help="keep participants the export marked excluded (for a sensitivity analysis)")
    g = p.add_argument_group("simulate")
    g.add_argument("--participants", type=int, default=None,
                   help="simulate: number of participants (default 48); power: the N to "
                        "evaluate (default: the spec's study.participants)")
    g.add_argument("--seed", type=int, default=0, help="simulate: random seed (default 0)")
    g.add_argument("--metrics-out",
                   help="simulate: where to write the simulated metrics CSV "
                        "(default: next to the data, <name>_metrics.csv)")
    c = p.add_argument_group("calibrate and power")
    c.add_argument("--sims", type=int, default=500,
                   help="simulated studies for the by-participant tests (default 500)")
    c.add_argument("--mixed-sims", type=int, default=100,
                   help="how many of them the mixed model is fitted to (~0.1 s each; "
                        "default 100)")
    c.add_argument("--alpha", type=float, default=0.05, help="test level (default 0.05)")
    c.add_argument("--effect", action="append", default=[],
                   help="power: FACTOR=POINTS (levels spread evenly over POINTS rating "
                        "points) or FACTOR=LEVEL:POINTS,...; interaction: A:B=POINTS "
                        "(difference of differences of the corner cells) or "
                        "A:B=LEVEL*LEVEL:POINTS,...; repeatable")
    c.add_argument("--clips-per-cell", type=int, default=None,
                   help="power: distinct clips per condition (default: the spec's "
                        "trials.repetitions)")
    c.add_argument("--sd", help="power: SDs on the rating scale, e.g. participant=0.6,"
                                "participant:method=0.3,clip=0.3,residual=1.0")
    c.add_argument("--pilot", help="power: pilot data CSV to estimate the SDs from")
    c.add_argument("--item", help="power: the pilot item to estimate the SDs from")
    c.add_argument("--power-target", type=float, default=0.8,
                   help="power: target power for the N search (default 0.8)")
    c.add_argument("--test", default=None, choices=["art", "rm_anova", "friedman", "mixed"],
                   help="power: test for the N search (default: mixed when clips are "
                        "replicated, else art)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``vr-study analyze``."""
    if args.data == "simulate":
        return _simulate(args)
    if args.data in ("calibrate", "power"):
        from vr_study.cli import analyze_sim
        return analyze_sim.run(args)
    if args.target is not None:
        raise InputError(None, None, f"unexpected argument {args.target!r}",
                         "give one data CSV (or: analyze calibrate DATA / analyze power SPEC)")
    if not args.out:
        raise InputError(None, "-o/--out", "is missing", "give the report directory, -o report/")
    return _analyze(args)


def _exclusions(args: argparse.Namespace, data):
    """Drop excluded participants and pilots (analysis.exclusions); print the table, return (data, table)."""
    from analysis.exclusions import apply_exclusions

    data, table = apply_exclusions(data, args.data, exclude_file=getattr(args, "exclude", None),
                                   include_pilots=getattr(args, "include_pilots", False),
                                   keep_excluded=getattr(args, "keep_excluded", False))
    print(f"excluded {len(table)} participant(s)" + (":" if len(table) else "") + "".join(
        f"\n  {r.participant_id}: {r.reason}" for r in table.itertuples()))
    return data, table


def _simulate(args: argparse.Namespace) -> int:
    from analysis.simulate import simulate_metrics, simulate_study
    from vr_study.atomic import atomic_write_text

    if args.participants is None:
        args.participants = 48
    if not args.out:
        raise InputError(None, "-o/--out", "is missing", "give the CSV to write, -o data.csv")
    if args.participants < 2:
        raise InputError(None, "--participants", f"is {args.participants}",
                         "simulate at least 2 participants")
    out = Path(args.out)
    if out.suffix.lower() != ".csv":
        raise InputError(out, None, "is not a .csv path", "give -o data.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    data = simulate_study(args.participants, args.seed)
    atomic_write_text(out, data.to_csv(index=False))
    mout = Path(args.metrics_out) if args.metrics_out else out.with_name(out.stem + "_metrics.csv")
    atomic_write_text(mout, simulate_metrics(args.seed).to_csv(index=False))
    print(f"wrote SIMULATED study: {out} ({len(data)} rows, {args.participants} participants) "
          f"and metrics {mout}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    import pandas as pd

    from analysis.report import ReportOptions, build_report

    _check_table(Path(args.data))
    data, note, layout = _read_input(args)
    print(note)
    _check_values(data, args)
    metrics = None
    if args.metrics:
        try:
            metrics = pd.read_csv(args.metrics)
        except (OSError, UnicodeDecodeError, pd.errors.ParserError,
                pd.errors.EmptyDataError) as e:
            raise InputError(args.metrics, None, f"cannot be read as CSV ({type(e).__name__})",
                             "give the CSV written by 'vr-study metrics'") from None
        if "clip_id" not in metrics.columns:
            raise InputError(args.metrics, "clip_id", "is missing",
                             "the metrics CSV needs clip_id to join with the ratings")
    opts = ReportOptions(items=_split(args.items), clip_random_effect=not args.no_clip_effect,
                         ordinal=not args.no_ordinal, figures=not args.no_figures,
                         chance=args.chance, adjust=args.adjust,
                         simulated=True if args.simulated else None,
                         source=str(args.data), progress=True, jobs=args.jobs or len(os.sched_getaffinity(0)),
                         art_error="pooled" if args.art_pooled else "strata",
                         calibration_sims=max(args.calibration_sims, 0),
                         input_layout={"kind": layout.kind, "tool": layout.tool,
                                       "forced": layout.forced, "note": note,
                                       "items": list(layout.items),
                                       "item_columns": list(layout.item_columns),
                                       "renamed": dict(layout.renamed),
                                       "ignored": list(layout.ignored)})
    if args.jobs < 0:
        raise InputError(None, "--jobs", f"is {args.jobs}", "give 1 or more worker processes (0: one per core)")
    data, excluded = _exclusions(args, data)
    if args.chance is not None and not 0 < args.chance < 1:
        raise InputError(None, "--chance", f"is {args.chance}", "give a probability in (0, 1)")
    out = Path(args.out)
    res = _build_whole(out, lambda tmp: build_report(data, tmp, metrics=metrics, options=opts))
    print(f"report: {out / 'index.html'}  numbers: {out / 'results.json'}")
    for s in res["skipped"]:
        print(f"skipped: {s['analysis']}{' (' + str(s['item']) + ')' if s['item'] else ''}: "
              f"{s['reason']}")
    for w in res["warnings"]:
        print(f"warning: {w}")
    from vr_study.atomic import atomic_write_text

    atomic_write_text(Path(args.out) / "exclusions.csv", excluded.to_csv(index=False))  # who was left out, why
    return 0


def _split(values: list[str] | None) -> list[str] | None:
    """``--items a,b c`` -> [a, b, c]."""
    return [v for a in values for v in a.split(",") if v.strip()] if values else None


def _codebook(spec: str):
    """A codebook table from codebook.csv or instrument definitions (YAML paths or ids)."""
    import pandas as pd

    from analysis.tidy import read_codebook

    if spec.lower().endswith(".csv"):
        return read_codebook(spec)
    from questionnaires.instruments import DEFAULT_INSTRUMENTS_DIR, load_instrument
    from vr_study.cli.study import item_info_from_instruments

    insts = {}
    for part in _split([spec]):
        path = Path(part) if Path(part).suffix in (".yaml", ".yml") \
            else DEFAULT_INSTRUMENTS_DIR / f"{part}.yaml"
        if not path.is_file():
            raise InputError(None, "--codebook", f"'{part}' is neither a file nor a shipped "
                             "instrument", "give codebook.csv, an instrument YAML or an id "
                             "such as godspeed")
        inst = load_instrument(path)
        insts[inst.id] = inst
    rows = [{"instrument": i.instrument, "item": i.item, "subscale": ";".join(i.subscales),
             "scale_min": "" if i.scale_min is None else str(i.scale_min),
             "scale_max": "" if i.scale_max is None else str(i.scale_max),
             "reversed": str(int(i.reversed))}
            for i in item_info_from_instruments(insts).values() if i.type not in ("text",)]
    return pd.DataFrame(rows)


def _read_input(args: argparse.Namespace):
    """The long response table from any layout, the line saying how it was read, and the
    layout (kept in results.json)."""
    from analysis.tidy import apply_item_info, parse_scale, read_responses

    data, layout = read_responses(args.data, args.columns, layout=args.layout,
                                  items=_split(args.items), pattern=args.pattern)
    codebook = _codebook(args.codebook) if args.codebook else None
    scale = parse_scale(args.scale)
    if codebook is not None or scale is not None:
        data = apply_item_info(data, codebook, scale)
    note = layout.explain()
    if layout.notes:
        note += "\n" + "\n".join(f"note: {n}" for n in layout.notes)
    return data, note, layout


# ---------------------------------------------------------------- input checks (no half-written report)

def _check_table(path: Path) -> None:
    """Every row of the CSV has as many cells as its header (pandas pads short rows silently)."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            for row in reader:
                if header is not None and row and len(row) != len(header):
                    raise InputError(path, None, f"line {reader.line_num} has {len(row)} cells but the header has "
                                     f"{len(header)}", "fix the ragged row (a missing or extra comma?)")
    except (OSError, UnicodeDecodeError, csv.Error):
        return  # load_responses reports unreadable files with its own message


def _check_values(data, args) -> None:
    """Numbers in value/value_scored are finite; --items names items that are in the data."""
    import math

    for col in ("value", "value_scored"):
        if col not in data.columns:
            continue
        for i, text in enumerate(data[col].tolist()):
            try:
                v = float(text)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(v):
                raise InputError(args.data, col, f"is {text!r} in data row {i + 1}",
                                 "ratings must be finite numbers; correct or remove that row")
    wanted = _split(args.items)
    if wanted:
        known = sorted(set(data["item"].tolist()))
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise InputError(None, "--items", f"names {', '.join(unknown)}, which the data does not have",
                             f"choose among: {', '.join(known[:30])}")


def _build_whole(out: Path, build):
    """Run ``build(folder)`` in a temporary sibling folder, then put it at ``out`` in one step.

    A failure leaves no half-written report (and an earlier report at ``out`` untouched).
    """
    import shutil
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes 0700; the report is an ordinary folder
    try:
        res = build(tmp)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            out.replace(old / "report")
        tmp.replace(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
