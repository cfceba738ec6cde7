"""``vr-study analyze calibrate DATA`` and ``vr-study analyze power SPEC --effect ...``.

Both simulate studies shaped like a design (analysis.worlds): ``calibrate`` null studies
with the variance components of the data, to show each test's false-positive rate;
``power`` studies with the given effects, to show each test's power at N and the N for
the target power. Parsed by ``vr_study.cli.analyze``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vr_study.errors import InputError

SUBJECT, FACTORS = "participant_id", ("method", "emotion")


def run(args: argparse.Namespace) -> int:
    from analysis.design import AnalysisError

    if args.target is None:
        what = "the data CSV" if args.data == "calibrate" else "the study spec YAML"
        raise InputError(None, None, f"'analyze {args.data}' needs {what}",
                         f"write: vr-study analyze {args.data} "
                         + ("DATA.csv" if args.data == "calibrate" else "study.yaml --effect method=0.5"))
    if args.sims < 1 or args.mixed_sims < 0:
        raise InputError(None, "--sims", f"is {args.sims} (mixed {args.mixed_sims})",
                         "give at least 1 simulation")
    if not 0 < args.alpha < 1:
        raise InputError(None, "--alpha", f"is {args.alpha}", "give a level in (0, 1)")
    try:
        return _calibrate(args) if args.data == "calibrate" else _power(args)
    except AnalysisError as e:
        raise InputError(args.target, None, e.problem, e.fix) from None


def _ratings(path: str, columns, items):
    """Numeric rating rows of the tidy (or mapped) CSV: participant_id, method, emotion,
    clip_id (if any), item, rating."""
    import pandas as pd

    from analysis.tidy import load_responses, split_responses

    data = load_responses(path, columns)
    r = split_responses(data).ratings.copy()
    r["rating"] = pd.to_numeric(r["rating"], errors="coerce")
    r = r.dropna(subset=["rating"])
    have = sorted(r["item"].unique().tolist())
    if not have:
        raise InputError(path, "value", "holds no numeric rating responses",
                         "calibrate needs rating items (method x emotion)")
    if items:
        unknown = [i for i in items if i not in have]
        if unknown:
            raise InputError(path, "item", f"has no item(s) {unknown}", f"items are {have}")
    return r, (items or have)


def _factors(d) -> list[str]:
    return [f for f in FACTORS if d[f].nunique() > 1]


def _write(args, obj: dict) -> None:
    if args.out:
        from vr_study.atomic import atomic_write_text
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, json.dumps(obj, indent=1, default=float))
        print(f"numbers: {out}")


def _calibrate(args) -> int:
    from analysis.calibration import calibrate

    ratings, items = _ratings(args.target, args.columns, args.items)
    out = {"source": args.target, "items": {}}
    for item in items:
        d = ratings[ratings["item"] == item].reset_index(drop=True)
        fs = _factors(d)
        if not fs:
            print(f"{item}: skipped (no factor with two levels)")
            continue
        clip = "clip_id" if "clip_id" in d.columns and (d["clip_id"] != "").all() else None
        cal = calibrate(d, "rating", fs, SUBJECT, clip, n_sims=args.sims,
                        n_mixed=args.mixed_sims, alpha=args.alpha, seed=args.seed)
        out["items"][item] = cal.to_dict()
        sd = ", ".join(f"{k} {v:.2f}" for k, v in cal.world.sd.items() if v > 0)
        print(f"{item}: null studies like yours ({cal.design['participants']} participants, "
              f"clips per cell {cal.design['clips_per_cell']['min']}-"
              f"{cal.design['clips_per_cell']['max']}; SDs {sd}); "
              f"false-positive rate at alpha {args.alpha}:")
        for r in cal.table.itertuples():
            print(f"  {r.label:48s} {r.term:16s} {r.rate:6.3f}  "
                  f"[{r.ci_low:.3f}, {r.ci_high:.3f}]  n={r.n_sims:<5d} {r.verdict}")
        for n in cal.notes:
            print(f"  note: {n}")
    _write(args, out)
    return 0


def _parse_sd(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise InputError(None, "--sd", f"part {part!r} is not NAME=SD",
                             "write e.g. participant=0.6,clip=0.3,residual=1.0")
        k, v = part.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise InputError(None, "--sd", f"{v!r} is not a number", "give SDs in rating points") from None
        if out[k.strip()] < 0:
            raise InputError(None, "--sd", f"{k} is negative", "SDs are >= 0")
    return out


def _power(args) -> int:
    from analysis.calibration import clips_replicated
    from analysis.power import (DEFAULT_SD, clip_limited_power, n_for_power, parse_effects,
                                power)
    from analysis.worlds import World, design_from_levels, world_from_fit
    from vr_study.study.spec import load_spec

    spec = load_spec(args.target)
    n = args.participants if args.participants is not None else spec.study.participants
    if n < 2:
        raise InputError(None, "--participants", f"is {n}", "give at least 2")
    k = args.clips_per_cell if args.clips_per_cell is not None else spec.trials.repetitions
    if k < 1:
        raise InputError(None, "--clips-per-cell", f"is {k}", "give 1 or more")
    if not 0 < args.power_target < 1:
        raise InputError(None, "--power-target", f"is {args.power_target}",
                         "give a power in (0, 1), e.g. 0.8")
    design = design_from_levels(spec.factors, n, k)
    mean, sd, source = 4.0, dict(DEFAULT_SD), "defaults"
    if args.pilot:
        from analysis.mixed import study_model
        ratings, items = _ratings(args.pilot, args.columns, [args.item] if args.item else None)
        item = args.item or items[0]
        d = ratings[ratings["item"] == item].reset_index(drop=True)
        clip = "clip_id" if "clip_id" in d.columns and d.groupby(list(FACTORS))["clip_id"].nunique().max() > 1 else None
        # every variance estimated above zero, not only those the LRT rule keeps
        fit = study_model(d, "rating", _factors(d), SUBJECT, clip=clip, simplify="singular")
        w = world_from_fit(fit, float(d["rating"].mean()), _factors(d))
        mean, sd, source = w.mean, w.sd, f"pilot {args.pilot} item {item} ({fit.structure})"
    if args.sd:
        sd.update(_parse_sd(args.sd))
        source += " with --sd"
    world = World(mean, sd, parse_effects(args.effect, design))
    table = power(design, world, n_sims=args.sims, n_mixed=args.mixed_sims,
                  alpha=args.alpha, seed=args.seed)
    test = args.test or ("mixed" if clips_replicated(design) and sd.get("clip", 0) > 0 else "art")
    print(f"power at N = {n} ({len(spec.cells)} cells x {k} clip(s); SDs from {source}: "
          + ", ".join(f"{a} {b:.2f}" for a, b in sd.items()) + f"; alpha {args.alpha}):")
    for r in table.itertuples():
        mark = " (effect)" if r.term in world.effects else ""
        print(f"  {r.label:48s} {r.term:16s} {r.power:6.3f}  n={r.n_sims}{mark}")
    needed = {}
    for f in world.effects:
        nn = n_for_power(design, world, test, f, target=args.power_target,
                         n_sims=min(args.sims, 200) if test != "mixed" else max(args.mixed_sims, 20),
                         alpha=args.alpha, seed=args.seed)
        needed[f] = nn
        ceiling = clip_limited_power(design, world, f, args.alpha) if test == "mixed" else 1.0
        if nn is None and ceiling < args.power_target:
            why = (f"not reachable with {k} clip(s) per cell: with any number of participants "
                   f"the power is at most {ceiling:.0%} (clip SD {sd.get('clip', 0):.2f}); "
                   "add clips per cell")
        else:
            why = str(nn) if nn is not None else "more than 256"
        print(f"N for {args.power_target:.0%} power ({test}, {f}): {why}")
    _write(args, {"spec": args.target, "participants": n, "clips_per_cell": k,
                  "world": {"mean": mean, "sd": sd, "effects": world.effects, "source": source},
                  "power": table.to_dict("records"), "n_for_power": needed,
                  "target": args.power_target, "test_for_n": test})
    return 0
