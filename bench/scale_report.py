"""The "Search at scale" section of the benchmark's table, from scale.json (bench/scale.py).
bench/report.py prints it; `python3 bench/scale_report.py BENCH_OUT` prints it alone."""
import json
import pathlib
import sys


def print_section(out):
    r = json.loads((pathlib.Path(out) / "scale.json").read_text())
    seed, scaled = r["seed"], r["scaled"]
    small, large = seed["recipes"], scaled["recipes"]
    title = (f"Search at scale: GET /api/v1/recipes/search/?keyword=... (max_results {r['max_results']}), "
             f"{small:,} recipes, then {large:,}")
    print(f"\n{title}\n{'-' * len(title)}")
    print(f"  {'':<31}{'p50 ms':>17}{'':>9}{'rows read per search':>28}")
    print(f"  {'keyword':<22}{'matches':>9}{small:>8,}{large:>9,}{'ratio':>9}"
          f"{small:>8,}{large:>9,}{'scan before':>13}")
    for name, a in seed["keywords"].items():
        b = scaled["keywords"][name]
        label = f"{name:<7}{a.get('shown', json.dumps(a['keyword']))}"
        print(f"  {label:<22}{b['matches']:>9,}{a['p50_ms']:>8.1f}{b['p50_ms']:>9.1f}"
              f"{b['p50_ms'] / a['p50_ms']:>7.2f} x{a['rows_read']:>8,}{b['rows_read']:>9,}"
              f"{b['scan_rows_read']:>13,}")
    same = all(k["same_as_scan"] for size in (seed, scaled) for k in size["keywords"].values())
    for name, b in scaled["keywords"].items():
        print(f"  {name}: {b['what']}")
    print(f"  p50: sequential searches through wrangler dev on one keep-alive connection, {r['requests']} per")
    print(f"  keyword and size, the keywords taking turns; ratio: p50 with {large:,} recipes over p50 with {small:,}.")
    print("  matches: rows whose label holds the keyword, at the larger size. rows read: local D1's")
    cap = f", at most {r['search_candidates']:,}" if r.get("search_candidates") else ""
    print("  meta.rows_read for the worker's search, from its request log line (the candidates the")
    print(f"  trigram index yields in id order{cap}, and the recipes checked; the index's")
    print("  own blocks are not counted), and for the scan search ran before it.")
    print(f"  Results equal to that scan's at both sizes: {'yes' if same else 'NO'}. "
          f"{r['extra_rows']:,} recipes added in {r['load_seconds']:.0f} s")
    print("  (Python's sqlite3 on the local D1's file; the index's triggers fire per row).")

if __name__ == "__main__":
    print_section(sys.argv[1])
