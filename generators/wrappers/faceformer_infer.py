"""Run FaceFormer's own demo.py prediction (without its video rendering); vr-study ships this wrapper.

Run it with FaceFormer's Python, from FaceFormer's checkout; it needs only what demo.py needs:

    python faceformer_infer.py [--render] [--template-out T.npy] -- <demo.py arguments>

The arguments after ``--`` go to demo.py's own parser unchanged (EvelynFan/FaceFormer
dfaea81, demo.py:180-199), so a flag demo.py does not know is refused by demo.py itself.
demo.py's main() predicts and saves ``<result_path>/<wav name up to the first dot>.npy``,
(T, V*3) absolute vertex positions (demo.py:50-60), then renders a video with pyrender/OSMesa
and ffmpeg (demo.py:141-178, 202). The rendering is skipped unless --render is given: it needs
OpenGL and takes longer than the prediction, and vr-study does not use the video.
--template-out saves the subject's neutral template (templates.pkl[--subject], the mesh
the predicted offsets were added to, demo.py:32-48) as (V, 3) so the offsets can be recovered.
"""
from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" in argv:
        cut = argv.index("--")
        own, demo_args = argv[:cut], argv[cut + 1:]
    else:
        own, demo_args = [], argv
    p = argparse.ArgumentParser(description="FaceFormer demo.py prediction (vr-study wrapper)")
    p.add_argument("--render", action="store_true", help="also render demo.py's video")
    p.add_argument("--template-out", help="save the subject's template vertices (V, 3) here")
    args = p.parse_args(own)

    sys.path.insert(0, os.getcwd())
    if not os.path.isfile(os.path.join(os.getcwd(), "demo.py")):
        print(f"error: no demo.py in {os.getcwd()}: run this from FaceFormer's checkout (workdir)", file=sys.stderr)
        return 2
    import demo  # FaceFormer's demo.py

    predict = demo.test_model

    def test_model(demo_args_ns):
        predict(demo_args_ns)
        if args.template_out:
            import pickle

            import numpy as np

            with open(os.path.join(demo_args_ns.dataset, demo_args_ns.template_path), "rb") as fh:
                templates = pickle.load(fh, encoding="latin1")
            tmp = args.template_out + ".part.npy"
            np.save(tmp, np.asarray(templates[demo_args_ns.subject], dtype=np.float64).reshape(-1, 3))
            os.replace(tmp, args.template_out)

    demo.test_model = test_model
    if not args.render:
        demo.render_sequence = lambda demo_args_ns: None
    sys.argv = ["demo.py", *demo_args]
    demo.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
