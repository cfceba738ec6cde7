"""Study specs: the template validates; bad specs give one-line errors naming line and field."""
from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from study_helpers import SHORT_SPEC, make_study
from vr_study.errors import InputError
from vr_study.study.spec import SpecError, load_spec, parse_spec
from vr_study.study.stimuli import clips_by_cell

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vr_study.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_init_writes_a_study_that_validates_and_plans_48(tmp_path):
    r = cli("study", "init", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    spec = load_spec(tmp_path / "study.yaml")
    assert spec.factors == {"method": ["emage", "talkshow", "amuse", "reconstruction"],
                            "emotion": ["happy", "neutral"]}
    assert spec.study.participants == 48 and spec.counterbalancing.design == "williams"
    r = cli("study", "validate", str(tmp_path / "study.yaml"), "--no-library")
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout and "8 cells" in r.stdout
    r = cli("study", "init", "-o", str(tmp_path))
    assert r.returncode == 2 and "already exists" in r.stderr and "--force" in r.stderr
    out = tmp_path / "plan.csv"
    r = cli("study", "plan", str(tmp_path / "study.yaml"), "--participants", "48", "-o", str(out), "--no-library")
    assert r.returncode == 0, r.stderr
    assert "complete replication" in r.stdout and "carry-over balanced: yes" in r.stdout
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    per = len(rows) / 48
    assert per == int(per) and {r["participant_id"] for r in rows} == {f"P{i:02d}" for i in range(1, 49)}


def test_unknown_method_names_line_field_and_suggestion():
    text = SHORT_SPEC.format(kind="playback").replace("[emage, reconstruction]", "[EMAG, reconstruction]")
    with pytest.raises(SpecError) as e:
        parse_spec(text, "study.yaml")
    line = _line_of(text, "EMAG")
    assert str(e.value).startswith(f"study.yaml:{line}: factors.method[0]: unknown method 'EMAG'")
    assert "did you mean 'emage'" in str(e.value) and "known:" in str(e.value)
    assert "\n" not in str(e.value)


def test_misspelt_field_and_wrong_type_are_each_located():
    text = SHORT_SPEC.format(kind="playback").replace("  seed: 7", "  sed: 7").replace(
        "  attention_checks:", "  repetitions: two\n  attention_checks:")
    with pytest.raises(SpecError) as e:
        parse_spec(text, "s.yaml")
    probs = e.value.problems
    assert any(p.startswith(f"s.yaml:{_line_of(text, 'sed: 7')}: study.sed: unknown field 'sed'")
               and "did you mean 'seed'" in p for p in probs), probs
    assert any(p.startswith(f"s.yaml:{_line_of(text, 'repetitions: two')}: trials.repetitions:") for p in probs), probs


def test_unknown_instrument_and_bad_block_factor():
    text = SHORT_SPEC.format(kind="playback").replace("after_session: [sam]", "after_session: [godspeeed]")
    with pytest.raises(SpecError) as e:
        parse_spec(text, "s.yaml")
    assert e.value.problems[0].startswith(f"s.yaml:{_line_of(text, 'godspeeed')}: questionnaires.after_session[0]")
    assert "did you mean 'godspeed'" in e.value.problems[0]
    text = SHORT_SPEC.format(kind="playback").replace("design: williams", "design: williams\n  block_by: emotin")
    with pytest.raises(SpecError) as e:
        parse_spec(text, "s.yaml")
    assert e.value.problems[0].startswith(f"s.yaml:{_line_of(text, 'emotin')}: counterbalancing.block_by")


def test_validate_cli_lists_every_problem_one_line_each_exit_2(tmp_path):
    spec = tmp_path / "study.yaml"
    spec.write_text(SHORT_SPEC.format(kind="playback").replace("[emage, reconstruction]", "[EMAG, recon]"))
    r = cli("study", "validate", str(spec), "--no-library")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {spec}:") for line in lines)
    assert "Traceback" not in r.stderr


def test_missing_clip_and_cell_without_stimuli(tmp_path):
    spec_path = make_study(tmp_path / "s")
    spec = load_spec(spec_path)
    cells = clips_by_cell(spec)
    assert len(cells) == 4 and all(len(v) == 1 for v in cells.values())
    victim = cells[("emage", "neutral")][0].path
    victim.unlink()
    with pytest.raises(InputError, match="listed in the manifest but missing"):
        clips_by_cell(spec)
    r = cli("study", "validate", str(spec_path))
    assert r.returncode == 2 and "missing" in r.stderr and "Traceback" not in r.stderr
    spec_path.write_text(spec_path.read_text().replace("[happy, neutral]", "[happy, neutral, angry]"))
    with pytest.raises(InputError) as e:
        clips_by_cell(load_spec(spec_path))
    assert "no clip" in str(e.value) and "emotion=angry" in str(e.value)


def test_spec_file_errors(tmp_path):
    r = cli("study", "validate", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("study:\n  id: x\n factors: [\n")
    r = cli("study", "validate", str(bad))
    assert r.returncode == 2 and "not valid YAML" in r.stderr and f"{bad}:" in r.stderr
