"""Tests for interrupts.py: SIGINT and SIGTERM recorded inside `deferred`, acted on outside it.

The tests send this process real signals (os.kill). Before each, both signals get a handler
that raises `PreviousHandlerError`, standing in for Python's KeyboardInterrupt (SIGINT) or
the default exit (SIGTERM), so that a signal that gets through fails the test instead of
ending pytest.
"""

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from s2s_jax import interrupts


class PreviousHandlerError(Exception):
    """The handler that was in place before `deferred` ran."""


def _previous_handler(signum: int, frame: object) -> None:
    raise PreviousHandlerError(signum)


@pytest.fixture(autouse=True)
def previous_handlers() -> Iterator[None]:
    """Both signals raise PreviousHandlerError during the test; the originals come back after."""
    original = {s: signal.getsignal(s) for s in interrupts.SIGNALS}
    for s in original:
        signal.signal(s, _previous_handler)
    try:
        yield
    finally:
        for s, handler in original.items():
            signal.signal(s, handler)


def _send(signum: int, received: list[int] | None = None, count: int = 1) -> None:
    """Sends this process `signum` and waits until its Python handler has run.

    The handler runs in the main thread soon after the signal arrives; `received` reaching
    `count` entries (or, without it, a short wait) tells that it has.
    """
    os.kill(os.getpid(), signum)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (received is None or len(received) < count):
        time.sleep(0.001)


@pytest.mark.parametrize("second_acts_at_once", [False, True])
def test_signals_are_recorded_not_raised(second_acts_at_once: bool) -> None:
    """Inside the context SIGINT and SIGTERM are appended to the list, in order, and stop
    nothing."""
    with interrupts.deferred(second_acts_at_once=second_acts_at_once) as received:
        assert received == []
        _send(signal.SIGINT, received, 1)
        _send(signal.SIGTERM, received, 2)
        assert received == [signal.SIGINT, signal.SIGTERM]


def test_second_signal_acts_at_once() -> None:
    """With second_acts_at_once, the first SIGINT is recorded; the second reaches the handler
    that was there before, and SIGTERM is still deferred."""
    with interrupts.deferred(second_acts_at_once=True) as received:
        _send(signal.SIGINT, received, 1)
        assert signal.getsignal(signal.SIGINT) is _previous_handler
        with pytest.raises(PreviousHandlerError):
            _send(signal.SIGINT)
        _send(signal.SIGTERM, received, 2)
        assert received == [signal.SIGINT, signal.SIGTERM]


def test_without_second_acts_at_once_every_signal_is_recorded() -> None:
    """Without second_acts_at_once, repeated signals are all recorded; none gets through."""
    with interrupts.deferred(second_acts_at_once=False) as received:
        for count in range(1, 4):
            _send(signal.SIGINT, received, count)
        assert received == [signal.SIGINT] * 3


def test_previous_handlers_are_back_outside() -> None:
    """After the context, even one left by an exception, the old handlers act again."""
    with interrupts.deferred(second_acts_at_once=False) as received:
        assert signal.getsignal(signal.SIGINT) is not _previous_handler
    for s in interrupts.SIGNALS:
        assert signal.getsignal(s) is _previous_handler
    with pytest.raises(PreviousHandlerError):
        _send(signal.SIGTERM)
    assert received == []

    with pytest.raises(RuntimeError, match="inside"), interrupts.deferred(second_acts_at_once=True):
        raise RuntimeError("inside")
    assert [signal.getsignal(s) for s in interrupts.SIGNALS] == [_previous_handler] * 2
    with pytest.raises(PreviousHandlerError):
        _send(signal.SIGINT)


def test_outside_the_main_thread_nothing_changes() -> None:
    """In another thread (where Python cannot set handlers) the context yields an empty list
    and leaves the handlers alone."""
    seen: list = []

    def worker() -> None:
        with interrupts.deferred(second_acts_at_once=True) as received:
            seen.append((list(received), signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [([], _previous_handler)]
