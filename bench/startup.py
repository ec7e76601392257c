"""Start-up time of the ``trova`` command: wall time of whole runs, and what Python spends importing.

    .venv/bin/python bench/startup.py            # 10 runs of each command
    .venv/bin/python bench/startup.py --runs 20
    .venv/bin/python bench/startup.py --compare ../main/.venv/bin/trova   # and another install, in turns

For ``trova --help`` and ``trova accounts list`` (against a migrated SQLite file with one account,
made in a temporary directory), runs the installed ``trova`` script ``--runs`` times each, in turns
(like hyperfine), and prints the minimum, the median and the maximum wall time, then the total of
``python -X importtime`` for one more run of each (the sum of the top-level imports' cumulative
times). The load average is printed beside them: the figures mean little on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TROVA = str(Path(sys.executable).with_name("trova"))
COMMANDS = (("--help",), ("accounts", "list"))


def wall_s(trova: str, args: tuple[str, ...], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run([trova, *args], env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def import_ms(trova: str, args: tuple[str, ...], env: dict[str, str], cwd: str) -> float:
    """The cumulative import time of the top-level modules, from ``-X importtime``."""
    python = str(Path(trova).with_name("python"))
    probe = "import sys; from trova.cli.main import run; sys.exit(run(sys.argv[1:]))"
    result = subprocess.run(
        [python, "-X", "importtime", "-c", probe, *args], env=env, cwd=cwd, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    total_us = sum(
        int(match.group(1))
        for match in re.finditer(r"^import time:\s+\d+ \|\s+(\d+) \| (\S)", result.stderr, re.MULTILINE)
    )
    return total_us / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--compare", help="another install's trova script, measured in the same turns")
    options = parser.parse_args()
    runs = options.runs
    installs = [TROVA, *([options.compare] if options.compare else [])]
    with tempfile.TemporaryDirectory() as cwd:
        env = {**os.environ, "TROVA_DATABASE_URL": f"sqlite:///{Path(cwd) / 'trova.db'}", "TROVA_CONFIG": ""}
        subprocess.run([TROVA, "accounts", "create", "bench"], env=env, cwd=cwd, check=True,
                       stdout=subprocess.DEVNULL)
        times: dict[tuple[str, tuple[str, ...]], list[float]] = {
            (trova, args): [] for trova in installs for args in COMMANDS
        }
        for trova, args in times:
            wall_s(trova, args, env, cwd)  # warm the file cache and the bytecode
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for _ in range(runs):
            for trova, args in times:
                times[trova, args].append(wall_s(trova, args, env, cwd))
        for (trova, args), seconds in times.items():
            print(f"{trova}\n  trova {' '.join(args):<14} wall s over {runs} runs: min {min(seconds):.3f}  "
                  f"median {statistics.median(seconds):.3f}  max {max(seconds):.3f}  "
                  f"imports {import_ms(trova, args, env, cwd):.0f} ms")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
