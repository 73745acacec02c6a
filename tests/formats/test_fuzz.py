"""Fuzzing: damaged files fed to every reader raise only format errors.

Each sample file is damaged at random (bytes changed, cut, inserted or
removed; for workbooks also inside the sheet XML) and read to the end. The
only exceptions allowed out are :class:`FormatError` subclasses, and every
read must finish within a few seconds. Set ``FORMATS_FUZZ_EXAMPLES`` (60 by
default) for a longer hunt.
"""

from __future__ import annotations

import io
import os
import signal
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats import FormatError, open_reader

DATA = Path(__file__).resolve().parent.parent / "data" / "formats"
SECONDS_PER_READ = 5
FUZZ = settings(
    max_examples=int(os.environ.get("FORMATS_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SAMPLES = [
    ("utf8_bom.csv", "csv", {}),
    ("cp1252_semicolon.csv", "csv", {}),
    ("utf16.csv", "csv", {}),
    ("quoted_newlines.csv", "csv", {"strict": True}),
    ("headerless_tab.csv", "csv", {"header": False}),
    ("quoted_newlines.csv", "csv", {"delimiter": "+|", "record_terminator": "&|\n"}),
    ("nested.json", "json", {"flatten": True}),
    ("lines.jsonl", "jsonl", {}),
    ("types.xlsx", "xlsx", {}),
    ("formulas.xlsx", "xlsx", {}),
    ("dates.xls", "xls", {}),
]


class ReadTookTooLong(Exception):
    """Raised by the alarm when a read does not finish in time."""


@contextmanager
def time_limit(seconds: float):
    def alarm(_signum, _frame):
        raise ReadTookTooLong(f"reading took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def damaged(draw, data: bytes) -> bytes:
    damaged_data = bytearray(data)
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        kind = draw(st.sampled_from(["change", "cut", "insert", "remove"]))
        position = draw(
            st.integers(min_value=0, max_value=max(len(damaged_data) - 1, 0))
        )
        if kind == "change" and damaged_data:
            damaged_data[position] = draw(st.integers(min_value=0, max_value=255))
        elif kind == "cut":
            del damaged_data[position:]
        elif kind == "insert":
            damaged_data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif damaged_data:
            del damaged_data[position : position + draw(st.integers(1, 16))]
    return bytes(damaged_data)


def damaged_sheet(draw_bytes: bytes, member: str, new_xml: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(draw_bytes))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = new_xml if info.filename == member else source.read(info.filename)
            archive.writestr(info.filename, data)
    return output.getvalue()


def read_all(data: bytes, name: str, format_name: str, options: dict) -> None:
    with time_limit(SECONDS_PER_READ):
        try:
            for _row in open_reader(
                io.BytesIO(data), name=name, format=format_name, **options
            ):
                pass
        except FormatError:
            pass


@pytest.mark.parametrize(
    ("name", "format_name", "options"),
    SAMPLES,
    ids=[f"{s[0]}-{i}" for i, s in enumerate(SAMPLES)],
)
def test_a_damaged_file_raises_only_format_errors_and_never_hangs(
    name, format_name, options
):
    # Given a sample file
    original = (DATA / name).read_bytes()

    @FUZZ
    @given(data=damaged(original))
    def check(data):
        # When a damaged copy is read to the end
        # Then only format errors escape, in time
        read_all(data, name, format_name, options)

    check()


@pytest.mark.parametrize(
    "name", ["types.xlsx", "formulas.xlsx", "styled_trailing.xlsx"]
)
def test_damaged_sheet_xml_raises_only_format_errors(name):
    # Given a workbook whose sheet XML is damaged
    original = (DATA / name).read_bytes()
    member = "xl/worksheets/sheet1.xml"
    sheet_xml = zipfile.ZipFile(io.BytesIO(original)).read(member)[:20_000]

    @FUZZ
    @given(xml=damaged(sheet_xml))
    def check(xml):
        # When it is read to the end
        # Then only format errors escape, in time
        read_all(damaged_sheet(original, member, xml), name, "xlsx", {})

    check()
