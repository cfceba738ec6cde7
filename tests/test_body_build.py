"""The default body model is rebuilt by `vr-study body build` exactly as committed."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vr_study.body.model import default_body_model_path

CLI = [sys.executable, "-m", "vr_study.cli"]


@pytest.mark.slow
def test_rebuild_matches_the_committed_asset(tmp_path):
    out = tmp_path / "SMPLX_NEUTRAL.npz"
    r = subprocess.run(CLI + ["body", "build", "-o", str(out)], capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and not list(tmp_path.glob(".SMPLX*"))  # no temporary file left behind
    assert out.stat().st_size < 5e6  # a few MB at most
    new, old = np.load(out), np.load(default_body_model_path())
    assert sorted(new.files) == sorted(old.files)
    for key in old.files:
        a, b = new[key], old[key]
        assert a.shape == b.shape and a.dtype == b.dtype, key
        if a.dtype.kind in "fc":
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(a, b, err_msg=key)


def test_build_refuses_a_non_npz_output(tmp_path):
    r = subprocess.run(CLI + ["body", "build", "-o", str(tmp_path / "body.obj")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "error:" in r.stderr and ".npz" in r.stderr
    assert not (tmp_path / "body.obj").exists()
