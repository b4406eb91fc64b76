# Copyright (c) mmfg contributors. All rights reserved.
"""Timing and memory helpers shared by ``tools/benchmarks/``.

Every benchmark prints a ratio of a vectorised implementation against a
plain reference measured in the same run; these helpers make the timings
comparable: CUDA work is synchronised before and after each call, the
functions compared are run *interleaved* (a change of load on a shared host
hits them alike), and each gets warm-up calls first.
"""
import os
import resource
import time
from statistics import median
from typing import Any, Callable, List, Sequence, Tuple, Union

import torch

Device = Union[str, torch.device]


def synchronize(device: Device) -> None:
    """Wait for the queued work of ``device`` (no-op off CUDA)."""
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def time_fns(fns: Sequence[Callable[[], Any]],
             device: Device = 'cpu',
             repeat: int = 5,
             warmup: int = 1,
             reduce: str = 'median') -> List[float]:
    """Wall time in seconds of each function of ``fns``.

    The functions are called in turn ``repeat`` times (interleaved), each
    call timed on its own between two synchronisations of ``device``.

    Args:
        fns: zero-argument callables to time.
        device: where they run (``'cuda'`` synchronises around each call).
        repeat: timed calls per function (>= 1).
        warmup: untimed calls per function first (compilation, caches).
        reduce: ``'median'`` or ``'min'`` (best) of the ``repeat`` times.

    Returns:
        One time (s) per function, in the order of ``fns``.
    """
    if repeat < 1:
        raise ValueError(f'time_fns: repeat must be >= 1, got {repeat}')
    if reduce not in ('median', 'min'):
        raise ValueError(
            f"time_fns: reduce must be 'median' or 'min', got {reduce!r}")
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: List[List[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, times):
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            out.append(time.perf_counter() - start)
    agg = median if reduce == 'median' else min
    return [float(agg(t)) for t in times]


def time_fn(fn: Callable[[], Any],
            device: Device = 'cpu',
            repeat: int = 5,
            warmup: int = 1,
            reduce: str = 'median') -> float:
    """Wall time in seconds of ``fn``; see :func:`time_fns`."""
    return time_fns([fn], device, repeat, warmup, reduce)[0]


def timed_call(fn: Callable[[], Any],
               device: Device = 'cpu') -> Tuple[Any, float]:
    """Call ``fn`` once (no warm-up) and return ``(result, seconds)``.

    For long single runs (an index build, a full sweep) where repeating is
    too expensive.
    """
    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return out, time.perf_counter() - start


def _status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise OSError(f'/proc/self/status has no {field}')


def _cpu_peak_bytes(fn: Callable[[], Any]) -> float:
    """Resident memory (bytes) that ``fn`` adds at its peak.

    Linux: the peak-RSS mark of this process is reset first (``5`` written
    to ``/proc/self/clear_refs``), so ``VmHWM`` after the call minus
    ``VmRSS`` before is the peak that the call added, whatever the process
    used earlier. Elsewhere: ``ru_maxrss`` growth in a forked child, which
    only sees what exceeds the process's earlier high-water mark.
    """
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        before = _status_kib('VmRSS')
    except OSError:
        return _forked_peak_bytes(fn)
    fn()
    return float(max(_status_kib('VmHWM') - before, 0) * 1024)


def _forked_peak_bytes(fn: Callable[[], Any]) -> float:
    """Growth of ``ru_maxrss`` (bytes) while ``fn`` runs in a forked child
    (the child starts from this process's high-water mark)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fn()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        os.write(write, str((after - before) * 1024).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        value = float(f.read() or 0)
    os.waitpid(pid, 0)
    return value


def peak_memory_mib(fn: Callable[[], Any], device: Device = 'cpu') -> float:
    """Peak memory (MiB) that one call of ``fn`` adds on ``device``.

    CUDA: ``max_memory_allocated`` above the memory allocated before the
    call. CPU: the resident-set peak above the size before the call (Linux
    ``/proc``; page granularity). Memory the allocator already holds from
    earlier work is reused without growing the resident set, so on the
    CPU measure in a fresh process, largest consumer last.
    """
    if torch.device(device).type == 'cuda':
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return _cpu_peak_bytes(fn) / 2**20
