"""Figures of issue 12 (the seams): how many places know a clinical test, long functions, Any.

Prints, for the source tree (``firmware_protocol``, ``sensors``, ``analysis``, ``poise``,
``gui``, ``bench``, ``recordings/*.py`` and the packages' data ``.json``; never ``tests/``):

* per clinical test key: the non-test source files that spell it as a string, in its
  own spelling or with underscores (``"chair-stand-30s"``, ``'chair_stand_30s'``), and
  how many more name a key that starts with it (``"chair_stand_30s_count"``);
* functions longer than 80 and 100 lines (``def`` line to the last line of the body);
* the share of ``Any`` among the annotated parameters of public functions and methods
  (a name without a leading underscore, in a module without one), per package;
* the ``ignore_imports`` entries of the import-linter contracts in pyproject.toml.

Run: ``.venv/bin/python bench/seams.py [--keys a,b,...] [--list]`` (``--list`` names the
long functions).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("firmware_protocol", "sensors", "analysis", "poise", "gui")
#: The tests Poise had when issue 12 was filed, and the three it adds.
DEFAULT_KEYS = (
    "sway",
    "four-stage",
    "tug",
    "chair-stand-30s",
    "five-times-sts",
    "walk-2min",
    "walk-6min",
    "ten-metre-walk",
    "single-leg-stance",
    "turn-360",
)


def source_files() -> list[Path]:
    """The non-test source files (Python and the packages' JSON data)."""
    out: list[Path] = []
    for pkg in (*PACKAGES, "bench"):
        out += sorted((ROOT / pkg).rglob("*.py"))
        out += sorted((ROOT / pkg).rglob("*.json")) if pkg in PACKAGES else []
    out += sorted((ROOT / "recordings").glob("*.py"))
    this = Path(__file__).resolve()
    return [p for p in out if "__pycache__" not in p.parts and p.resolve() != this]


def key_places(key: str, files: list[Path]) -> tuple[list[str], list[str]]:
    """Files spelling ``key`` as a whole string, and files with a string starting with it."""
    spelled = "[-_]".join(re.escape(part) for part in re.split("[-_]", key))
    exact = re.compile(rf"[\"']{spelled}[\"']")
    prefix = re.compile(rf"[\"']{spelled}[-_a-z0-9]")
    whole, prefixed = [], []
    for p in files:
        text = p.read_text(encoding="utf-8", errors="replace")
        rel = str(p.relative_to(ROOT))
        if exact.search(text):
            whole.append(rel)
        elif prefix.search(text):
            prefixed.append(rel)
    return whole, prefixed


def functions(files: list[Path]) -> list[tuple[int, str]]:
    """(lines, "file:line name") of every function and method."""
    out = []
    for p in files:
        if p.suffix != ".py":
            continue
        tree = ast.parse(p.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                out.append((n, f"{p.relative_to(ROOT)}:{node.lineno} {node.name}"))
    return sorted(out, reverse=True)


def any_share(files: list[Path]) -> dict[str, tuple[int, int]]:
    """Per package: (public parameters annotated ``Any``, public parameters annotated)."""
    out: dict[str, tuple[int, int]] = {}
    for p in files:
        rel = p.relative_to(ROOT)
        if p.suffix != ".py" or rel.parts[0] not in PACKAGES:
            continue
        if any(part.startswith("_") and part != "__init__.py" for part in rel.parts):
            continue
        tree = ast.parse(p.read_text(encoding="utf-8"))
        n_any = n_all = 0
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith("_") and node.name != "__init__":
                continue
            args = node.args
            for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if a.arg in ("self", "cls") or a.annotation is None:
                    continue
                n_all += 1
                if ast.unparse(a.annotation).strip("'\"") == "Any":
                    n_any += 1
        a0, t0 = out.get(rel.parts[0], (0, 0))
        out[rel.parts[0]] = (a0 + n_any, t0 + n_all)
    return out


def ignore_imports() -> list[str]:
    """The ``ignore_imports`` entries of every import-linter contract."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    out = []
    for c in cfg["tool"]["importlinter"]["contracts"]:
        out += [f"{c['name']}: {x}" for x in c.get("ignore_imports", [])]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", help="comma-separated test keys (default: the ten of issue 12)")
    ap.add_argument("--list", action="store_true", help="name the functions over 80 lines")
    args = ap.parse_args()
    files = source_files()
    keys = args.keys.split(",") if args.keys else list(DEFAULT_KEYS)
    print(f"== test keys in non-test source files ({len(files)} files read)")
    for key in keys:
        whole, prefixed = key_places(key, files)
        print(f"  {key}: {len(whole)} file(s) {', '.join(whole) or '-'}")
        if prefixed:
            print(f"    + {len(prefixed)} more with a key starting with it: {', '.join(prefixed)}")
    fns = functions(files)
    long80 = [f for f in fns if f[0] > 80]
    long100 = [f for f in fns if f[0] > 100]
    print(f"== functions: {len(fns)}; over 80 lines: {len(long80)}; over 100 lines: {len(long100)}")
    if args.list:
        for n, where in long80:
            print(f"  {n:4d}  {where}")
    print("== Any among the annotated parameters of public functions")
    tot_a = tot_n = 0
    for pkg, (a, n) in sorted(any_share(files).items()):
        tot_a, tot_n = tot_a + a, tot_n + n
        print(f"  {pkg}: {a}/{n} = {100 * a / max(n, 1):.1f} %")
    print(f"  all: {tot_a}/{tot_n} = {100 * tot_a / max(tot_n, 1):.1f} %")
    ignores = ignore_imports()
    print(f"== ignore_imports in the import-linter contracts: {len(ignores)}")
    for x in ignores:
        print(f"  {x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
