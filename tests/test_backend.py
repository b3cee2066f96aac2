"""shendu/backend.py: the BLAS thread policy that leaves the cores other processes use."""
from __future__ import annotations

import pytest

from shendu import backend


class FakeController:
    def __init__(self):
        self.limits = []

    def limit(self, limits):
        self.limits.append(limits)


def policy(monkeypatch, ceiling, cores, others):
    p = backend._ThreadPolicy()
    p.enabled, p.interval = True, 0.0
    p.controller, p.ceiling, p.current = FakeController(), ceiling, ceiling
    monkeypatch.setattr(p, "_cores", lambda: cores)
    monkeypatch.setattr(p, "_others", lambda: others[0])
    return p


def test_blas_threads_shrink_while_neighbours_are_busy_and_grow_back(monkeypatch):
    others = [1]
    p = policy(monkeypatch, ceiling=2, cores=2, others=others)
    p.update()
    p.update()
    assert p.current == 1 and p.controller.limits == [1]      # one busy neighbour on two cores: one thread
    others[0] = 0
    for _ in range(4):
        p.update()
    assert p.current == 2 and p.controller.limits == [1, 2]   # the neighbour left: back to the start count


def test_blas_threads_never_pass_the_starting_count_nor_drop_below_one(monkeypatch):
    p = policy(monkeypatch, ceiling=2, cores=8, others=[0])
    p.update()
    assert p.current == 2 and p.controller.limits == []
    p = policy(monkeypatch, ceiling=4, cores=4, others=[9])
    for _ in range(4):
        p.update()
    assert p.current == 1


def test_the_policy_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("SHENDU_ADAPT_THREADS", "0")
    assert not backend._ThreadPolicy().enabled


def test_counting_runnable_threads_reads_this_machine():
    p = backend._ThreadPolicy()
    if not p.enabled:
        pytest.skip("the policy reads /proc: Linux only")
    assert p._own_running() >= 1              # this thread is running while it counts
    assert p._others() >= 0 and p._cores() >= 1
