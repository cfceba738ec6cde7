"""``vr-study body build|info``: make the default body model and describe body model files."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("body", help="build the default body model, describe SMPL-X model files")
    bsub = p.add_subparsers(dest="body_command", metavar="ACTION")

    build = bsub.add_parser("build", help="build the default SMPL-X-compatible body model (deterministic)")
    build.add_argument("-o", "--output", help="output .npz (default: the bundled assets/body/SMPLX_NEUTRAL.npz)")
    build.set_defaults(func=_build)

    info = bsub.add_parser("info", help="vertices, joints, shape/expression sizes and regions of a body model")
    info.add_argument("path", nargs="?", help="SMPL-X .npz/.pkl or folder (default: $VR_STUDY_SMPLX_DIR, "
                                              "else the default body)")
    info.add_argument("--gender", default="neutral", choices=("neutral", "male", "female"))
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=_info)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _build(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from vr_study.body.build import write_default_body
    from vr_study.body.model import default_body_model_path
    from vr_study.errors import InputError

    out = Path(args.output) if args.output else default_body_model_path()
    if out.suffix.lower() != ".npz":
        raise InputError(out, None, "does not end in .npz", "name the output like SMPLX_NEUTRAL.npz")
    t0 = time.perf_counter()
    write_default_body(out, progress=True)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
    return 0


def _info(args: argparse.Namespace) -> int:
    import numpy as np

    from vr_study.body.model import load_body_model

    m = load_body_model(args.path, gender=args.gender)
    v = m.v_template
    rest = m.rest_joints()
    d = {
        "path": str(m.path),
        "vertices": m.num_vertices,
        "faces": int(len(m.faces)),
        "joints": int(len(m.parents)),
        "betas": m.num_betas,
        "expression": m.num_expression,
        "expression_names": list(m.expression_names) if m.expression_names else None,
        "pose_correctives": m.posedirs is not None,
        "height_m": round(float(v[:, 1].max() - v[:, 1].min()), 4),
        "pelvis_m": [round(float(x), 4) for x in rest[0]],
        "regions": {k: int(len(ix)) for k, ix in m.regions.items()},
        "max_weights_per_vertex": int(np.max((m.weights > 0).sum(1))),
    }
    if args.json:
        print(json.dumps(d))
    else:
        for k, val in d.items():
            print(f"{k:24s} {val}")
    return 0
