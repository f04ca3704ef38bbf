"""Tests for interrupts.py: SIGINT and SIGTERM recorded inside `deferred`, acted on outside it.

The tests send this process real signals (os.kill). Before each, both signals get a handler
that raises `PreviousHandlerError`, standing in for Python's KeyboardInterrupt (SIGINT) or
the default exit (SIGTERM), so that a signal that gets through fails the test instead of
ending pytest.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from s2s_jax import interrupts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


@pytest.mark.parametrize("exit_on_second", [False, True])
def test_signals_are_recorded_not_raised(exit_on_second: bool) -> None:
    """Inside the context SIGINT and SIGTERM are appended to the list, in order, and stop
    nothing (with exit_on_second, only the first is sent here: the second would exit)."""
    with interrupts.deferred(exit_on_second=exit_on_second) as received:
        assert received == []
        _send(signal.SIGINT, received, 1)
        if not exit_on_second:
            _send(signal.SIGTERM, received, 2)
    assert received == [signal.SIGINT] + ([] if exit_on_second else [signal.SIGTERM])


_SECOND_SIGNAL_SCRIPT = """
import os, signal, sys, time
from s2s_jax import interrupts
with interrupts.deferred(exit_on_second=True) as received:
    os.kill(os.getpid(), signal.SIGINT)
    while not received:
        time.sleep(0.001)
    print("recorded", received, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
print("not reached")
"""


def test_a_second_signal_exits_at_once_with_the_documented_code() -> None:
    """With exit_on_second, the first signal is recorded and the second (of either kind) ends
    the process at once with exit code 75, one line on stderr, no Python unwinding."""
    proc = subprocess.run([sys.executable, "-c", _SECOND_SIGNAL_SCRIPT], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)  # fmt: skip
    assert proc.returncode == interrupts.SECOND_SIGNAL_EXIT == 75
    assert proc.stdout == f"recorded [{int(signal.SIGINT)}]\n"
    assert proc.stderr.startswith("error: a second signal (SIGTERM) during the interrupt's save")
    assert "Traceback" not in proc.stderr


def test_as_keyboard_interrupt_makes_sigterm_a_keyboard_interrupt() -> None:
    """Start-up: SIGTERM and SIGINT raise KeyboardInterrupt naming the signal; the previous
    handlers are back outside."""
    with interrupts.as_keyboard_interrupt():
        for s in interrupts.SIGNALS:
            with pytest.raises(KeyboardInterrupt, match=f"{signal.Signals(s).name}; rerun"):
                _send(s)
    with pytest.raises(PreviousHandlerError):
        _send(signal.SIGTERM)


class _RaisesInDel:
    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)  # The handler runs here, inside __del__, where Python ignores raises.


def test_a_keyboard_interrupt_that_python_ignores_is_raised_again() -> None:
    """A start-up signal whose KeyboardInterrupt lands where Python ignores exceptions (a
    __del__, as in a gc callback) is raised again just after, not lost."""
    with interrupts.as_keyboard_interrupt(), pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        _RaisesInDel()  # Deleted at once: its __del__ runs here.
        for _ in range(1000):
            time.sleep(0.001)
        pytest.fail("the signal was lost")


def test_without_exit_on_second_every_signal_is_recorded() -> None:
    """Without exit_on_second, repeated signals are all recorded; none gets through."""
    with interrupts.deferred(exit_on_second=False) as received:
        for count in range(1, 4):
            _send(signal.SIGINT, received, count)
        assert received == [signal.SIGINT] * 3


def test_previous_handlers_are_back_outside() -> None:
    """After the context, even one left by an exception, the old handlers act again."""
    with interrupts.deferred(exit_on_second=False) as received:
        assert signal.getsignal(signal.SIGINT) is not _previous_handler
    for s in interrupts.SIGNALS:
        assert signal.getsignal(s) is _previous_handler
    with pytest.raises(PreviousHandlerError):
        _send(signal.SIGTERM)
    assert received == []

    with pytest.raises(RuntimeError, match="inside"), interrupts.deferred(exit_on_second=True):
        raise RuntimeError("inside")
    assert [signal.getsignal(s) for s in interrupts.SIGNALS] == [_previous_handler] * 2
    with pytest.raises(PreviousHandlerError):
        _send(signal.SIGINT)


def test_outside_the_main_thread_nothing_changes() -> None:
    """In another thread (where Python cannot set handlers) the context yields an empty list
    and leaves the handlers alone."""
    seen: list = []

    def worker() -> None:
        with interrupts.deferred(exit_on_second=True) as received:
            seen.append((list(received), signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [([], _previous_handler)]
