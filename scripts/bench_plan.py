"""Prints how long an offline plan of each stack takes (target: under 5 s).

- one-shot: `python -m plan plan --stack <s>` in a new interpreter, as
  `make plan` runs it (imports included), median of 3;
- in-process: evaluations in one interpreter; the first one pays for the
  provider SDK modules it imports, the next ones show the evaluation itself.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one_shot(stack: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "plan", "plan", "--stack", stack], cwd=ROOT, check=True,
                   capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    for stack in ("dev", "prod"):
        runs = [one_shot(stack) for _ in range(3)]
        print(f"one-shot plan {stack}: median {statistics.median(runs):.2f} s "
              f"(runs: {', '.join(f'{r:.2f}' for r in runs)})")

    t0 = time.perf_counter()
    from plan.engine import run_program, stack_config
    print(f"in-process: imports of the engine (pulumi): {time.perf_counter() - t0:.2f} s")
    for stack in ("dev", "prod"):
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            rec = run_program(stack_config(stack), stack=stack)
            runs.append(time.perf_counter() - start)
        print(f"in-process plan {stack}: {len(rec.resources)} resources, "
              f"runs: {', '.join(f'{r:.2f}' for r in runs)} s")


if __name__ == "__main__":
    main()
