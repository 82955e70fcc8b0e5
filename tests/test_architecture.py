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


PACKAGES = ("firmware_protocol", "sensors", "analysis", "poise", "gui")


def test_the_fixed_layout_exists() -> None:
    for name in (*PACKAGES, "tests", "recordings", "bench"):
        assert (ROOT / name).is_dir(), f"missing top-level folder {name}/"
    assert (ROOT / "pyproject.toml").is_file()
    # and no other top-level package: the layout is fixed
    tracked = subprocess.run(
        ["git", "ls-files", "*/__init__.py"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    if tracked:  # a git checkout (CI clones one)
        tops = {Path(f).parts[0] for f in tracked}
        assert tops <= {*PACKAGES, "tests"}, f"packages outside the layout: {tops}"


def test_no_contract_needs_an_exception() -> None:
    """The headless commands are poise's, the window ones gui's: no import is an exception."""
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    imports = cfg["tool"]["importlinter"]
    assert imports["root_packages"] == list(PACKAGES)
    for c in imports["contracts"]:
        assert not c.get("ignore_imports"), f"{c['name']}: ignore_imports {c['ignore_imports']}"
    assert imports["contracts"][0]["layers"][:2] == ["gui", "poise"]
    assert cfg["project"]["scripts"]["poise"] == "gui.commands:main"
