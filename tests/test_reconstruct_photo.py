"""Reconstruction from a real photo of a person: scikit-image's astronaut (public domain)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from generators.reconstruction.keypoints import KeypointModel, load_smplx
from generators.reconstruction.limits import within_limits
from generators.reconstruction.pipeline import ReconstructOptions, reconstruct
from vr_study.body import default_body_model_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def astronaut_clip(tmp_path_factory):
    import cv2
    from skimage import data

    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return reconstruct(path, options=ReconstructOptions(fps_out=30.0))


def test_person_found_and_clip_valid(astronaut_clip):
    clip = astronaut_clip
    assert clip.num_frames == 1 and clip.fps == 30.0
    assert clip.meta.method == "reconstruction"
    assert clip.meta.extra["frames_with_person"] == 1
    assert clip.meta.extra["frames_with_face"] == 1
    assert within_limits(clip.full_pose()).all()


def test_upper_body_is_plausible(astronaut_clip):
    """Head above the shoulders, both arms hanging below them on their own sides, the
    elbows bent as in the photo (she holds her helmet on her left arm)."""
    body = load_smplx(default_body_model_path(), 16)
    kpm = KeypointModel.from_smplx(body)
    pose = torch.from_numpy(astronaut_clip.full_pose())
    kp = kpm.keypoints(pose, torch.from_numpy(astronaut_clip.expression[:, :16]))[0].numpy()
    head, neck, nose = kp[15], kp[12], kp[55]
    l_sh, r_sh, l_el, r_el, l_wr, r_wr = kp[16], kp[17], kp[18], kp[19], kp[20], kp[21]
    shoulders_y = max(l_sh[1], r_sh[1])
    assert head[1] > shoulders_y + 0.08 and nose[1] > neck[1]      # metres, y up
    assert l_sh[0] > r_sh[0]                                        # facing the camera: her left at +x
    for el, wr in ((l_el, l_wr), (r_el, r_wr)):
        assert el[1] < shoulders_y and wr[1] < shoulders_y - 0.15   # arms down, not a T-pose
    assert l_wr[0] > r_wr[0]                                        # each hand on its own side
    assert 0.2 < np.linalg.norm(l_sh - r_sh) < 0.5
