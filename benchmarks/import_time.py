"""Cold-start import cost: `python -c "import function_app"` in fresh interpreters.

    .venv/bin/python benchmarks/import_time.py [--runs 10]

Reports the wall time of the import alone (measured inside each fresh process) and of the
whole interpreter run, median and worst, and the first request's extra cost of loading the
service (storage SDK, pydantic) — which indexing never pays.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORT = "import time; t=time.perf_counter(); import function_app; print(time.perf_counter()-t)"
SERVICE = ("import time; import function_app; t=time.perf_counter(); "
           "import shared.service.app, shared.store.connection; print(time.perf_counter()-t)")


def sample(code: str, runs: int) -> tuple[list[float], list[float]]:
    inner, outer = [], []
    for n in range(runs):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        outer.append(time.perf_counter() - start)
        inner.append(float(out))
        print(f"\r  run {n + 1}/{runs}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return inner, outer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print("import function_app (cold, fresh interpreter):", file=sys.stderr)
    inner, outer = sample(IMPORT, args.runs)
    print("first-request service load after indexing:", file=sys.stderr)
    service, _ = sample(SERVICE, args.runs)
    result = {
        "runs": args.runs,
        "import_function_app_s": {"median": statistics.median(inner), "max": max(inner)},
        "interpreter_total_s": {"median": statistics.median(outer), "max": max(outer)},
        "service_load_on_first_request_s": {"median": statistics.median(service),
                                            "max": max(service)},
        "budget_s": 1.5,
    }
    print(json.dumps(result, indent=2))
    return 0 if max(inner) < 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
