"""Only regular files are opened: a FIFO, a device, a socket or a directory is refused before it is opened."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from airflow_airbyte_connectors.core.files import NotRegularFileError, open_regular_file


def fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "pipe")
    return tmp_path / "pipe"


def unix_socket(tmp_path: Path) -> Path:
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays
    return path


class TestOpenRegularFile:
    def test_regular_file_and_a_symlink_to_one(self, tmp_path):
        target = tmp_path / "basic_config.yaml"
        target.write_bytes(b"connectors: {}\n")
        (tmp_path / "link.yaml").symlink_to(target)
        for path in (target, tmp_path / "link.yaml"):
            with open_regular_file(path) as handle:
                assert handle.read() == b"connectors: {}\n"

    @pytest.mark.parametrize(
        ("make", "reason"),
        [
            (fifo, "is a FIFO (named pipe)"),
            (unix_socket, "is a socket"),
            (lambda _: Path(os.devnull), "is a character device"),
            (lambda tmp_path: tmp_path, "is a directory"),
        ],
        ids=["fifo", "socket", "device", "directory"],
    )
    def test_anything_else_is_refused(self, tmp_path, make, reason):
        with pytest.raises(NotRegularFileError, match=f"^{re.escape(reason)}$"):
            open_regular_file(make(tmp_path))

    def test_missing_file_is_the_usual_error(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            open_regular_file(tmp_path / "nope")
