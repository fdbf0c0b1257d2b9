"""A small discrete-event kernel: the few simpy primitives the event engine uses, with simpy's semantics.

Events wait in one heap ordered by (time, priority, sequence number), the number taken when an
event is scheduled, exactly as in simpy 4 (a process's start is urgent, everything else normal),
so a model runs through the same events in the same order under either. The primitives: timeouts,
events a process succeeds, processes (generators that yield events and are themselves an event
that fires when they return), "all of" conditions and resources of a fixed capacity whose
requests are granted first come, first served and whose releases take effect when processed.
Events never fail and processes are never interrupted (the engine needs neither). Beyond simpy,
the environment lists what is scheduled and can move it all in time (for the engine's collapse of
repeating stretches).
"""
from __future__ import annotations

from functools import partial
from heapq import heappop, heappush
from itertools import count

URGENT, NORMAL = 0, 1
_PENDING = object()     # the value of an event not yet triggered


class Event:
    """Something that happens once: triggered (given a value), then processed (its callbacks run).
    A model may label it with a ``tag`` (unset otherwise: read it with ``getattr(event, "tag", None)``)."""

    __slots__ = ("env", "callbacks", "_value", "tag")

    def __init__(self, env: Environment):
        self.env, self.callbacks, self._value = env, [], _PENDING

    @property
    def triggered(self) -> bool:
        return self._value is not _PENDING

    @property
    def processed(self) -> bool:
        return self.callbacks is None

    def succeed(self, value=None) -> Event:
        """Trigger the event now: it is processed after everything already scheduled for now."""
        if self._value is not _PENDING:
            raise RuntimeError(f"{self} has already been triggered")
        self._value = value
        env = self.env
        heappush(env.queue, (env.now, NORMAL, next(env.sequence), self))
        return self


class Timeout(Event):
    """An event processed ``delay`` after it is made."""

    __slots__ = ()

    def __init__(self, env: Environment, delay, value=None):
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        self.env, self.callbacks, self._value = env, [], value
        heappush(env.queue, (env.now + delay, NORMAL, next(env.sequence), self))


class Process(Event):
    """A generator run as a process: it resumes with each event it yields once that is processed
    (at once if it already was); as an event, it is triggered with the generator's return value."""

    __slots__ = ("send", "resume", "target")

    def __init__(self, env: Environment, generator):
        self.env, self.callbacks, self._value = env, [], _PENDING
        self.send, self.resume = generator.send, self._resume
        start = self.target = Event(env)    # the event it waits for (None once it has returned)
        start.callbacks, start._value = [self.resume], None
        heappush(env.queue, (env.now, URGENT, next(env.sequence), start))

    def _resume(self, event: Event) -> None:
        send = self.send
        while True:
            try:
                event = send(event._value)
            except StopIteration as stop:
                event, self._value = None, stop.value
                env = self.env
                heappush(env.queue, (env.now, NORMAL, next(env.sequence), self))
                break
            if event.callbacks is not None:     # not processed yet: resume when it is
                event.callbacks.append(self.resume)
                break
        self.target = event


class AllOf(Event):
    """Triggered once every one of ``events`` has been processed."""

    __slots__ = ("events", "count")

    def __init__(self, env: Environment, events):
        super().__init__(env)
        self.events, self.count = tuple(events), 0
        if not self.events:
            self.succeed()
        for event in self.events:
            if event.callbacks is None:
                self._check(event)
            else:
                event.callbacks.append(self._check)

    def _check(self, _event: Event) -> None:
        if self._value is _PENDING:
            self.count += 1
            if self.count == len(self.events):
                self.succeed()


class Resource:
    """``capacity`` users at a time; requests wait in a FIFO queue (simpy's ``Resource``)."""

    def __init__(self, env: Environment, capacity: int = 1):
        self.env, self.capacity = env, capacity
        self.users: list[Request] = []
        self.queue: list[Request] = []

    def request(self) -> Request:
        return Request(self)

    def release(self, request: Request) -> Event:
        """Give the request's place back; the next request is granted when the release is processed."""
        if request in self.users:
            self.users.remove(request)
        release = Event(self.env)
        release.callbacks.append(self._grant)
        return release.succeed()

    def _grant(self, _event=None) -> None:
        if self.queue and len(self.users) < self.capacity:
            request = self.queue.pop(0)
            self.users.append(request)
            request.succeed()


class Request(Event):
    """A request for a place in a resource, triggered when granted; as a context manager, released
    (or withdrawn) on leaving the block."""

    __slots__ = ("resource",)

    def __init__(self, resource: Resource):
        super().__init__(resource.env)
        self.resource = resource
        resource.queue.append(self)
        resource._grant()

    def __enter__(self) -> Request:
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if not self.triggered:
            self.resource.queue.remove(self)
        if exc_type is not GeneratorExit:
            self.resource.release(self)


class Environment:
    """The clock and the heap of scheduled events."""

    def __init__(self):
        self.now = 0
        self.queue: list[tuple] = []
        self.sequence = count()
        self.event = partial(Event, self)       # env.event(), env.timeout(delay[, value])
        self.timeout = partial(Timeout, self)

    def process(self, generator) -> Process:
        return Process(self, generator)

    def all_of(self, events) -> AllOf:
        return AllOf(self, events)

    def run(self) -> None:
        """Process events in order until none is scheduled."""
        queue = self.queue
        while queue:
            self.now, _, _, event = heappop(queue)
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)

    def pending(self) -> list[tuple[int, int, Event]]:
        """The scheduled events in the order they will be processed: (time, priority, event)."""
        return [(time, priority, event) for time, priority, _, event in sorted(self.queue)]

    def translate(self, cycles: int) -> None:
        """Make it ``cycles`` later, for every scheduled event too (their order is kept)."""
        self.now += cycles
        self.queue[:] = [(time + cycles, priority, n, event) for time, priority, n, event in self.queue]
