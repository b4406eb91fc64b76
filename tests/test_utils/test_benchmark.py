"""Timing helpers shared by tools/benchmarks: interleaving, reductions,
single timed calls and peak memory."""
import subprocess
import sys
import time

import pytest

from mmfg.utils.benchmark import time_fn, time_fns, timed_call


class _FakeClock:
    """``perf_counter`` that only moves when a timed function "sleeps", so
    the timing tests do not depend on the machine's load."""

    def __init__(self):
        self.now = 0.

    def perf_counter(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    import mmfg.utils.benchmark as bench
    fake = _FakeClock()
    monkeypatch.setattr(bench, 'time', fake)
    return fake


def test_time_fns_interleaves_and_counts_calls(clock):
    order = []

    def make(name, seconds):
        def fn():
            order.append(name)
            clock.sleep(seconds)
        return fn

    fast, slow = time_fns([make('a', 0.0), make('b', 0.02)], repeat=3,
                          warmup=2)
    # two warm-up calls each, then a, b alternating three times
    assert order == ['a', 'a', 'b', 'b'] + ['a', 'b'] * 3
    assert slow == pytest.approx(0.02) and fast == 0.


def test_time_fn_reductions(clock):
    delays = iter([0.0, 0.03, 0.0, 0.0])  # warm-up, then 3 timed calls

    def fn():
        clock.sleep(next(delays))

    # median of (0.03, 0, 0) is 0: one slow call does not move it
    assert time_fn(fn, repeat=3, reduce='median') == 0.
    delays = iter([0.0, 0.03, 0.03, 0.0])
    assert time_fn(fn, repeat=3, reduce='min') == 0.
    delays = iter([0.0, 0.03, 0.03, 0.0])
    assert time_fn(fn, repeat=3, reduce='median') == pytest.approx(0.03)


def test_bad_arguments():
    with pytest.raises(ValueError, match='repeat'):
        time_fn(lambda: None, repeat=0)
    with pytest.raises(ValueError, match='reduce'):
        time_fn(lambda: None, reduce='mean')


def test_timed_call_returns_result():
    out, seconds = timed_call(lambda: (time.sleep(0.01), 7)[1])
    assert out == 7 and seconds >= 0.01


PEAK_SNIPPET = """
import numpy as np
from mmfg.utils.benchmark import peak_memory_mib
big = np.ones(256 * 2**20 // 8)  # an earlier, larger peak of the process
del big
print(peak_memory_mib(lambda: np.ones(64 * 2**20 // 8).sum()),
      peak_memory_mib(lambda: None))
"""


def test_cpu_peak_memory_sees_an_allocation():
    # in a fresh process: inside a long test session the allocator may hand
    # out memory it already holds, which no RSS-based measure can see
    out = subprocess.run([sys.executable, '-c', PEAK_SNIPPET],
                         capture_output=True, text=True, check=True).stdout
    peak, nothing = map(float, out.split()[-2:])
    assert 48 < peak < 128, out
    assert nothing < 16, out
