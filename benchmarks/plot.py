"""Scale curves from a benchmark result: p50 latency and app CPU per operation against the
tenant's size, ours and the peer's. Runs in .venv-bench (matplotlib).

    .venv-bench/bin/python benchmarks/plot.py [RESULT.json] [-o docs/perf-scale.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("match_user_miss", "create_user", "match_user_hit", "patch_user", "deactivate_user",
         "get_user", "delete_user", "match_group_hit", "member_add_50", "list_cursor_page")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("result", nargs="?", default=str(ROOT / "benchmarks/results/latest.json"))
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "perf-scale.png"))
    args = parser.parse_args()
    result: dict[str, Any] = json.loads(Path(args.result).read_text())
    fig, (lat, cpu) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=90)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, kind in enumerate(KINDS):
        for name, style in (("ours", "-"), ("scim2-server", ":")):
            levels = result["targets"].get(name, {}).get("levels", {})
            points = sorted((int(s), lv["kinds"][kind]) for s, lv in levels.items()
                            if kind in lv["kinds"])
            if not points:
                continue
            xs = [p[0] for p in points]
            label = kind if name == "ours" else None
            lat.plot(xs, [p[1]["p50_ms"] for p in points], style, marker="o", markersize=3,
                     color=colors[n % len(colors)], label=label)
            if name == "ours":
                cpu.plot(xs, [p[1].get("app_cpu_p50_ms", float("nan")) for p in points],
                         style, marker="o", markersize=3, color=colors[n % len(colors)])
    for ax, title in ((lat, "p50 latency (ms); dotted: scim2-server"),
                      (cpu, "app CPU per request, p50 (ms), ours")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("users in the tenant")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    lat.legend(fontsize=7, ncol=2)
    machine = result["machine"]
    fig.suptitle(f"Entra cycle at growing tenant sizes — {machine['nproc']} x "
                 f"{machine['cpu_model']}, Azurite; {result['started']}", fontsize=9)
    fig.tight_layout()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
