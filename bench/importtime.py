"""How fast the command line starts: import cost of ``lifecircle.cli`` and ``lifecircle --help``.

    python bench/importtime.py            # 5 runs each, medians; exit 1 when over budget
    python bench/importtime.py --runs 9

Budgets (issue 14): ``import lifecircle.cli`` under 0.5 s of cumulative import
time as ``python -X importtime`` reports it, and ``lifecircle --help`` under
1 s of wall time. Heavy modules (osmnx, geopandas, folium, matplotlib, scipy)
must be imported where they are used, never by the CLI's module; the script
also lists any of them that ``import lifecircle.cli`` loads.

Not a test: timings depend on the machine and its load, so they are reported
and compared here, never asserted in the test suite.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time

IMPORT_BUDGET_S = 0.5
HELP_BUDGET_S = 1.0
HEAVY = ("osmnx", "geopandas", "folium", "matplotlib", "scipy", "networkx", "shapely", "osmium", "pandas",
         "lifecircle.pipeline")

_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s*(\S+)")


def import_seconds() -> tuple[float, list[tuple[float, str]]]:
    """Cumulative import time of ``lifecircle.cli`` (s) and the six slowest imports of the run."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import lifecircle.cli"],
                          capture_output=True, text=True, check=True)
    total, rows = None, []
    for line in proc.stderr.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        cumulative, name = int(m.group(2)) / 1e6, m.group(3)
        if name == "lifecircle.cli":
            total = cumulative
        rows.append((cumulative, name))
    if total is None:
        raise SystemExit("python -X importtime printed no line for lifecircle.cli")
    rows.sort(reverse=True)
    return total, rows[:6]


def heavy_modules() -> list[str]:
    """Heavy modules that ``import lifecircle.cli`` loads (should be none)."""
    code = f"import sys, lifecircle.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return out.split()


def help_seconds() -> float:
    """Wall time of ``lifecircle --help`` (the console script when installed, else ``python -m``)."""
    exe = shutil.which("lifecircle")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "lifecircle.cli", "--help"]
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median reported)")
    args = parser.parse_args()
    imports = [import_seconds() for _ in range(args.runs)]
    imp = statistics.median(t for t, _ in imports)
    hlp = statistics.median(help_seconds() for _ in range(args.runs))
    heavy = heavy_modules()
    print(f"import lifecircle.cli: {imp * 1000:.0f} ms cumulative (median of {args.runs}; budget "
          f"{IMPORT_BUDGET_S * 1000:.0f} ms)")
    for seconds, name in imports[0][1]:
        print(f"    {seconds * 1000:7.1f} ms  {name}")
    print(f"lifecircle --help: {hlp * 1000:.0f} ms wall (median of {args.runs}; budget {HELP_BUDGET_S * 1000:.0f} ms)")
    print(f"heavy modules loaded by import lifecircle.cli: {', '.join(heavy) or 'none'}")
    ok = imp < IMPORT_BUDGET_S and hlp < HELP_BUDGET_S and not heavy
    print("within budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
