"""How many CPU threads to compute with when the user leaves `model.threads = 0`.

llama-cpp-python's own default is `cpu_count // 2`: one thread on a 2-vCPU machine, where generation then runs at
about 70% of the speed two threads give. We count physical cores (hyper-thread siblings share one core's units,
so they add little to matrix work) and never answer 1 on a machine with more than one logical CPU.
"""

from __future__ import annotations

import os
from pathlib import Path


def physical_cores(cpuinfo: str) -> int:
    """Distinct (physical id, core id) pairs in a /proc/cpuinfo text; 0 when the text does not say."""
    cores: set[tuple[str, str]] = set()
    physical = core = ""
    for line in cpuinfo.splitlines() + [""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical = value.strip()
        elif key == "core id":
            core = value.strip()
        elif not line.strip():
            if core:
                cores.add((physical, core))
            physical = core = ""
    return len(cores)


def usable_cpus() -> int:
    """Logical CPUs this process may run on (respects taskset/cgroup affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_threads(configured: int = 0, cpuinfo: str | None = None, logical: int | None = None) -> int:
    """The thread count to use: the configured one, else the physical cores we may run on (at least 2 when the
    machine has 2 or more logical CPUs)."""
    if configured > 0:
        return configured
    logical = usable_cpus() if logical is None else logical
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    physical = physical_cores(cpuinfo)
    threads = min(physical, logical) if physical else logical
    return max(threads, min(logical, 2), 1)
