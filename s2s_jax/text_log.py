"""The absl text log: also to a file, and without orbax's INFO chatter."""

import logging as py_logging
import os
import sys

from absl import logging

from s2s_jax import atomic_write, distributed


class QuietLibraries(py_logging.Filter):
    """Keeps orbax's INFO chatter (several lines per save) out of the logs, and the tracebacks
    of its errors: the error itself reaches the caller (a failed save's, from the next save or
    wait), which reports it, so its message line is enough here."""

    def filter(self, record: py_logging.LogRecord) -> bool:
        if "/orbax/" not in record.pathname:
            return True
        record.exc_info, record.exc_text = None, None
        return record.levelno >= py_logging.WARNING


class _LogFile(py_logging.FileHandler):
    """A log file that a full disk does not fill the console with tracebacks (logging prints
    one per failed line): one warning, then its lines are dropped; the console keeps them, and
    the run's next metrics or checkpoint write stops it with a DiskFullError."""

    _full = False

    def handleError(self, record: py_logging.LogRecord) -> None:  # noqa: N802 (logging's name).
        error = sys.exc_info()[1]
        if error is None or atomic_write.disk_full_code(error) is None:
            super().handleError(record)
        elif not self._full:
            self._full = True
            sys.stderr.write(f"warning: {self.baseFilename}: {error}; its lines are dropped\n")


def quiet_libraries() -> None:
    """Filters the absl handler (the console) with `QuietLibraries`."""
    logging.get_absl_handler().python_handler.addFilter(QuietLibraries())


def log_to_file(path: str) -> None:
    """Also writes the absl log to `path` (appending), filtered like the console; with
    several processes, process 0's log only."""
    if not distributed.is_writer():
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    handler = _LogFile(path)
    handler.setFormatter(logging.PythonFormatter())
    handler.addFilter(QuietLibraries())
    logging.get_absl_logger().addHandler(handler)
