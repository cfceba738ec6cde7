"""The layering rule stated in the README (Architecture): the core never imports the packages built on it."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HIGHER = {"generators", "questionnaires", "analysis"}
ALLOWED = {"vr_study/cli"}  # the one place that wires the packages together


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_does_not_import_higher_layers():
    offenders = []
    for path in sorted((ROOT / "vr_study").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if any(rel.startswith(a) for a in ALLOWED):
            continue
        bad = imported_top_levels(path) & HIGHER
        if bad:
            offenders.append(f"{rel} imports {sorted(bad)}")
    assert not offenders, "core modules import higher layers:\n" + "\n".join(offenders)


def test_side_packages_do_not_import_each_other_or_the_cli():
    offenders = []
    for pkg in HIGHER:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            names = imported_top_levels(path)
            bad = (names & HIGHER) - {pkg}
            src = path.read_text()
            if "vr_study.cli" in src:
                bad.add("vr_study.cli")
            if bad:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_assets_hold_no_code():
    code = [p for p in (ROOT / "assets").rglob("*.py") if p.name != "__init__.py"]
    assert not code, f"assets/ is data only: {code}"
