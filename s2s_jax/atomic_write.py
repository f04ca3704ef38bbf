"""Files written atomically: a reader (or a restart after a crash) sees the old file or the
new one, never half of one.

The text goes to a temporary file in the same directory, is flushed to disk, and is
renamed over the target (`os.replace`, atomic on POSIX); on any error the temporary
file is removed and the target is untouched.

A full disk (or quota) while the run writes anything, here, in metric_log or in a checkpoint,
is one `DiskFullError` naming the path and the free space (`reporting_full_disk`).
"""

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from s2s_jax.errors import UserError


class DiskFullError(UserError):
    """No space left (or the quota used up) on the filesystem of a file the run writes."""


# The errno codes of a full disk, and their messages, which tensorstore (orbax's array
# writer) puts in the ValueError it raises: "RESOURCE_EXHAUSTED: ... No space left on device
# [os_error_code='28']".
_DISK_FULL = {code: os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT)}


def disk_full_code(error: BaseException) -> int | None:
    """ENOSPC or EDQUOT if `error` (or one it was raised from) is a full disk, else None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _DISK_FULL:
            return error.errno
        for code, message in _DISK_FULL.items():
            if message in str(error):
                return code
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def reporting_full_disk(path: str) -> Iterator[None]:
    """Runs the block that writes `path`; a full disk in it (an OSError of ENOSPC or EDQUOT,
    or another library's error that wraps one) becomes a DiskFullError naming `path` and the
    free space of its filesystem. Other errors, and UserErrors, pass unchanged."""
    try:
        yield
    except UserError:
        raise
    except Exception as e:
        code = disk_full_code(e)
        if code is None:
            raise
        raise disk_full_error(path, code) from e


def disk_full_error(path: str, code: int = errno.ENOSPC, needed: int = 0) -> DiskFullError:
    """The error of a full disk (`code` ENOSPC, or EDQUOT: the quota) writing `path`: the
    free space of its filesystem, what the write needs if known (`needed` bytes), and what
    to do."""
    space = free_space(path)
    free = "free space unknown" if space is None else (
        f"{_size(space[0])} free of {_size(space[1])} on its filesystem")  # fmt: skip
    need = f"it needs about {_size(needed)}; " if needed else ""
    return DiskFullError(
        f"{_DISK_FULL[code].lower()} writing {os.path.abspath(path)} ({need}{free}); free "
        "some space, then rerun the same command: training resumes from the latest complete "
        "checkpoint"
    )


def free_space(path: str) -> tuple[int, int] | None:
    """(free, total) bytes of the filesystem of `path` (or of its nearest existing parent),
    as shutil.disk_usage gives them, or None if that fails."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    try:
        usage = shutil.disk_usage(existing)
    except OSError:
        return None
    return usage.free, usage.total


def _size(n: int) -> str:
    """E.g. '512 bytes', '12.0 KiB', '3.5 GiB'."""
    if n < 1024:
        return f"{n} bytes"
    size, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f} {unit}"


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` atomically; a full disk is a DiskFullError naming `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    with reporting_full_disk(path):
        fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise


def write_text(path: str, text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically, as write_bytes does."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str, value: Any, default: Callable[[Any], Any] | None = None) -> None:
    """Writes `value` as JSON (indent 1, a final newline) to `path` atomically."""
    write_text(path, json.dumps(value, indent=1, default=default) + "\n")


def require_writable(directory: str) -> None:
    """Creates `directory` if needed and writes (then removes) a probe file in it; a UserError
    naming the directory and the reason otherwise, before a run spends any time."""
    try:
        os.makedirs(directory, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write_check.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UserError(
            f"the workdir {os.path.abspath(directory)} is not writable ({e.strerror or e}); "
            "choose another --workdir or fix its permissions"
        ) from e
