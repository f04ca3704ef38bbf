"""Tests for text_log.py: orbax's INFO chatter filtered out, and the absl log copied to a file."""

import errno
import logging as py_logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import orbax.checkpoint
import pytest
from absl import logging

from s2s_jax import distributed, text_log

# A module of the installed orbax, so the filter is checked against orbax's real path.
ORBAX_FILE = orbax.checkpoint.__file__
OUR_FILE = os.path.abspath(text_log.__file__)


def _record(pathname: str, level: int, message: str = "message") -> py_logging.LogRecord:
    return logging.get_absl_logger().makeRecord("absl", level, pathname, 7, message, None, None)


def _is_orbax(pathname: str) -> bool:
    """Whether the file belongs to the orbax package, judged from its path's folders."""
    return "orbax" in Path(pathname).parts


@pytest.mark.parametrize("level", [py_logging.DEBUG, py_logging.INFO, py_logging.WARNING,
                                   py_logging.ERROR])  # fmt: skip
@pytest.mark.parametrize(
    "pathname", [ORBAX_FILE, OUR_FILE, "/lib/orbax_like/x.py"], ids=["orbax", "ours", "not-orbax"]
)
def test_quiet_libraries_drops_orbax_below_warning(pathname: str, level: int) -> None:
    """A record from orbax below WARNING is dropped; its warnings and all others pass."""
    assert _is_orbax(ORBAX_FILE) and not _is_orbax(OUR_FILE)
    expected = level >= py_logging.WARNING or not _is_orbax(pathname)
    assert text_log.QuietLibraries().filter(_record(pathname, level)) is expected


@pytest.fixture
def absl_handlers() -> Iterator[None]:
    """Removes (and closes) the handlers a test adds to the absl logger."""
    logger = logging.get_absl_logger()
    before = list(logger.handlers)
    try:
        yield
    finally:
        for handler in [h for h in logger.handlers if h not in before]:
            logger.removeHandler(handler)
            handler.close()


def _log(pathname: str, level: int, message: str) -> None:
    """Passes a record to the absl logger's handlers, whatever the logger's level."""
    logging.get_absl_logger().handle(_record(pathname, level, message))


def _close_new_handlers(before: list[py_logging.Handler]) -> None:
    logger = logging.get_absl_logger()
    for handler in [h for h in logger.handlers if h not in before]:
        logger.removeHandler(handler)
        handler.close()


@pytest.mark.usefixtures("absl_handlers")
def test_log_to_file_appends_filtered_lines(tmp_path: Path) -> None:
    """The folder is created; a second run appends to the file; orbax INFO stays out."""
    path = tmp_path / "logs" / "sweep.log"
    before = list(logging.get_absl_logger().handlers)
    text_log.log_to_file(str(path))
    _log(OUR_FILE, py_logging.INFO, "first run")
    _log(ORBAX_FILE, py_logging.INFO, "orbax chatter")
    _log(ORBAX_FILE, py_logging.WARNING, "orbax warning")
    _close_new_handlers(before)  # As when the first process ends.
    text_log.log_to_file(str(path))
    _log(OUR_FILE, py_logging.ERROR, "second run")
    _close_new_handlers(before)

    lines = path.read_text().splitlines()
    assert [line.rpartition("] ")[2] for line in lines] == ["first run", "orbax warning",
                                                            "second run"]  # fmt: skip
    assert [line[0] for line in lines] == ["I", "W", "E"]  # absl's level letters.
    assert lines[0].rpartition("] ")[0].split()[-1] == f"{os.path.basename(OUR_FILE)}:7"


@pytest.mark.usefixtures("absl_handlers")
def test_log_to_file_only_in_the_writer_process(tmp_path: Path, monkeypatch) -> None:
    """A process other than 0 (of several) adds no file handler and creates nothing."""
    monkeypatch.setattr(distributed, "is_writer", lambda: False)
    before = list(logging.get_absl_logger().handlers)
    text_log.log_to_file(str(tmp_path / "logs" / "train.log"))
    assert logging.get_absl_logger().handlers == before
    assert not (tmp_path / "logs").exists()


def test_quiet_libraries_filters_the_console() -> None:
    """quiet_libraries() puts the filter on absl's console handler."""
    handler = logging.get_absl_handler().python_handler
    filters = list(handler.filters)
    try:
        assert handler.filter(_record(ORBAX_FILE, py_logging.INFO))
        text_log.quiet_libraries()
        assert not handler.filter(_record(ORBAX_FILE, py_logging.INFO))
        assert handler.filter(_record(OUR_FILE, py_logging.INFO))
    finally:
        handler.filters[:] = filters


def test_orbax_errors_keep_their_line_but_not_their_traceback() -> None:
    """A failed save's error reaches the caller, which reports it: orbax's own record of it
    keeps its message, without the traceback; a record of ours keeps its traceback."""
    try:
        raise ValueError("RESOURCE_EXHAUSTED: ... No space left on device")
    except ValueError:
        exc_info = sys.exc_info()
    for pathname, kept in ((ORBAX_FILE, None), (OUR_FILE, exc_info)):
        record = logging.get_absl_logger().makeRecord(
            "absl", py_logging.ERROR, pathname, 7, "save failed", None, exc_info
        )
        assert text_log.QuietLibraries().filter(record)
        assert record.exc_info == kept
        assert ("Traceback" in py_logging.Formatter().format(record)) is (kept is not None)


class _FullDisk:
    """A file on a full disk."""

    def write(self, text: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        pass


@pytest.mark.usefixtures("absl_handlers")
def test_a_full_disk_under_the_log_file_is_one_warning_not_a_traceback_per_line(
    tmp_path: Path, capsys
) -> None:
    path = tmp_path / "train.log"
    before = list(logging.get_absl_logger().handlers)
    text_log.log_to_file(str(path))
    [handler] = [h for h in logging.get_absl_logger().handlers if h not in before]
    handler.stream.close()
    handler.stream = _FullDisk()
    for message in ("first", "second", "third"):
        _log(OUR_FILE, py_logging.WARNING, message)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {path}: [Errno 28] No space left on device; its lines are dropped"
    ]
