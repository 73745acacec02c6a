"""Fixtures of the ``formats`` tests: the sample files in tests/data/formats.

The samples are made by ``tests/data/formats/make_files.py``. These tests
need no Django settings; when the suite configures Django they run the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

DATA = Path(__file__).resolve().parent.parent / "data" / "formats"


@pytest.fixture
def data_dir() -> Path:
    """The folder of sample files."""
    return DATA


@pytest.fixture
def sample() -> Iterator[Callable[[str], IO[bytes]]]:
    """Open a sample file by name, in binary mode; closed after the test."""
    opened: list[IO[bytes]] = []

    def open_sample(name: str) -> IO[bytes]:
        fileobj = (DATA / name).open("rb")
        opened.append(fileobj)
        return fileobj

    yield open_sample
    for fileobj in opened:
        fileobj.close()
