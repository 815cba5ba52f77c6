"""Cold-start import cost: `python -c "import function_app"` in fresh interpreters.

    .venv/bin/python benchmarks/import_time.py [--runs 10] [--base REV]

Reports the wall time of the import alone (measured inside each fresh process) and of the
whole interpreter run, median and worst, and the first request's extra cost of loading the
service (the store's client, pydantic) — which indexing never pays. `--base REV` measures the
app as it was at git revision REV too (its tree unpacked by `git archive`), the two taking
turns run by run, so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORT = "import time; t=time.perf_counter(); import function_app; print(time.perf_counter()-t)"
SERVICE = ("import time; import function_app; t=time.perf_counter(); "
           "import shared.service.app, shared.store.connection; print(time.perf_counter()-t)")


def sample(code: str, runs: int, trees: dict[str, Path]
           ) -> dict[str, tuple[list[float], list[float]]]:
    """For each tree: the times `code` printed and the interpreter runs' wall times."""
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in trees}
    for n in range(runs):
        for name, tree in trees.items():
            start = time.perf_counter()
            printed = subprocess.run([sys.executable, "-c", code], cwd=tree, check=True,
                                     capture_output=True, text=True).stdout
            out[name][1].append(time.perf_counter() - start)
            out[name][0].append(float(printed))
        print(f"\r  run {n + 1}/{runs}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return out


def _tree_at(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _figures(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--base", default="", help="git revision to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        trees = {"today": ROOT}
        if args.base:
            trees = {f"at {args.base}": _tree_at(args.base, Path(scratch)), **trees}
        print("import function_app (cold, fresh interpreter):", file=sys.stderr)
        imports = sample(IMPORT, args.runs, trees)
        print("first-request service load after indexing:", file=sys.stderr)
        services = sample(SERVICE, args.runs, trees)
    result: dict[str, object] = {"runs": args.runs, "budget_s": 1.5}
    for name in trees:
        inner, outer = imports[name]
        result[name] = {"import_function_app_s": _figures(inner),
                        "interpreter_total_s": _figures(outer),
                        "service_load_on_first_request_s": _figures(services[name][0])}
    print(json.dumps(result, indent=2))
    return 0 if max(imports["today"][0]) < 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
