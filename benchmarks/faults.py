"""``python -m benchmarks.faults``: how many faults the 30% fault runs inject, and whether each converges.

The same scenario and fault mix as tests/test_resilience.py, with the counts printed
(the test asserts the outcome; this says how much was thrown at it).
"""

from __future__ import annotations

import pathlib
import tempfile

from tests.test_crash import converge, fresh_world, scenario, snapshot
from tests.test_resilience import runs_under_faults


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ref_world = fresh_world(pathlib.Path(tmp) / "ref")
        scenario(ref_world)
        converge(ref_world)
        reference = snapshot(ref_world)
        ref_world.sb.close()
        total_requests = total_faults = 0
        for seed in range(1, 6):
            w = fresh_world(pathlib.Path(tmp) / f"seed{seed}")
            scenario(w)
            codes, faults, requests = runs_under_faults(w, seed)
            converge(w)
            same = snapshot(w) == reference
            print(
                f"seed {seed}: {requests} requests, {faults} faults injected ({faults / requests:.0%}); "
                f"exit statuses {codes}; converged to the uninterrupted result: {same}"
            )
            total_requests += requests
            total_faults += faults
            w.sb.close()
        print(f"total: {total_faults} faults over {total_requests} requests")


if __name__ == "__main__":
    main()
