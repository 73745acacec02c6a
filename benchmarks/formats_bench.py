"""Time our readers and writers against the plain loops users would write.

Run from the repository root:

    .venv/bin/python benchmarks/formats_bench.py --rows 1000000

For each format it writes ``--rows`` rows of eight columns with our writer
and with the plain library loop (``csv.writer``, openpyxl's write-only
mode, xlwt, ``json``), then reads the file our writer made with our reader
and with the plain loop (openpyxl's read-only ``iter_rows(values_only=True)``,
xlrd's ``row_values``, ``json``). For CSV the reference is ``csv.reader``
with ``dict(zip(header, record))``, which yields the same dicts of text as
our reader; ``csv.DictReader`` and a bare ``csv.reader`` are shown beside
it. It prints rows per second, the ratio ours / plain, and the peak
resident memory of each, then checks the 150 MB memory target, which
applies to the CSV and XLSX cases of 1,000,000 rows.

Every case runs in a fresh Python process and reports that process's peak
resident set size (``ru_maxrss``), so cases do not inherit each other's
memory; the figure includes the interpreter and the imported libraries.
Time is measured inside the process, without start-up and imports. Rates
come from the process's CPU time, which other work on a shared machine
barely moves (every case runs on one core); ``--wall`` uses the wall clock
instead. XLS holds at most 65,536 rows, so it gets 65,535 data rows under
its header.

This script is never run by the test suite: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["sku", "name", "quantity", "price", "active", "added", "at", "note"]
FORMATS = ("csv", "xlsx", "xls", "jsonl", "json")
XLS_ROWS = 65_535
# Peak resident memory allowed to our CSV and XLSX cases, in bytes. XLS
# holds 65,535 rows and xlwt builds the workbook in memory, and JSON has no
# target, so they are left out.
RSS_TARGET = 150 * 1_000_000
RSS_FORMATS = ("csv", "xlsx")

# (format, operation, plain case, what the plain case is) in print order;
# each operation compares case "ours" with the plain one.
PLAN = [
    ("csv", "write", "plain", "csv.writer"),
    ("csv", "read", "zip", "csv.reader + dict(zip)"),
    ("csv", "read", "plain", "csv.DictReader"),
    ("csv", "read", "bare", "bare csv.reader"),
    ("xlsx", "write", "plain", "openpyxl write-only"),
    ("xlsx", "read", "plain", "openpyxl read-only"),
    ("xls", "write", "plain", "xlwt"),
    ("xls", "read", "typed", "xlrd loop, same values"),
    ("xls", "read", "plain", "raw xlrd row_values"),
    ("jsonl", "write", "plain", "json.dumps per line"),
    ("jsonl", "read", "plain", "json.loads per line"),
    ("json", "write", "plain", "json.dump of a list"),
    ("json", "read", "plain", "json.load"),
]


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


def write_ours(path: Path, rows: int) -> int:
    """Write ``rows`` rows with our writer; return the rows written."""
    from formats import open_writer

    with (
        path.open("wb") as fileobj,
        open_writer(fileobj, name=path.name, columns=COLUMNS) as writer,
    ):
        return writer.write_rows(make_rows(rows))


def read_ours(path: Path, rows: int) -> int:
    """Read every row with our reader; return the rows read."""
    from formats import open_reader

    with path.open("rb") as fileobj, open_reader(fileobj, name=path.name) as reader:
        return sum(1 for _row in reader)


def write_plain(path: Path, rows: int) -> int:
    """Write ``rows`` rows with the plain library loop of the format."""
    kind = path.suffix[1:]
    if kind == "csv":
        import csv

        with path.open("w", encoding="utf-8", newline="") as fileobj:
            writer = csv.writer(fileobj)
            writer.writerow(COLUMNS)
            writer.writerows(make_rows(rows))
    elif kind == "xlsx":
        import openpyxl

        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet()
        sheet.append(COLUMNS)
        for row in make_rows(rows):
            sheet.append(row)
        workbook.save(path)
    elif kind == "xls":
        _write_xlwt(path, rows)
    elif kind == "jsonl":
        with path.open("w", encoding="utf-8") as fileobj:
            for row in make_rows(rows):
                fileobj.write(json.dumps(dict(zip(COLUMNS, row)), default=str))
                fileobj.write("\n")
    else:
        with path.open("w", encoding="utf-8") as fileobj:
            objects = [dict(zip(COLUMNS, row)) for row in make_rows(rows)]
            json.dump(objects, fileobj, default=str)
    return rows


def _write_xlwt(path: Path, rows: int) -> None:
    import xlwt

    workbook = xlwt.Workbook(encoding="utf-8")
    sheet = workbook.add_sheet("Sheet1")
    styles = {
        datetime.date: xlwt.easyxf(num_format_str="YYYY-MM-DD"),
        datetime.datetime: xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS"),
    }
    for column, name in enumerate(COLUMNS):
        sheet.write(0, column, name)
    for index, row in enumerate(make_rows(rows), start=1):
        for column, value in enumerate(row):
            style = styles.get(type(value))
            if style is None:
                sheet.write(index, column, value)
            else:
                sheet.write(index, column, value, style)
    workbook.save(str(path))


def read_plain(path: Path, rows: int) -> int:
    """Read every row with the plain library loop of the format."""
    kind = path.suffix[1:]
    if kind == "csv":
        import csv

        with path.open(encoding="utf-8", newline="") as fileobj:
            return sum(1 for _row in csv.DictReader(fileobj))
    if kind == "xlsx":
        import openpyxl

        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        count = sum(1 for _row in workbook.active.iter_rows(values_only=True))
        workbook.close()
        return count - 1
    if kind == "xls":
        import xlrd

        book = xlrd.open_workbook(str(path))
        sheet = book.sheet_by_index(0)
        return sum(1 for index in range(1, sheet.nrows) if sheet.row_values(index))
    if kind == "jsonl":
        with path.open(encoding="utf-8") as fileobj:
            return sum(1 for line in fileobj if json.loads(line))
    with path.open(encoding="utf-8") as fileobj:
        return len(json.load(fileobj))


def read_zip(path: Path, rows: int) -> int:
    """Read every record with ``csv.reader`` into a dict keyed by the header.

    This loop yields the same dicts of text as our reader, so it is the
    reference for CSV reading.
    """
    import csv

    with path.open(encoding="utf-8", newline="") as fileobj:
        records = csv.reader(fileobj)
        header = next(records)
        return sum(1 for record in records if dict(zip(header, record)))


def typed_xls_rows(path: Path) -> Iterator[dict]:
    """Yield the rows of an XLS sheet as our reader gives them, by hand.

    The loop a careful user would write for the values our reader gives:
    dicts keyed by the header, dates as ``datetime`` by the workbook's date
    system (``date`` when the cell's number format shows no time and the
    time is midnight), whole numbers as ``int``, booleans as ``bool`` and
    empty cells as ``None``. Each cell format is looked up once.
    """
    import xlrd

    book = xlrd.open_workbook(str(path), formatting_info=True)
    sheet = book.sheet_by_index(0)
    header = [str(name).strip() for name in sheet.row_values(0)]
    midnight = datetime.time(0)
    date_only: dict[int, bool] = {}
    for index in range(1, sheet.nrows):
        values = {}
        kinds = sheet.row_types(index)
        cells = sheet.row_values(index)
        for column, (name, kind, value) in enumerate(zip(header, kinds, cells)):
            if kind == xlrd.XL_CELL_NUMBER and value.is_integer():
                value = int(value)
            elif kind == xlrd.XL_CELL_DATE:
                value = xlrd.xldate.xldate_as_datetime(value, book.datemode)
                if value.time() == midnight:
                    xf_index = sheet.cell_xf_index(index, column)
                    if xf_index not in date_only:
                        xf = book.xf_list[xf_index]
                        pattern = book.format_map[xf.format_key].format_str
                        date_only[xf_index] = not any(
                            letter in pattern.lower() for letter in "hs"
                        )
                    if date_only[xf_index]:
                        value = value.date()
            elif kind == xlrd.XL_CELL_BOOLEAN:
                value = bool(value)
            elif kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                value = None
            values[name] = value
        yield values


def read_typed(path: Path, rows: int) -> int:
    """Read every row of an XLS sheet with :func:`typed_xls_rows`.

    This loop yields the same dicts as our reader, so it is the reference
    for XLS reading; the raw ``row_values`` loop is shown for context.
    """
    return sum(1 for _values in typed_xls_rows(path))


def read_bare(path: Path, rows: int) -> int:
    """Read every record with a bare ``csv.reader``, header left out."""
    import csv

    with path.open(encoding="utf-8", newline="") as fileobj:
        return sum(1 for _row in csv.reader(fileobj)) - 1


CASES: dict[str, Callable[[Path, int], int]] = {
    "write:ours": write_ours,
    "write:plain": write_plain,
    "read:ours": read_ours,
    "read:plain": read_plain,
    "read:zip": read_zip,
    "read:bare": read_bare,
    "read:typed": read_typed,
}
# The read cases beside "ours" that each format measures.
READ_CASES = {
    "csv": ("read:zip", "read:plain", "read:bare"),
    "xls": ("read:typed", "read:plain"),
}


_MODULES = {
    True: {name: ["formats"] for name in FORMATS},
    False: {
        "csv": ["csv"],
        "xlsx": ["openpyxl"],
        "xls": ["xlrd", "xlwt"],
        "jsonl": ["json"],
        "json": ["json"],
    },
}


def run_case(case: str, path: Path, rows: int) -> None:
    """Run one case in this process and print its figures as JSON.

    Args:
        case: A key of :data:`CASES`, such as ``"read:ours"``.
        path: The file to write or read; its suffix names the format.
        rows: Rows to write, or expected to be read.
    """
    function = CASES[case]
    # Imports are left out of the time: they cost the same at any size.
    for module in _MODULES[case.endswith(":ours")][path.suffix[1:]]:
        importlib.import_module(module)
    started, cpu_started = time.perf_counter(), time.process_time()
    count = function(path, rows)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if count != rows:
        raise SystemExit(f"{case} on {path.name}: {count} rows, expected {rows}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"rows": count, "seconds": seconds, "cpu": cpu, "peak": peak}))


def measure(case: str, path: Path, rows: int, repeat: int) -> dict:
    """Run a case in fresh processes; keep the best times and highest peak.

    Args:
        case: A key of :data:`CASES`.
        path: The file to write or read.
        rows: Rows to write or read.
        repeat: Number of runs.

    Returns:
        ``rows``; ``seconds`` and ``cpu``, the shortest wall-clock and CPU
        times of the runs; ``peak``, the highest peak memory in bytes.
    """
    runs = []
    for _run in range(repeat):
        command = [sys.executable, __file__, "--case", case, str(path), str(rows)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"{case} on {path.name} failed:\n{done.stderr}")
        runs.append(json.loads(done.stdout.splitlines()[-1]))
        seconds = runs[-1]["seconds"]
        print(f"{path.name} {case}: {seconds:.1f} s", file=sys.stderr, flush=True)
    return {
        "rows": rows,
        "seconds": min(run["seconds"] for run in runs),
        "cpu": min(run["cpu"] for run in runs),
        "peak": max(run["peak"] for run in runs),
    }


def compare(format_name: str, rows: int, folder: Path, repeat: int) -> list[tuple]:
    """Measure every operation of one format.

    Args:
        format_name: One of :data:`FORMATS`.
        rows: Data rows (XLS is capped at 65,535).
        folder: Where the files are written.
        repeat: Runs per case.

    Returns:
        Table lines: format, operation, rows, our and plain figures.
    """
    if format_name == "xls":
        rows = min(rows, XLS_ROWS)
    ours_path = folder / f"ours.{format_name}"
    plain_path = folder / f"plain.{format_name}"
    figures = {
        "write:plain": measure("write:plain", plain_path, rows, repeat),
        "write:ours": measure("write:ours", ours_path, rows, repeat),
    }
    # Both readers read the file our writer made.
    for case in ("read:ours", *READ_CASES.get(format_name, ("read:plain",))):
        figures[case] = measure(case, ours_path, rows, repeat)
    lines = []
    for name, operation, plain, label in PLAN:
        if name == format_name:
            ours = figures[f"{operation}:ours"]
            other = figures[f"{operation}:{plain}"]
            lines.append((name, f"{operation} vs {label}", rows, ours, other))
    return lines


def print_table(lines: list[tuple], clock: str) -> None:
    """Print the figures as a Markdown table.

    Args:
        lines: As returned by :func:`compare`.
        clock: ``"cpu"`` for rates from the process's CPU time,
            ``"seconds"`` for rates from the wall clock.
    """
    print(
        "| format | operation | rows | ours rows/s | plain rows/s | ratio "
        "| ours peak RSS MB | plain peak RSS MB |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for name, operation, rows, ours, plain in lines:
        ours_rate = rows / ours[clock]
        plain_rate = rows / plain[clock]
        print(
            f"| {name} | {operation} | {rows:,} | {ours_rate:,.0f} "
            f"| {plain_rate:,.0f} | {ours_rate / plain_rate:.2f} "
            f"| {ours['peak'] / 1e6:.0f} | {plain['peak'] / 1e6:.0f} |"
        )


def print_memory_check(lines: list[tuple]) -> None:
    """Print whether our CSV and XLSX cases kept under :data:`RSS_TARGET`.

    Args:
        lines: As returned by :func:`compare`.
    """
    print()
    print(
        f"Peak RSS target {RSS_TARGET / 1e6:.0f} MB, for the CSV and XLSX "
        "cases of 1,000,000 rows (XLS and JSON are not held to it):"
    )
    seen = set()
    for name, operation, rows, ours, _plain in lines:
        case = (name, operation.split()[0])
        if name not in RSS_FORMATS or case in seen:
            continue
        seen.add(case)
        verdict = "kept" if ours["peak"] < RSS_TARGET else "MISSED"
        if rows < 1_000_000:
            verdict += f" (only {rows:,} rows measured)"
        print(f"  {name} {case[1]}: {ours['peak'] / 1e6:.0f} MB, {verdict}")


def main() -> None:
    """Parse the command line; run one case, or all and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--formats", nargs="*", default=list(FORMATS))
    parser.add_argument("--repeat", type=int, default=1, help="runs per case")
    parser.add_argument(
        "--wall",
        action="store_true",
        help="rates from the wall clock rather than from CPU time",
    )
    parser.add_argument(
        "--case", nargs=3, metavar=("CASE", "PATH", "ROWS"), help=argparse.SUPPRESS
    )
    options = parser.parse_args()
    if options.case:
        sys.path.insert(0, str(ROOT))
        case, path, rows = options.case
        run_case(case, Path(path), int(rows))
        return

    clock, clock_name = ("seconds", "wall") if options.wall else ("cpu", "CPU")
    print(
        f"{datetime.date.today()}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, {options.rows:,} rows, "
        f"best of {options.repeat}, rates from {clock_name} time"
    )
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        for format_name in options.formats:
            lines += compare(format_name, options.rows, Path(folder), options.repeat)
    print_table(lines, clock)
    print_memory_check(lines)


if __name__ == "__main__":
    main()
