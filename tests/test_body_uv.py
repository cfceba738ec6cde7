"""UV textures: a texture image through an SMPL-X UV layout file (``smplx_uv.obj`` form),
read, checked against the body model, split at the seams, and drawn where the UVs say by
the offline renderer and by the XR renderer (GPU- and CPU-skinned), chosen from the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vr_study.body.uv import load_body_texture, read_uv_layout, split_seams, write_uv_layout
from vr_study.errors import InputError
from vr_study.formats import write_motion
from vr_study.motion import MotionClip
from vr_study.xr.capture import read_ppm

#: The quadrants of the synthetic texture (rows from the top): u < 0.5 left, v > 0.5 top.
QUADRANTS = {"red": (0, 0), "green": (0, 1), "blue": (1, 0), "yellow": (1, 1)}
RGB = {"red": (230, 20, 20), "green": (20, 200, 20), "blue": (20, 40, 230), "yellow": (230, 210, 20)}


@pytest.fixture(scope="module")
def body():
    from vr_study.body import default_body_model_path, load_body_model

    if not default_body_model_path().exists():
        pytest.skip("no default body model (run `vr-study body build`)")
    return load_body_model()


def front_layout(body) -> tuple[np.ndarray, np.ndarray]:
    """(uv (T, 2), face_uv (F, 3)): a front projection of the rest body onto [0, 1]^2 (u from
    the body's right to its left, v from the feet up), with the faces turned away from the
    front given texture coordinates of their own, so the layout has seams like SMPL-X's."""
    v = body.v_template
    lo, hi = v.min(axis=0), v.max(axis=0)
    uv = np.stack([(v[:, 0] - lo[0]) / (hi[0] - lo[0]), (v[:, 1] - lo[1]) / (hi[1] - lo[1])], axis=1)
    faces = body.faces.astype(np.int64)
    tri = v[faces]
    back = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2] < 0
    face_uv = faces.copy()
    extra = faces[back].ravel()
    face_uv[back] = (len(v) + np.arange(len(extra))).reshape(-1, 3)
    return np.concatenate([uv, uv[extra]]).astype(np.float32), face_uv


@pytest.fixture(scope="module")
def files(body, tmp_path_factory):
    d = tmp_path_factory.mktemp("uv")
    uv, face_uv = front_layout(body)
    write_uv_layout(d / "smplx_uv.obj", body.faces, uv, face_uv)
    img = np.zeros((64, 64, 3), np.uint8)
    for name, (r, c) in QUADRANTS.items():
        img[r * 32:(r + 1) * 32, c * 32:(c + 1) * 32] = RGB[name]
    Image.fromarray(img).save(d / "texture.png")
    clip = MotionClip.zeros(30, fps=30.0)
    clip.body_pose[:, 15, 2] = -1.2
    clip.body_pose[:, 16, 2] = 1.2
    write_motion(clip, d / "clip.npz")
    return d


def hue_centroids(image: np.ndarray) -> dict[str, tuple[float, float, int]]:
    """(row, column, count) of the pixels of each quadrant colour (shaded, so by dominant channel)."""
    c = image.astype(int)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    masks = {"red": (r > g + 60) & (r > b + 60), "green": (g > r + 50) & (g > b + 50),
             "blue": (b > r + 60) & (b > g + 40), "yellow": (r > b + 60) & (g > b + 60) & (abs(r - g) < 60)}
    out = {}
    for name, m in masks.items():
        rows, cols = np.nonzero(m)
        out[name] = (float(rows.mean()) if len(rows) else np.nan, float(cols.mean()) if len(cols) else np.nan,
                     int(m.sum()))
    return out


def assert_quadrants_where_the_uvs_say(image: np.ndarray, min_pixels: int) -> None:
    h = hue_centroids(image)
    assert all(n >= min_pixels for _, _, n in h.values()), h
    # front view: the body's right (u < 0.5) is on the image's left; v > 0.5 (upper body) on top
    assert h["red"][1] < h["green"][1] and h["blue"][1] < h["yellow"][1], h
    assert h["red"][0] < h["blue"][0] and h["green"][0] < h["yellow"][0], h


# ------------------------------------------------------------------ reading and splitting

def test_reads_the_smplx_uv_obj_form_and_splits_at_seams(body, files):
    lay = read_uv_layout(files / "smplx_uv.obj", body.faces, body.num_vertices)
    assert lay.face_uv.shape == body.faces.shape and lay.uv.shape[1] == 2
    split = split_seams(body.faces, lay)
    pairs = {(int(a), int(t)) for a, t in zip(body.faces.ravel(), lay.face_uv.ravel())}
    assert split.num_vertices == len(pairs) > body.num_vertices  # seams add vertices
    # every split face is the model's face, corner for corner, with the layout's coordinates
    assert np.array_equal(split.vertex[split.faces], body.faces)
    assert np.allclose(split.uv[split.faces], lay.uv[lay.face_uv])


def test_the_public_file_form_with_v_lines_and_comments(tmp_path):
    """As in SMPL-X's smplx_uv.obj: a comment, optional v lines, vt lines, f v/vt triples."""
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    p = tmp_path / "quad.obj"
    p.write_text("# SMPL-X UV topology\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\n"
                 "vt 0.0 0.0\nvt 1.0 0.0\nvt 1.0 1.0\nvt 0.0 1.0\nvt 0.5 0.5\n"
                 "f 1/1 2/2 3/3\nf 1/5 3/3 4/4\n")
    lay = read_uv_layout(p, faces, 4)
    split = split_seams(faces, lay)
    assert split.num_vertices == 5  # vertex 1 has two texture coordinates
    assert sorted(split.vertex.tolist()) == [0, 0, 1, 2, 3]


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.rsplit("\nf ", 1)[0] + "\n", "faces but the body model has"),
    (lambda t: t.replace("f 1/", "f 1/999999", 1), "texture coordinates up to 999999"),
    (lambda t: t.replace("\nf ", "\nf 2/1 1/1 3/1\n#", 1), "does not match the body model's face"),
    (lambda t: t.replace("vt ", "vt x", 1), "is not a valid 'vt' line"),
])
def test_a_layout_of_another_model_is_refused_naming_the_file(body, files, tmp_path, edit, message):
    text = (files / "smplx_uv.obj").read_text()
    bad = tmp_path / "bad.obj"
    bad.write_text(edit(text))
    with pytest.raises(InputError, match=message) as e:
        load_body_texture(files / "texture.png", bad, body.faces, body.num_vertices)
    assert "bad.obj" in str(e.value)


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XR_")}
    env.pop("DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "vr_study.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.parametrize("command", ["render", "xr"])
def test_cli_refuses_a_wrong_layout_with_one_line_and_exit_2(files, tmp_path, command):
    bad = tmp_path / "other.obj"
    bad.write_text("# SMPL-X UV topology\nvt 0 0\nf 1/1 2/1 3/1\n")
    base = (["render", str(files / "clip.npz"), "-o", str(tmp_path / "out.mp4")] if command == "render" else
            ["xr", "run", "--simulate", "--clip", str(files / "clip.npz"), "--frames", "1", "--unpaced"])
    for extra, needle in ((["--texture", str(files / "texture.png"), "--uv-layout", str(bad)], "other.obj"),
                          (["--texture", str(files / "texture.png")], "--uv-layout"),
                          (["--texture", str(tmp_path / "none.png"), "--uv-layout", str(files / "smplx_uv.obj")],
                           "none.png")):
        proc = run_cli(*base, *extra)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], proc.stderr
    assert not (tmp_path / "out.mp4").exists()


# ------------------------------------------------------------------ drawn where the UVs say

@pytest.mark.slow
def test_offline_renderer_draws_the_texture_where_the_uvs_say(body, files, tmp_path):
    proc = run_cli("render", str(files / "clip.npz"), "--png-dir", str(tmp_path / "png"), "--size", "240x320",
                   "--no-captions", "--no-audio", "--fps", "30", "--texture", str(files / "texture.png"),
                   "--uv-layout", str(files / "smplx_uv.obj"))
    assert proc.returncode == 0, proc.stderr
    image = np.asarray(Image.open(sorted((tmp_path / "png").glob("*.png"))[0]).convert("RGB"))
    assert_quadrants_where_the_uvs_say(image, 150)


@pytest.mark.slow
@pytest.mark.parametrize("skinning", ["gpu", "cpu"])
def test_xr_renderer_draws_the_texture_where_the_uvs_say(files, tmp_path, skinning):
    cap = tmp_path / "cap"
    proc = run_cli("xr", "run", "--simulate", "--clip", str(files / "clip.npz"), "--frames", "2", "--unpaced",
                   "--eye-size", "320x360", "--capture-dir", str(cap), "--skinning", skinning,
                   "--texture", str(files / "texture.png"), "--uv-layout", str(files / "smplx_uv.obj"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["skinning"] == skinning
    assert_quadrants_where_the_uvs_say(read_ppm(cap / "frame000001_eye0.ppm"), 100)
