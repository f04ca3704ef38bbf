"""The absl text log: also to a file, and without orbax's INFO chatter."""

import logging as py_logging
import os

from absl import logging

from s2s_jax import distributed


class QuietLibraries(py_logging.Filter):
    """Keeps orbax's INFO chatter (several lines per save) out of the logs."""

    def filter(self, record: py_logging.LogRecord) -> bool:
        return record.levelno >= py_logging.WARNING or "/orbax/" not in record.pathname


def quiet_libraries() -> None:
    """Filters the absl handler (the console) with `QuietLibraries`."""
    logging.get_absl_handler().python_handler.addFilter(QuietLibraries())


def log_to_file(path: str) -> None:
    """Also writes the absl log to `path` (appending), filtered like the console; with
    several processes, process 0's log only."""
    if not distributed.is_writer():
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    handler = py_logging.FileHandler(path)
    handler.setFormatter(logging.PythonFormatter())
    handler.addFilter(QuietLibraries())
    logging.get_absl_logger().addHandler(handler)
