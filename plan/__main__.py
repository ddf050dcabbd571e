"""``python -m plan plan|diff ...``: the offline plan CLI (plan/cli.py).

The garbage collector is off for this short-lived process: importing the
provider SDKs creates tens of thousands of classes, and collection passes over
them cost ~0.45 s of a ~2.5 s plan (scripts/bench_plan.py) for no memory won
back before exit.
"""

import gc

gc.disable()

from plan.cli import main  # noqa: E402

raise SystemExit(main())
