"""Benchmark: how long interactive commands take to start, beside `python -c pass`.

Each command runs --runs times in a fresh interpreter; the figure is the
median wall time and the median CPU time (user + system, from the child's
resource usage). The bulletin runs on a demo database built first (in a
temporary folder). Goals (issue #7): `sitroom --help` under 0.3 s, the
bulletin under 0.5 s.

    python bench/bench_startup.py --runs 7
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "SITROOM_DATABASE_URL": f"sqlite:///{Path(folder) / 'demo.db'}"}
        subprocess.run(
            [sys.executable, "-m", "sitroom", "demo"], env=env, check=True, capture_output=True
        )
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "sitroom --help": [sys.executable, "-m", "sitroom", "--help"],
            "sitroom bulletin --help": [sys.executable, "-m", "sitroom", "bulletin", "--help"],
            "sitroom bulletin": [sys.executable, "-m", "sitroom", "bulletin"],
            "sitroom bulletin --json": [sys.executable, "-m", "sitroom", "bulletin", "--json"],
        }
        base_wall, base_cpu = measure(cases.pop("python -c pass"), env, args.runs)
        print(f"{'python -c pass':<26} wall {base_wall:6.3f} s  cpu {base_cpu:6.3f} s")
        for name, argv in cases.items():
            wall, cpu = measure(argv, env, args.runs)
            print(
                f"{name:<26} wall {wall:6.3f} s  cpu {cpu:6.3f} s"
                f"  ({wall / base_wall:5.1f}x python -c pass)"
            )


if __name__ == "__main__":
    main()
