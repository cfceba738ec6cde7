"""SMPL-X pose correctives (``posedirs``) on the WebXR page, with a real SMPL-X file's layout.

A lab's real SMPL-X model has pose-corrective blend shapes on all 10,475 vertices (486 pose
features). No SMPL-X file may be shipped, so the default body gets made-up dense correctives
(as ``benchmarks/xr_frame.py --real-layout``): each pose feature scales the body about its
centre by a seeded amount, centimetres on a posed frame, so leaving them out is visible.
Checked in Debian's Chromium (headless, SwiftShader WebGL) through Playwright: the vertices
the page's GPU skins (read back from the GPU) equal our Python skinning
(:meth:`vr_study.body.BodyModel.pose_clip`, which applies ``posedirs``) within 1 mm, and
are centimetres away from skinning without them; the page's pose feature is SMPL-X's; the
drawn silhouette matches the corrected body better than the uncorrected one.
"""
from __future__ import annotations

import time
from io import BytesIO

import numpy as np
import pytest
from test_webxr_page import ARGS, CHROMIUM, open_paired, publish, release, wait_for

from questionnaires.tls import ensure_certificate
from questionnaires.webxr import THREE_DIR, WebXRConfig, serve
from questionnaires.webxr_model import HALF_TOLERANCE_M, web_model
from vr_study.motion import MotionClip
from vr_study.storage import StudyDatabase, TrialRecord
from vr_study.stream import PosePublisher
from vr_study.stream.wsbridge import PoseBridge
from vr_study.xr.avatar import conversational_placements
from vr_study.xr.gpuskin import build_rig, pose_feature

#: The page's vertices vs our Python skinning with the correctives (m).
TOLERANCE_M = 1e-3
#: The drawn silhouette's IoU with our rasterisation of the corrected body.
MIN_SILHOUETTE_IOU = 0.95


def with_pose_correctives(body, scale: float = 0.01, seed: int = 10):
    """``body`` with dense posedirs, as a real SMPL-X file (seed 10 scales the body by 4 % in
    :func:`posed`, so the silhouette shows it)."""
    from vr_study.body.real_layout import with_dense_posedirs

    return with_dense_posedirs(body, scale, seed)


def posed() -> np.ndarray:
    """(55, 3) rad: turned, arms down / half up, right elbow bent, knees and head moved, jaw open."""
    pose = np.zeros((55, 3))
    pose[0] = [0, 0.5, 0]
    pose[16] = [0, 0, -1.1]
    pose[17] = [0, 0, 0.6]
    pose[19] = [0, -1.2, 0]
    pose[4] = [0.6, 0, 0]
    pose[5] = [0.3, 0, 0.1]
    pose[15] = [0.2, 0.3, 0]
    pose[22] = [0.25, 0, 0]
    return pose


def world(body, pose: np.ndarray, lift_m: float, place=None) -> np.ndarray:
    """(V, 3) m: ``body.pose_clip`` of ``pose`` (full weights, posedirs if the body has them)
    with the page's floor lift, standing at ``place`` (None: where the page puts one avatar)."""
    clip = MotionClip.from_poses(pose.reshape(1, 165), np.zeros((1, 3)), None, None, 30.0)
    v = body.pose_clip(clip).vertices[0].astype(np.float64) + [0.0, lift_m, 0.0]
    place = place or conversational_placements(1)[0]
    return v @ place.matrix()[:3, :3].T + place.position


@pytest.fixture(scope="module")
def body():
    from vr_study.body import load_body_model

    return load_body_model()


@pytest.fixture(scope="module")
def real(body):
    return with_pose_correctives(body)


@pytest.fixture(scope="module")
def real_model(real):
    return web_model(real)


def test_model_files_carry_the_correctives_only_when_the_body_has_them(body, real, real_model):
    plain = web_model(body)
    assert "pose_correctives" not in plain.meta
    assert not {"pose_row", "pose_basis"} & set(plain.meta["arrays"])          # today's files, unchanged
    pc = real_model.meta["pose_correctives"]
    arrays = real_model.meta["arrays"]
    rig = build_rig(real, weight_mode="top4")
    assert pc["rows"] == body.num_vertices and pc["groups"] == 122            # dense: every body vertex
    # float16 halves the payload: its error over the test poses is measured and below 0.1 mm
    assert pc["dtype"] == "float16" and 0 < pc["error_m"] < HALF_TOLERANCE_M
    assert arrays["pose_basis"]["shape"] == [body.num_vertices, 3, 122, 4]
    assert pc["bytes"] == body.num_vertices * 3 * 122 * 4 * 2 + rig.num_vertices * 4
    a = arrays["pose_basis"]
    basis = np.frombuffer(real_model.blob, "<f2", count=int(np.prod(a["shape"])), offset=a["offset"])
    np.testing.assert_allclose(basis.reshape(a["shape"]), rig.pose_basis, rtol=1e-3, atol=1e-7)
    r = arrays["pose_row"]
    rows = np.frombuffer(real_model.blob, "<i4", count=r["shape"][0], offset=r["offset"])
    assert np.array_equal(rows, rig.pose_row)                                 # the mouth parts: -1
    # correctives too large for float16's 0.1 mm go as float32
    big = web_model(with_pose_correctives(body, scale=0.2))
    assert big.meta["pose_correctives"]["dtype"] == "float32"
    assert big.meta["pose_correctives"]["bytes"] > 2 * pc["bytes"] - rig.num_vertices * 8


@pytest.fixture(scope="module", params=["float16", "float32"])
def site(request, tmp_path_factory, real, real_model):
    """The page's server with the real-layout model, its basis as float16 (what the model's
    error allows) or float32 (what larger correctives get)."""
    model = real_model if request.param == "float16" else web_model(real, half_tolerance_m=0.0)
    assert model.meta["pose_correctives"]["dtype"] == request.param
    tmp = tmp_path_factory.mktemp("webxr-correctives")
    db = StudyDatabase(tmp / "study.sqlite")
    trials = [TrialRecord(trial_index=0, block=0, trial_kind="stimulus", position_in_block=0, method="emage",
                          emotion="happy", questionnaires=[])]
    sid = db.create_session("P01", "webxr-correctives", trials, plan_row=0, seed=0)
    pub = PosePublisher("tcp://127.0.0.1:*")
    config = WebXRConfig(PoseBridge(pub.endpoint), lambda: model, panels=False)
    server = serve(db, config, certificate=ensure_certificate(tmp, hosts=["127.0.0.1"]))
    yield {"db": db, "sid": sid, "pub": pub, "server": server, "model": model}
    server.stop()
    pub.close()
    db.close()


@pytest.fixture(scope="module")
def page(site):
    sync_api = pytest.importorskip("playwright.sync_api")
    from pathlib import Path
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian package chromium is not installed")
    if not (THREE_DIR / "three.module.js").exists():
        pytest.skip("run `npm ci` (three.js)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx, page = open_paired(browser, site)
        yield page
        ctx.close()
        browser.close()
    release(site)


@pytest.mark.slow
def test_page_pose_feature_is_smplx_s(page):
    """The 486 numbers the page computes per frame are vr_study.xr.gpuskin.pose_feature's (SMPL-X's)."""
    rng = np.random.default_rng(7)
    poses = rng.normal(0.0, 0.6, (4, 55, 3))
    poses[0] = 0.0
    poses[1, 3] = [1e-9, 0, 0]                                  # near the rest pose: no 1 - cos cancellation
    got = page.evaluate("(poses) => import('/w/static/avatar.js').then((m) => "
                        "poses.map((p) => Array.from(m.poseFeatures(p, new Float64Array(486)))))",
                        poses.reshape(4, -1).tolist())
    for pose, feat in zip(poses, got):
        np.testing.assert_allclose(feat, pose_feature(pose)[:486], atol=1e-6)


def _silhouette(verts: np.ndarray, faces: np.ndarray, view: np.ndarray, proj: np.ndarray, size) -> np.ndarray:
    """Every triangle of world-space ``verts`` rasterised (PIL) with the page's camera."""
    from PIL import Image, ImageDraw

    clip = np.c_[verts, np.ones(len(verts))] @ (proj @ view).T
    ndc = clip[:, :3] / clip[:, 3:]
    w, h = size
    px = np.c_[(ndc[:, 0] + 1) / 2 * w, (1 - ndc[:, 1]) / 2 * h]
    img = Image.new("L", size, 0)
    draw = ImageDraw.Draw(img)
    for f in faces:
        draw.polygon([tuple(px[i]) for i in f], fill=255)
    return np.asarray(img) > 0


@pytest.mark.slow
def test_page_skins_a_real_layout_model_like_our_python_skinning(site, page, body, real):
    pose = posed()
    assert page.evaluate("vrStudy.correctives") == site["model"].meta["pose_correctives"]
    publish(site["pub"], "solo", np.repeat(pose[None], 10, 0), 30.0, time.monotonic() + 0.05)
    wait_for(page, "vrStudy.avatars.solo && vrStudy.avatars.solo.seq === 9")
    lift = site["model"].meta["ground_offset_m"]
    want = world(real, pose, lift)                      # with the correctives (SMPL-X's lbs)
    without = world(body, pose, lift)                   # the same body and pose without them
    got = np.asarray(page.evaluate("vrStudy.debug.skinnedVertices('solo')"), np.float64).reshape(-1, 3)
    got = got[: body.num_vertices]                      # (the mouth parts follow)
    err = np.linalg.norm(got - want, axis=1)
    moved = np.linalg.norm(want - without, axis=1)
    print(f"page vs python: max {err.max() * 1e3:.4f} mm; the correctives move vertices up to "
          f"{moved.max() * 1e3:.1f} mm")
    assert err.max() < TOLERANCE_M, err.max()
    # without the correctives the page would be centimetres off: this comparison can fail
    assert np.linalg.norm(got - without, axis=1).max() > 10 * TOLERANCE_M

    # what is drawn (the displayed mesh, not the read-back) is the corrected body
    page.evaluate("document.getElementById('bar').style.display = 'none'")
    time.sleep(0.3)
    from PIL import Image
    rgb = np.asarray(Image.open(BytesIO(page.screenshot())).convert("RGB")).astype(int)
    drawn = np.abs(rgb - np.array([0x30, 0x34, 0x3A])).max(axis=2) > 3
    cam = page.evaluate("vrStudy.camera")
    view = np.asarray(cam["view"]).reshape(4, 4).T
    proj = np.asarray(cam["projection"]).reshape(4, 4).T
    size = (rgb.shape[1], rgb.shape[0])
    ref = {name: _silhouette(v, body.faces, view, proj, size) for name, v in (("with", want), ("without", without))}
    iou = {name: (drawn & r).sum() / (drawn | r).sum() for name, r in ref.items()}
    # the pixels where the corrected and uncorrected bodies differ: the page draws the corrected one
    differ = ref["with"] ^ ref["without"]
    agree = float((drawn == ref["with"])[differ].mean())
    print(f"silhouette IoU with correctives {iou['with']:.4f}, without {iou['without']:.4f}; "
          f"{differ.sum()} pixels differ, the page agrees with the corrected body on {agree:.1%}")
    assert iou["with"] >= MIN_SILHOUETTE_IOU and iou["without"] < iou["with"] - 0.04    # measured 0.963, 0.882
    assert differ.sum() > 0.005 * differ.size and agree > 0.75                             # measured 85 %


@pytest.mark.slow
def test_each_avatar_gets_its_own_pose_feature(site, page, real):
    """A second avatar in another pose: both are skinned with their own correctives."""
    other = np.zeros((55, 3))
    other[16] = [0.0, 0.0, -0.5]
    other[18] = [0.0, 0.9, 0.0]                                  # left elbow bent the other way
    last = page.evaluate("vrStudy.avatars.solo ? vrStudy.avatars.solo.seq : -1")   # (a test before may have run it)
    publish(site["pub"], "solo", np.repeat(posed()[None], 10, 0), 30.0, time.monotonic() + 0.05)
    publish(site["pub"], "duo", np.repeat(other[None], 10, 0), 30.0, time.monotonic() + 0.05)
    wait_for(page, f"vrStudy.avatars.duo && vrStudy.avatars.duo.seq === 9 && vrStudy.avatars.solo.seq === {last + 10} "
                   "&& Object.keys(vrStudy.placements).length === 2")
    time.sleep(0.2)                                              # a frame drawn with both placed
    lift = site["model"].meta["ground_offset_m"]
    places = conversational_placements(2)                        # sorted ids: duo, solo
    for name, pose, place in (("duo", other, places[0]), ("solo", posed(), places[1])):
        got = np.asarray(page.evaluate(f"vrStudy.debug.skinnedVertices('{name}')"), np.float64).reshape(-1, 3)
        err = np.linalg.norm(got[: real.num_vertices] - world(real, pose, lift, place), axis=1)
        assert err.max() < TOLERANCE_M, (name, err.max())
