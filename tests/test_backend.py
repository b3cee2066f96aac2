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
    p.controller, p.ceiling, p.current, p.started = FakeController(), ceiling, ceiling, True
    p.setters = [p.controller.limits.append]        # what the policy sets BLAS's thread count with
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


def test_a_step_with_image_jobs_runs_the_next_on_shendu_s_threads_with_blas_on_one(monkeypatch):
    p = policy(monkeypatch, ceiling=2, cores=2, others=[0])
    calls = p.controller.limits
    p.allowed = True
    with_hold = backend._HoldBlas
    monkeypatch.setattr(backend, "_threads", p)
    p.step()
    assert not p.own                                # no image job seen: BLAS threads its own products
    with with_hold():
        pass
    assert calls == []
    p.note_split()                                  # e.g. a convolution a block of images at a time
    p.step()
    assert p.own
    with with_hold():
        with with_hold():                           # nested: layers inside a model, ops inside a layer
            assert calls == [1]
        assert calls == [1]
    assert calls == [1, 2]                          # back to the starting count once the outer hold ends
    p.step()                                        # a step without image jobs: BLAS's threads again
    assert not p.own


def test_own_threads_can_be_turned_off_and_shrink_with_load(monkeypatch):
    monkeypatch.setenv("SHENDU_SPLIT_KERNELS", "0")
    assert not backend._ThreadPolicy().allowed
    others = [1]
    p = policy(monkeypatch, ceiling=2, cores=2, others=others)
    p.allowed = True
    monkeypatch.setattr(backend, "_threads", p)
    for _ in range(2):                              # two steps, each with image jobs, beside a busy neighbour
        p.note_split()
        p.update()
    assert p.own and p.current == 1 and p.controller.limits == [1]  # the pool and BLAS shrink to the free core
    with backend._HoldBlas():
        assert p.controller.limits == [1]           # one thread already: nothing to hold
