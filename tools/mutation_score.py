"""A bounded mutation run: does the test suite notice when the code is wrong?

Each mutant changes one operator or constant in one module (``+`` ↔ ``-``, ``*`` ↔ ``/``, ``<`` ↔ ``<=``,
``>`` ↔ ``>=``, ``==`` ↔ ``!=``, ``and`` ↔ ``or``, an integer n → n + 1, a float x → 1.1·x (0 → 0.1), ``True`` ↔
``False``), is written over the module, and the given tests run against it (``-x``, a time limit per mutant).
A mutant is *killed* when a test fails or the run times out, *survived* when every test passes. The module is
restored after every mutant, also on Ctrl+C. Mutants are drawn at random with a fixed seed among all sites,
so the score is an unbiased estimate and the run is repeatable.

    .venv/bin/python tools/mutation_score.py lensblur/optics tests/optics tests/test_pinned_behaviour.py \
        tests/render/test_scatter.py --mutants 40
    .venv/bin/python tools/mutation_score.py lensblur/io/limits.py tests/test_reliability.py --mutants 20

Not part of CI: a run takes minutes (each mutant runs its tests once).
"""

from __future__ import annotations

import argparse
import ast
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Lt: ast.LtE,
         ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
         ast.And: ast.Or, ast.Or: ast.And}


@dataclass(frozen=True)
class Site:
    path: Path
    index: int    # the index-th mutable node of the file, in ast.walk order
    line: int
    what: str


def _mutable(node: ast.AST) -> str | None:
    """What mutating ``node`` would do, or None if it is not a site."""
    if isinstance(node, ast.BinOp) and type(node.op) in SWAPS:
        return f"{type(node.op).__name__} -> {SWAPS[type(node.op)].__name__}"
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in SWAPS:
        return f"{type(node.ops[0]).__name__} -> {SWAPS[type(node.ops[0])].__name__}"
    if isinstance(node, ast.BoolOp):
        return f"{type(node.op).__name__} -> {SWAPS[type(node.op)].__name__}"
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
        if isinstance(node.value, bool):
            return f"{node.value} -> {not node.value}"
        return f"{node.value!r} -> {_changed(node.value)!r}"
    return None


def _changed(value: int | float) -> int | float:
    if isinstance(value, int):
        return value + 1
    return value * 1.1 if value != 0 else 0.1  # 0.0 * 1.1 would be no change at all


def _docstring_constants(tree: ast.AST) -> set[int]:
    """ids of nodes that are docstrings or annotations (mutating them changes nothing that runs)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.arg, ast.AnnAssign)) and getattr(node, "annotation", None) is not None:
            skip.update(id(n) for n in ast.walk(node.annotation))
    return skip


def sites(path: Path) -> list[Site]:
    tree = ast.parse(path.read_text())
    skip = _docstring_constants(tree)
    found, index = [], 0
    for node in ast.walk(tree):
        what = _mutable(node)
        if what is None:
            continue
        if id(node) not in skip:
            found.append(Site(path, index, node.lineno, what))
        index += 1
    return found


def mutate(source: str, index: int) -> str:
    tree = ast.parse(source)
    count = 0
    for node in ast.walk(tree):
        if _mutable(node) is None:
            continue
        if count == index:
            if isinstance(node, ast.BinOp):
                node.op = SWAPS[type(node.op)]()
            elif isinstance(node, ast.Compare):
                node.ops = [SWAPS[type(node.ops[0])]()]
            elif isinstance(node, ast.BoolOp):
                node.op = SWAPS[type(node.op)]()
            elif isinstance(node.value, bool):
                node.value = not node.value
            else:
                node.value = _changed(node.value)
            return ast.unparse(tree)
        count += 1
    raise IndexError(index)


def run(tests: list[str], timeout_s: float) -> str:
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header", *tests]
    try:
        result = subprocess.run(cmd, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return "killed (timeout)"
    return "survived" if result.returncode == 0 else "killed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("code", type=Path, help="a module or a package folder to mutate")
    parser.add_argument("tests", nargs="+", help="test files or folders to run against each mutant")
    parser.add_argument("--mutants", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout-s", type=float, default=120.0)
    args = parser.parse_args()
    files = sorted(args.code.rglob("*.py")) if args.code.is_dir() else [args.code]
    every = [site for f in files if f.name != "__init__.py" for site in sites(f)]
    chosen = sorted(random.Random(args.seed).sample(every, min(args.mutants, len(every))),
                    key=lambda s: (str(s.path), s.index))
    if run(args.tests, args.timeout_s) != "survived":
        sys.exit("the tests fail on the unmutated code; fix that first")
    results = []
    start = time.perf_counter()
    for site in chosen:
        original = site.path.read_text()
        try:
            site.path.write_text(mutate(original, site.index))
            outcome = run(args.tests, args.timeout_s)
        finally:
            site.path.write_text(original)
        results.append((site, outcome))
        print(f"{outcome:16s} {site.path}:{site.line}  {site.what}", flush=True)
    killed = sum(outcome.startswith("killed") for _, outcome in results)
    print(f"\n{killed} of {len(results)} mutants killed ({100 * killed / max(1, len(results)):.0f} %), "
          f"{len(every)} sites in scope, seed {args.seed}, {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
