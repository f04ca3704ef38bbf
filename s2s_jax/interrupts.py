"""SIGINT and SIGTERM, recorded instead of acted on, so a run stops where it is safe to.

The train loop stops between steps (the train step donates its input, so
stopping mid-step would lose the state) and saves a checkpoint; a sweep
forwards each signal to its running trials and waits for them.
"""

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred(*, second_acts_at_once: bool) -> Iterator[list[int]]:
    """Yields a list that SIGINT/SIGTERM append their number to, instead of stopping.

    With second_acts_at_once, a signal's previous handler is back once it has
    been received, so a second one acts at once (e.g. Ctrl-C twice). Outside the
    main thread (where signals cannot be handled) the list stays empty.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        if second_acts_at_once:
            signal.signal(signum, previous[signum])

    for s in previous:
        signal.signal(s, handler)
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
