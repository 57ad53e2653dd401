"""What finding a group's leaked processes costs (Linux).

After a group's last test, the subprocess asks the kernel whether it has any
child at all (one ``waitid`` with ``WNOWAIT``); only if it has does it read
the process table from ``/proc``.  This prints both costs on this machine,
with the number of processes the scan read, and their ratio.

    python benchmarks/tree_bench.py             # 2,000 checks, 50 scans
"""

from __future__ import annotations

import argparse
import sys
import time

from pytest_isolated.platform import tree


def per_call(function: object, count: int) -> float:
    assert callable(function)
    started = time.perf_counter()
    for _ in range(count):
        function()
    return (time.perf_counter() - started) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--scans", type=int, default=50)
    args = parser.parse_args()
    if not tree.LINUX:
        print("tree_bench: Linux only (no /proc, no subreaper)")
        return 0
    processes = len(tree.process_table())
    check = per_call(tree.has_children, args.checks)
    scan = per_call(tree.process_table, args.scans)
    print(f"processes on this machine          {processes}")
    print(f"has_children() (waitid WNOWAIT)     {check * 1e6:8.1f} us per call")
    print(f"process_table() (/proc scan)        {scan * 1e3:8.3f} ms per call")
    print(f"  per 100 processes                 {scan * 1e3 * 100 / processes:8.3f} ms")
    print(f"scan / check                        {scan / check:8.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
