"""The event engine's kernel (sim/kernel.py) against simpy: random programs of processes that use
the kernel's primitives (timeouts, events one process succeeds and others wait for, processes
waited for, "all of" conditions, resources of capacity 1 or 2) run through the same steps, at the
same times, in the same order, in both; and the kernel lists and moves what is scheduled."""
from __future__ import annotations

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.sim import kernel

EVENTS, RESOURCES = 3, 2

action = st.one_of(
    st.tuples(st.just("timeout"), st.integers(0, 4)),
    st.tuples(st.just("succeed"), st.integers(0, EVENTS - 1)),
    st.tuples(st.just("wait"), st.integers(0, EVENTS - 1)),
    st.tuples(st.just("all_of"), st.lists(st.integers(0, EVENTS - 1), min_size=1, max_size=3)),
    st.tuples(st.just("hold"), st.integers(0, RESOURCES - 1), st.integers(0, 3)),
    st.tuples(st.just("acquire"), st.integers(0, RESOURCES - 1), st.integers(0, 3)),
    st.tuples(st.just("child"), st.integers(0, 3)),
)
programs = st.lists(st.lists(action, max_size=8), min_size=1, max_size=5)


def run(env, resource, programs) -> list[tuple]:
    """Run ``programs`` (one list of actions per process) in ``env``; what each process did when."""
    log: list[tuple] = []
    events = [env.event() for _ in range(EVENTS)]
    resources = [resource(env, 1 + r) for r in range(RESOURCES)]

    def child(p, delay):
        yield env.timeout(delay)
        log.append((env.now, p, "child done"))
        return delay

    def process(p, actions):
        for a, (kind, *args) in enumerate(actions):
            if kind == "timeout":
                yield env.timeout(args[0])
            elif kind == "succeed":
                if not events[args[0]].triggered:
                    events[args[0]].succeed(p)
            elif kind == "wait":
                value = yield events[args[0]]      # processed already: the process goes on at once
                log.append((env.now, p, a, "value", value))
            elif kind == "all_of":
                yield env.all_of([events[e] for e in args[0]])
            elif kind == "hold":                   # held as a context manager
                with resources[args[0]].request() as request:
                    yield request
                    yield env.timeout(args[1])
            elif kind == "acquire":                # released by hand, after a timeout
                request = resources[args[0]].request()
                yield request
                yield env.timeout(args[1])
                resources[args[0]].release(request)
            else:
                log.append((env.now, p, a, "child", (yield env.process(child(p, args[0])))))
            log.append((env.now, p, a))

    processes = [env.process(process(p, actions)) for p, actions in enumerate(programs)]
    env.run()
    log.append(("end", env.now, [e.triggered for e in events], [proc.triggered for proc in processes]))
    return log


@settings(max_examples=300, deadline=None)
@given(programs)
def test_the_kernel_runs_every_program_as_simpy_does(programs):
    assert run(kernel.Environment(), kernel.Resource, programs) == run(simpy.Environment(), simpy.Resource, programs)


def _nothing():
    yield from ()


def test_pending_lists_the_schedule_in_order_and_translate_moves_it():
    env = kernel.Environment()
    late, soon = env.timeout(5), env.timeout(2)
    now = env.event().succeed()
    started = env.process(_nothing())      # a process's start is urgent: before ``now`` at cycle 0
    assert [(t, p) for t, p, _ in env.pending()] == [(0, kernel.URGENT), (0, kernel.NORMAL), (2, kernel.NORMAL),
                                                    (5, kernel.NORMAL)]
    assert [e for *_, e in env.pending()][1:] == [now, soon, late]
    env.translate(10)
    assert env.now == 10 and [t for t, _, _ in env.pending()] == [10, 10, 12, 15]
    env.run()
    assert env.now == 15 and started.triggered and late.processed
