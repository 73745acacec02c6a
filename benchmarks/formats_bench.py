"""Time writing and reading a large file in every format of ``formats``.

Run from the repository root:

    .venv/bin/python benchmarks/formats_bench.py --rows 1000000

For each format it writes ``--rows`` rows of eight columns to a temporary
file, reads them back, and prints the seconds, rows per second and the
peak memory of the read measured by :mod:`tracemalloc` (which slows the
read; pass ``--no-memory`` for speed alone). A streaming reader keeps its
peak memory flat however many rows the file has.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from formats import open_reader, open_writer  # noqa: E402

COLUMNS = ["sku", "name", "quantity", "price", "active", "added", "at", "note"]
FORMATS = ("csv", "xlsx", "json", "jsonl", "xls")
XLS_ROWS = 65_535


def make_rows(count: int) -> Iterator[list]:
    """Yield ``count`` rows of typical catalog data.

    Args:
        count: Number of rows.

    Returns:
        An iterator of rows in :data:`COLUMNS` order.
    """
    start = datetime.datetime(2019, 4, 30)
    for number in range(count):
        yield [
            f"AR-{number:07d}",
            f"Adjustable Race {number}",
            number % 1000,
            Decimal(number % 10_000) / 100,
            number % 2 == 0,
            (start + datetime.timedelta(days=number % 3000)).date(),
            start + datetime.timedelta(minutes=number),
            "" if number % 3 else "restocked",
        ]


def measure(format_name: str, rows: int, folder: Path, memory: bool) -> dict:
    """Write then read one file and return the figures.

    Args:
        format_name: A registered format name.
        rows: Rows to write (XLS is capped at 65,535).
        folder: Where the file is written.
        memory: Trace the peak memory of the read.

    Returns:
        A dict of rows, seconds to write and read, file size and peak
        memory in bytes (``None`` when not traced).
    """
    if format_name == "xls":
        rows = min(rows, XLS_ROWS)
    path = folder / f"bench.{format_name}"
    started = time.perf_counter()
    with (
        path.open("wb") as fileobj,
        open_writer(fileobj, name=path.name, columns=COLUMNS) as writer,
    ):
        writer.write_rows(make_rows(rows))
    written = time.perf_counter() - started

    if memory:
        tracemalloc.start()
    started = time.perf_counter()
    with path.open("rb") as fileobj:
        count = sum(1 for _row in open_reader(fileobj, name=path.name))
    read = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if memory else None
    if memory:
        tracemalloc.stop()
    assert count == rows, (format_name, count, rows)
    return {
        "rows": rows,
        "write": written,
        "read": read,
        "size": path.stat().st_size,
        "peak": peak,
    }


def main() -> None:
    """Parse the command line and print one line per format."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--formats", nargs="*", default=list(FORMATS))
    parser.add_argument("--no-memory", action="store_true")
    options = parser.parse_args()
    print(
        f"{'format':7} {'rows':>9} {'MB':>7} {'write s':>8} {'read s':>8} "
        f"{'rows/s':>9} {'peak MB':>8}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for format_name in options.formats:
            figures = measure(
                format_name, options.rows, Path(folder), not options.no_memory
            )
            peak = figures["peak"]
            shown = f"{peak / 1e6:8.1f}" if peak is not None else f"{'-':>8}"
            print(
                f"{format_name:7} {figures['rows']:9d} {figures['size'] / 1e6:7.1f} "
                f"{figures['write']:8.2f} {figures['read']:8.2f} "
                f"{figures['rows'] / figures['read']:9.0f} {shown}"
            )


if __name__ == "__main__":
    main()
