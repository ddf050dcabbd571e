"""Prints how long an offline plan of each stack takes (target: under 5 s)."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

t0 = time.perf_counter()
from plan.engine import run_program, stack_config  # noqa: E402

imports = time.perf_counter() - t0
print(f"imports (pulumi + providers): {imports:.2f} s")
for stack in ("dev", "prod"):
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        rec = run_program(stack_config(stack), stack=stack)
        runs.append(time.perf_counter() - start)
    print(f"plan {stack}: {len(rec.resources)} resources, median {statistics.median(runs):.2f} s "
          f"(runs: {', '.join(f'{r:.2f}' for r in runs)})")
