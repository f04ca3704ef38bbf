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
