"""How many torch CPU threads to use when nobody said: as many as there are cores nobody else is using.

torch's own default is one thread per core. On a machine whose cores are busy with other jobs those threads wait for
each other at every operation: on 2 shared cores the main training job took 2.3× longer, an evaluation 4× and SB3
driving the env 3.8× (docs/determinism.md has the table). On an idle machine more threads save a little (7% on the
main job). So the count is decided once, at start, from the cores this process may run on and how busy the machine's cores are.
This module imports nothing of the project.
"""
from __future__ import annotations

import math
import os
import sys
import time


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system says, else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


SAMPLE_SECONDS = 0.2  # how long the cores' busy time is watched at start


def cpu_times(stat: str) -> tuple[int, int]:
    """(busy, total) jiffies of all cores from the text of ``/proc/stat`` (idle and iowait count as not busy)."""
    fields = [int(value) for value in stat.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def busy_cores(before: tuple[int, int], after: tuple[int, int], cores: int) -> float:
    """Cores kept busy between two :func:`cpu_times` readings of a machine of ``cores`` cores."""
    total = after[1] - before[1]
    return cores * (after[0] - before[0]) / total if total > 0 else 0.0


def recent_load() -> float:
    """Cores busy now: watched for ``SAMPLE_SECONDS`` in ``/proc/stat`` where there is one (the one-minute load
    average lags: a minute after another job ended it still reads that job, and an idle 2-core machine then got one
    thread and a 1.6× slower evaluation), else the one-minute load average (0.0 where the system says neither)."""
    try:
        with open("/proc/stat") as stat:
            before = cpu_times(stat.read())
        time.sleep(SAMPLE_SECONDS)
        with open("/proc/stat") as stat:
            after = cpu_times(stat.read())
        return busy_cores(before, after, os.cpu_count() or 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def auto_threads(cores: int, load: float, most: int) -> int:
    """The cores left free by ``load`` (rounded to whole busy cores), at least 1 and at most ``most`` (torch's own
    default, which ``OMP_NUM_THREADS`` sets)."""
    busy = math.floor(load + 0.5)
    return max(1, min(most, cores - busy))


def most_threads() -> int:
    """torch's thread count: its current one once imported, else the one it will start with (``OMP_NUM_THREADS``,
    else one per usable core)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.get_num_threads()
    given = os.environ.get("OMP_NUM_THREADS", "")
    return int(given) if given.isdigit() and int(given) > 0 else usable_cores()


def choose_threads() -> int:
    """:func:`auto_threads` of this machine now, at most :func:`most_threads`."""
    return auto_threads(usable_cores(), recent_load(), most_threads())


def use_threads(count: int) -> None:
    """Make torch compute on ``count`` threads: at once if it is imported, else from its import on (through
    ``OMP_NUM_THREADS``, so that a command that fails before it needs torch never loads it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        os.environ["OMP_NUM_THREADS"] = str(count)
    else:
        torch.set_num_threads(count)
