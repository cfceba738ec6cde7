"""Body-model and PIXIE pickles go through the restricted unpickler: arrays in, never code."""
from __future__ import annotations

import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from vr_study.body import load_body_model
from vr_study.body.model import default_body_model_path
from vr_study.cli import main
from vr_study.safe_pickle import RefusedPickle, loads


class _Exploit:
    """Pickles as ``os.system('touch MARKER')``: what a crafted .pkl would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalExploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))


@pytest.mark.parametrize("exploit", [_Exploit, _EvalExploit])
@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_malicious_body_model_pickle_runs_nothing_and_exits_2(tmp_path, capsys, exploit, protocol):
    marker = tmp_path / "pwned"
    evil = tmp_path / "SMPLX_NEUTRAL.pkl"
    evil.write_bytes(pickle.dumps({"v_template": exploit(marker)}, protocol=protocol))
    rc = main(["body", "info", str(evil)])
    err = capsys.readouterr().err
    assert rc == 2
    assert not marker.exists(), "the pickle ran code"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(evil) in lines[0]
    assert "refusing to load" in lines[0] and "Traceback" not in err


def test_malicious_pickle_through_the_environment_variable(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "pwned"
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "SMPLX_MALE.pkl").write_bytes(pickle.dumps([_Exploit(marker)], protocol=2))
    monkeypatch.setenv("VR_STUDY_SMPLX_DIR", str(folder))
    assert main(["body", "info", "--gender", "male"]) == 2
    assert not marker.exists()
    assert capsys.readouterr().err.count("\n") == 1


def _fake_chumpy() -> type:
    """A stand-in for chumpy.ch.Ch with chumpy's own __getstate__ (instance dict minus caches)."""

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x, np.float64)
            self.dterms = ["x"]
            self._dirty_vars = set()
            self._make_dense = False

        def __getstate__(self):
            return dict(self.__dict__)

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    return Ch


def _dump_with_fake_chumpy(obj_fn, protocol: int) -> bytes:
    ch_mod = types.ModuleType("chumpy.ch")
    pkg = types.ModuleType("chumpy")
    Ch = _fake_chumpy()
    ch_mod.Ch = Ch
    sys.modules.update({"chumpy": pkg, "chumpy.ch": ch_mod})
    try:
        return pickle.dumps(obj_fn(Ch), protocol=protocol)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


@pytest.mark.parametrize("protocol", [0, 2])
def test_smplx_style_pickle_with_chumpy_and_sparse_loads_as_arrays(tmp_path, protocol):
    """Real SMPL/SMPL-X .pkl files hold chumpy Ch arrays and a scipy CSC J_regressor."""
    src = dict(np.load(default_body_model_path()))
    ref = load_body_model()

    def build(Ch):
        d = {k: v for k, v in src.items()}
        d["v_template"] = Ch(src["v_template"])
        d["shapedirs"] = Ch(src["shapedirs"])
        d["J_regressor"] = sp.csc_matrix(src["J_regressor"])
        d["weights"] = sp.csr_matrix(src["weights"])
        return d

    data = _dump_with_fake_chumpy(build, protocol)
    assert "chumpy" not in sys.modules or not hasattr(sys.modules["chumpy"], "ch")
    loaded = loads(data)
    assert isinstance(loaded["v_template"], np.ndarray) and isinstance(loaded["J_regressor"], np.ndarray)
    assert np.array_equal(loaded["J_regressor"], src["J_regressor"])
    pkl = tmp_path / "SMPLX_NEUTRAL.pkl"
    pkl.write_bytes(data)
    m = load_body_model(pkl)
    pose = np.random.default_rng(0).normal(0, 0.2, (55, 3))
    assert np.abs(m.pose_frame(pose) - ref.pose_frame(pose)).max() < 1e-5


def test_other_chumpy_classes_and_sparse_with_bad_state_are_refused():
    with pytest.raises(RefusedPickle, match="chumpy.reordering.Select"):
        loads(b"cchumpy.reordering\nSelect\nq\x00)\x81q\x01.")
    with pytest.raises(RefusedPickle, match="refusing to load subprocess.Popen"):
        loads(b"csubprocess\nPopen\n(S'true'\ntR.")
    # copyreg._reconstructor may only rebuild placeholders, never an arbitrary class
    with pytest.raises(RefusedPickle):
        loads(b"ccopy_reg\n_reconstructor\n(cnumpy\nndarray\ncbuiltins\nobject\nNtR.")
