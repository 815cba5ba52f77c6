"""Markdown tables for docs/performance.md from a benchmark result (nothing typed by hand).

    .venv/bin/python benchmarks/report.py [benchmarks/results/latest.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ORDER = ("match_user_miss", "create_user", "match_user_hit", "patch_user", "deactivate_user",
         "get_user", "delete_user", "match_group_miss", "create_group", "match_group_hit",
         "member_add_50", "member_remove_2", "list_cursor_page", "list_index_page",
         "big_member_add_50", "get_big_group_excluded", "get_big_group_full")


def _get(d: dict[str, Any], key: str) -> str:
    value = d.get(key)
    return "-" if value is None else str(value)


def cpu(level: dict[str, Any], key: str) -> float | None:
    """Per-operation figure over the workload's phases, weighted by their operations."""
    phases = ("initial_users", "initial_groups", "incremental")
    ph = [level["phases"][p] for p in phases if p in level.get("phases", {})]
    ops: int = sum(int(p["ops"]) for p in ph)
    if not ops or any(p.get(key) is None for p in ph):
        return None
    total: float = sum(float(p[key]) * p["ops"] for p in ph)
    return round(total / ops, 2)


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benchmarks/results/latest.json"
    r: dict[str, Any] = json.loads(path.read_text())
    ours = r["targets"]["ours"]["levels"]
    peer = r["targets"].get("scim2-server", {}).get("levels", {})
    sizes = sorted(ours, key=int)
    big = sizes[-1]
    m = r["machine"]
    print(f"Run `{path.name}`: {m['nproc']} x {m['cpu_model']}, Python {m['python']}, "
          f"load average {m['loadavg_at_start'][0]} at start"
          + (f", {m['loadavg_at_end'][0]} at end" if "loadavg_at_end" in m else "")
          + f"; command `{r['command']}`.\n")
    print("| tenant size | ours: workload ops/s | scim2-server: workload ops/s | ratio | "
          "ours: app process CPU ms/op (+ Azurite) | scim2-server: CPU ms/op | "
          "peak memory ours / peer (MB) |")
    print("|---|---|---|---|---|---|---|")
    for size in sizes:
        a, b = ours[size], peer.get(size, {})

        ratio = (f"{a['workload_ops_per_s'] / b['workload_ops_per_s']:.2f}x"
                 if b.get("workload_ops_per_s") else "-")
        print(f"| {int(size):,} | {a['workload_ops_per_s']} | {_get(b, 'workload_ops_per_s')} | "
              f"{ratio} | {cpu(a, 'process_cpu_ms_per_op')} "
              f"(+{cpu(a, 'storage_emulator_cpu_ms_per_op')}) | "
              f"{cpu(b, 'process_cpu_ms_per_op') if b else '-'} | "
              f"{a['peak_memory_mb']} / {_get(b, 'peak_memory_mb')} |")
    print(f"\nPer operation at {int(sizes[0]):,} → {int(big):,} users (p50 latency; ours: "
          "storage round trips and app CPU per request, median):\n")
    # The peer may stop short of the largest size (--peer-max): its columns span what it ran.
    peer_big = max(peer, key=int) if peer else big
    print(f"| operation | ours p50 ms {int(sizes[0]):,} → {int(big):,} | ours p99 ms at "
          f"{int(big):,} | round trips | app CPU ms | scim2-server p50 ms "
          f"{int(sizes[0]):,} → {int(peer_big):,} | scim2-server errors |")
    print("|---|---|---|---|---|---|---|")
    for kind in ORDER:
        k_big = ours[big]["kinds"].get(kind)
        if k_big is None:
            continue
        k_small = ours[sizes[0]]["kinds"].get(kind)
        p_small = peer.get(sizes[0], {}).get("kinds", {}).get(kind)
        p_big = peer.get(peer_big, {}).get("kinds", {}).get(kind)
        peer_kind = kind
        if p_big is None and kind == "list_cursor_page":
            peer_kind = "list_index_page"
            p_small = peer.get(sizes[0], {}).get("kinds", {}).get(peer_kind)
            p_big = peer.get(peer_big, {}).get("kinds", {}).get(peer_kind)
        small_ms = f"{k_small['p50_ms']} → " if k_small else ""
        peer_ms = (f"{p_small['p50_ms'] if p_small else '-'} → {p_big['p50_ms']}"
                   if p_big else "-")
        if peer_kind != kind and p_big:
            peer_ms += " (startIndex)"
        errors = sum(p["errors"] for p in (p_small, p_big) if p)
        rt = k_big.get("round_trips_p50", "-")
        rt_text = f"{rt:g}" if isinstance(rt, float | int) else rt
        print(f"| {kind} | {small_ms}{k_big['p50_ms']} | {k_big['p99_ms']} | {rt_text} | "
              f"{k_big.get('app_cpu_p50_ms', '-')} | {peer_ms} | {errors or ''} |")
    print("\nListing every user (pages of 100):\n")
    for name, target in r["targets"].items():
        for size, level in sorted(target["levels"].items(), key=lambda kv: int(kv[0])):
            walk = level["phases"].get("list_all_users")
            if walk:
                print(f"- {name}, {int(size):,} users: {walk['ops']} pages in {walk['wall_s']} s, "
                      f"{walk.get('listed')} listed, {walk.get('distinct')} distinct")
    print("\nTargets (checked by the harness):\n")
    for c in r["checks"]:
        print(f"- {'PASS' if c['ok'] else '**FAIL**'} {c['target']}: {c['detail']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
