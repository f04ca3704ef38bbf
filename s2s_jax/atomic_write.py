"""Files written atomically: a reader (or a restart after a crash) sees the old file or the
new one, never half of one.

The text goes to a temporary file in the same directory, is flushed to disk, and is
renamed over the target (`os.replace`, atomic on POSIX); on any error the temporary
file is removed and the target is untouched.
"""

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

from s2s_jax.errors import UserError


def write_text(path: str, text: str) -> None:
    """Writes `text` to `path` atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


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
