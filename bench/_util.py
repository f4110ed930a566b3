"""Helpers shared by the benchmarks: a simulator in a subprocess, timing, peak memory."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def simulator_process(*args: str) -> Iterator[str]:
    """Run `smsdata simulate --port 0 ARGS` in its own process; yield its base URL."""
    command = [sys.executable, "-m", "smsdata", "simulate", "--port", "0", "--balance", "1000000000", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as proc:
        try:
            line = proc.stdout.readline()
            match = re.search(r"(http://\S+/Admin/index\.php)", line)
            if not match:
                raise RuntimeError(f"simulator did not start: {line!r}")
            yield match.group(1)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB.

    Read from /proc (VmHWM, the peak of this program's own memory): Linux's ru_maxrss
    also counts the parent's memory at the moment it started this process (a vfork
    shares it until exec), so a child of a big parent reported the parent's size.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
