"""Opening the files a user names (basic_config, a registry path): regular files only.

Pure module: no Airflow, no HTTP. Opening a FIFO blocks until a writer comes, and reading a device or a
socket may never end, so anything that is not a regular file is refused before it is opened.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFileError(OSError):
    """The path names something other than a regular file; ``reason`` says what (``is a FIFO (named pipe)``)."""

    def __init__(self, mode: int):
        self.reason = "is " + next((name for test, name in _KINDS if test(mode)), "not a regular file")
        super().__init__(self.reason)


def open_regular_file(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for reading in binary mode, following symlinks; :class:`NotRegularFileError` when it
    is not a regular file, and the usual ``OSError`` (``FileNotFoundError``, ...) when it cannot be opened."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFileError(mode)
    # Non-blocking, then checked again: a FIFO put in the file's place after the stat cannot block the open.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
