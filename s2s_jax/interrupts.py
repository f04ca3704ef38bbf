"""SIGINT and SIGTERM, recorded instead of acted on, so a run stops where it is safe to.

The train loop stops between steps (the train step donates its input, so
stopping mid-step would lose the state) and saves a checkpoint; a sweep
forwards each signal to its running trials and waits for them.

Exit codes of a run (launch.py):
  130  stopped by SIGINT or SIGTERM: during training, after saving a checkpoint; before
       training began (`as_keyboard_interrupt`), with nothing half-written. Rerun to resume.
  75   (SECOND_SIGNAL_EXIT) a second SIGINT or SIGTERM while the first one's checkpoint was
       being saved: the process ends at once, without finishing that save. Orbax writes a
       checkpoint to a temporary directory and renames it when complete, so the unfinished
       one is never taken for a checkpoint; a rerun resumes from the latest complete one.
"""

import _thread
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
SECOND_SIGNAL_EXIT = 75  # sysexits' EX_TEMPFAIL: a temporary failure, rerun to resume.


@contextlib.contextmanager
def deferred(*, exit_on_second: bool) -> Iterator[list[int]]:
    """Yields a list that SIGINT/SIGTERM append their number to, instead of stopping.

    With exit_on_second, a second signal ends the process at once (os._exit with
    SECOND_SIGNAL_EXIT, after one line on stderr): Ctrl-C twice does not wait for a save.
    Outside the main thread (where signals cannot be handled) the list stays empty.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}

    def handler(signum: int, frame: object) -> None:
        if exit_on_second and received:
            name = signal.Signals(signum).name
            os.write(2, f"error: a second signal ({name}) during the interrupt's save: exiting "
                        f"at once (exit code {SECOND_SIGNAL_EXIT}); rerun to resume from the "
                        "latest complete checkpoint\n".encode())  # fmt: skip
            os._exit(SECOND_SIGNAL_EXIT)
        received.append(signum)

    for s in previous:
        signal.signal(s, handler)
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class Stopped(KeyboardInterrupt):
    """KeyboardInterrupt raised by a start-up signal; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(f"{signal.Signals(signum).name}; rerun to resume")
        self.signum = signum


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def as_keyboard_interrupt() -> Iterator[None]:
    """Inside: SIGINT and SIGTERM raise `Stopped`, a KeyboardInterrupt (main thread only).

    For start-up, before `deferred` takes over: a SIGTERM while the data and model are
    built unwinds like Ctrl-C (files are written atomically, so none is left half-written)
    and the run exits 130, instead of being killed where it stands. Python ignores an
    exception raised where it cannot propagate (a gc callback, a __del__); there the
    signal is raised again in the main thread (`_thread.interrupt_main`) a moment later,
    so it is never lost.
    """
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    previous_hook = sys.unraisablehook

    def unraisable(info: Any) -> None:
        if isinstance(info.exc_value, Stopped):  # From another thread, once this hook is left.
            threading.Timer(0.01, _thread.interrupt_main, (info.exc_value.signum,)).start()
        else:
            previous_hook(info)

    for s in SIGNALS:
        signal.signal(s, _raise_stopped)
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for s, h in previous.items():
            signal.signal(s, h)
