"""The layering of the guide, checked by import-linter with the contracts in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is not installed in this environment (make test installs it)"
    return exe


def test_import_contracts_are_kept() -> None:
    proc = subprocess.run([_lint_imports()], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_the_fixed_layout_exists() -> None:
    for name in (
        "firmware_protocol",
        "sensors",
        "analysis",
        "poise",
        "gui",
        "poise_cli",
        "tests",
        "recordings",
        "bench",
    ):
        assert (ROOT / name).is_dir(), f"missing top-level folder {name}/"
    assert (ROOT / "pyproject.toml").is_file()


def test_no_contract_needs_an_exception() -> None:
    """The command line sits above gui (poise_cli), so no import is an exception."""
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for c in cfg["tool"]["importlinter"]["contracts"]:
        assert not c.get("ignore_imports"), f"{c['name']}: ignore_imports {c['ignore_imports']}"
    layers = cfg["tool"]["importlinter"]["contracts"][0]["layers"]
    assert layers[:3] == ["poise_cli", "gui", "poise"]
