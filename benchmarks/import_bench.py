"""Time importing 100,000 products: our step against the alternatives.

Run on demand, never in the tests::

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python benchmarks/import_bench.py --rows 100000 --repeat 3 \\
        --database postgres://postgres@127.0.0.1:5432/syncflow_bench \\
        --database sqlite
    .venv/bin/python benchmarks/import_bench.py --memory-rows 1000000 \\
        --format csv --format xlsx \\
        --database postgres://postgres@127.0.0.1:5432/syncflow_bench

Each contender imports the same generated file of products (15 columns,
the subcategory given by its ERP id, a natural key) into the demo's
``shop.Product``, twice: the first import into an empty table, then an
update in which every row's list price changed. Contenders:

``step``
    Our ``import_rows`` step with its defaults.
``iex-default``
    django-import-export 4 with a ``ModelResource`` and default options
    (one ``save()`` a row, a diff of each row).
``iex-bulk``
    django-import-export with the settings its documentation gives for
    speed: ``use_bulk``, ``batch_size`` 1,000, ``skip_diff``,
    ``skip_html_diff``, ``use_transactions = False``, a
    ``CachedForeignKeyWidget`` for the subcategory, and the
    ``CachedInstanceLoader``, which reads the file's existing rows with
    one query instead of one query a row.
``hand``
    A hand-written loop: ``csv.reader`` or openpyxl's read-only mode,
    values converted by hand, subcategories from a dict, and
    ``bulk_create`` in batches of 1,000 (with ``update_conflicts`` for the
    update, which writes every row without comparing).

Each run happens in a fresh process, which reports its wall time, its own
CPU time and its peak RSS; the parent prints rows per second and the ratios
of our step to each alternative. django-import-export's default settings
take 5 to 10 minutes for each pass over 100,000 rows; ``--slow-rows N``
times its two contenders on a file of the first N rows instead, for a
quick look (their cost per row changes little with the row count).
``--repeat N`` keeps the fastest of N runs, for a machine that other work
shares. ``--memory-rows N`` replaces
the contest: the step imports N rows into an empty table, then the
``export_rows`` step writes them out, in each format given, each in a
process of its own, and their peak RSS is printed. The PostgreSQL database
named in the URL is created if it does not exist and its product table
emptied; SQLite uses a file in a temporary folder.
"""

import argparse
import csv
import datetime
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTENDERS = ("step", "iex-default", "iex-bulk", "hand")
HEADER = [
    "source_id",
    "name",
    "number",
    "make_flag",
    "finished_goods",
    "color",
    "safety_stock_level",
    "reorder_point",
    "standard_cost",
    "list_price",
    "days_to_manufacture",
    "subcategory",
    "sell_start",
    "guid",
    "modified_at",
]
SUBCATEGORIES = 40


def setup_django(database: str, data_dir: Path) -> None:
    """Configure Django for the demo's shop app on ``database``."""
    sys.path[:0] = [str(ROOT), str(ROOT / "demo")]
    import dj_database_url
    import django
    from django.conf import settings

    if database == "sqlite":
        config = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(data_dir / "bench.sqlite3"),
        }
    else:
        config = dj_database_url.parse(database)
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "shop",
            "import_export",
        ],
        DATABASES={"default": config},
        USE_TZ=True,
        TIME_ZONE="UTC",
        STORAGES={
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(data_dir)},
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        LOGGING_CONFIG=None,
    )
    django.setup()


def product_lines(rows: int, price: str) -> Iterator[list]:
    """Yield the products' rows; ``price`` tells the two passes apart."""
    moment = "2024-01-31 08:00:00"
    for n in range(1, rows + 1):
        yield [
            n,
            f"Product {n}",
            f"PR-{n:07d}",
            "1" if n % 2 else "0",
            "1",
            ("Black", "Red", "Silver", "")[n % 4],
            500,
            375,
            "12.3400",
            f"{price}.{n % 100:02d}",
            n % 5,
            n % SUBCATEGORIES + 1,
            moment,
            str(uuid.UUID(int=n)),
            moment,
        ]


def make_files(
    rows: int, data_dir: Path, price: str, formats: tuple = ("csv", "xlsx")
) -> dict[str, Path]:
    """Write the products as CSV and XLSX; ``price`` tells the two passes apart.

    The files are named ``products-<price>-<rows>.csv`` and ``.xlsx``. The
    rows are made as they are written, so a million of them fit in memory.
    """
    import openpyxl

    paths = {fmt: data_dir / f"products-{price}-{rows}.{fmt}" for fmt in formats}
    if "csv" in paths:
        with open(paths["csv"], "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(product_lines(rows, price))
    if "xlsx" in paths:
        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet("Products")
        sheet.append(HEADER)
        for line in product_lines(rows, price):
            sheet.append([str(v) if i in (12, 14) else v for i, v in enumerate(line)])
        workbook.save(paths["xlsx"])
    return paths


def prepare_database() -> None:
    """Migrate, and make the categories and subcategories the rows name."""
    from django.core.management import call_command
    from shop.models import Category, Product, Subcategory

    call_command("migrate", verbosity=0, interactive=False)
    Product.objects.all().delete()
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    if not Category.objects.exists():
        bikes = Category.objects.create(
            source_id=1, name="Bikes", guid=uuid.uuid4(), modified_at=now
        )
        Subcategory.objects.bulk_create(
            Subcategory(
                source_id=n,
                category=bikes,
                name=f"Sub {n}",
                guid=uuid.uuid4(),
                modified_at=now,
            )
            for n in range(1, SUBCATEGORIES + 1)
        )


def run_step(path: Path, fmt: str) -> None:
    """Import with the ``import_rows`` step and its defaults."""
    from steps.context import StepContext
    from steps.import_rows import ImportRows

    config = {
        "source": {"storage": "default", "path": path.name},
        "model": "shop.Product",
        "key": ["source_id"],
        "fields": {name: name for name in HEADER},
    }
    config["fields"]["subcategory"] = {"column": "subcategory", "lookup": "source_id"}
    if fmt == "xlsx":
        # A million rows of 15 columns unpack to about 800 MB, past the
        # default cap on what a workbook may unpack to.
        config["read"] = {"max_unpacked_bytes": 2 * 1024**3}
    ctx = StepContext()
    ImportRows(config).run(ctx)
    if ctx.counts["failed"]:
        raise SystemExit(f"step rejected rows: {ctx.rejected[:3]}")


def run_export(data_dir: Path, fmt: str) -> int:
    """Export every product with the ``export_rows`` step; return the count."""
    from steps.context import StepContext
    from steps.export_rows import ExportRows

    fields = [*HEADER]
    fields[fields.index("subcategory")] = "subcategory__source_id"
    config = {
        "model": "shop.Product",
        "fields": fields,
        "headers": HEADER,
        "ordering": ["source_id"],
        "path": f"export.{fmt}",
    }
    output = ExportRows(config).run(StepContext())
    return output["rows"]


def iex_resource(bulk: bool):
    """Return django-import-export's resource for the products."""
    from import_export import fields, instance_loaders, resources, widgets
    from shop.models import Product, Subcategory

    widget_class = widgets.CachedForeignKeyWidget if bulk else widgets.ForeignKeyWidget

    class ProductResource(resources.ModelResource):
        subcategory = fields.Field(
            attribute="subcategory",
            column_name="subcategory",
            widget=widget_class(Subcategory, field="source_id"),
        )

        class Meta:
            model = Product
            fields = HEADER
            import_id_fields = ["source_id"]
            if bulk:
                use_bulk = True
                batch_size = 1000
                skip_diff = True
                skip_html_diff = True
                use_transactions = False
                # Reads every existing row of the file with one query, where
                # the default loader runs one query a row.
                instance_loader_class = instance_loaders.CachedInstanceLoader

    return ProductResource()


def run_iex(path: Path, fmt: str, bulk: bool) -> None:
    """Import with django-import-export, default or bulk settings."""
    import tablib

    resource_ = iex_resource(bulk)
    if fmt == "csv":
        dataset = tablib.Dataset().load(path.read_text(encoding="utf-8"), format="csv")
    else:
        with open(path, "rb") as handle:
            dataset = tablib.Dataset().load(handle.read(), format="xlsx")
    result = resource_.import_data(dataset, dry_run=False, raise_errors=True)
    if result.has_errors() or result.has_validation_errors():
        raise SystemExit("django-import-export reported errors")


def run_hand(path: Path, fmt: str, update: bool) -> None:
    """Import with a plain reader loop and ``bulk_create``, as a person would."""
    from django.utils.dateparse import parse_datetime
    from django.utils.timezone import make_aware
    from shop.models import Product, Subcategory

    subcategories = dict(Subcategory.objects.values_list("source_id", "pk"))
    if fmt == "csv":
        # The process ends right after the loop, which closes the file.
        handle = open(path, newline="", encoding="utf-8")  # noqa: SIM115
        lines = csv.reader(handle)
        next(lines)
    else:
        import openpyxl

        workbook = openpyxl.load_workbook(path, read_only=True)
        lines = workbook.active.iter_rows(min_row=2, values_only=True)
    fields = HEADER[1:]
    fields[fields.index("subcategory")] = "subcategory_id"
    batch = []

    def flush():
        if update:
            Product.objects.bulk_create(
                batch,
                update_conflicts=True,
                unique_fields=["source_id"],
                update_fields=fields,
            )
        else:
            Product.objects.bulk_create(batch)
        batch.clear()

    for line in lines:
        (
            source_id,
            name,
            number,
            make,
            finished,
            color,
            safety,
            reorder,
            cost,
            price,
            days,
            sub,
            start,
            guid,
            modified,
        ) = line
        batch.append(
            Product(
                source_id=int(source_id),
                name=name,
                number=number,
                make_flag=str(make) == "1",
                finished_goods=str(finished) == "1",
                color=color or "",
                safety_stock_level=int(safety),
                reorder_point=int(reorder),
                standard_cost=Decimal(str(cost)),
                list_price=Decimal(str(price)),
                days_to_manufacture=int(days),
                subcategory_id=subcategories[int(sub)],
                sell_start=make_aware(parse_datetime(str(start))),
                guid=uuid.UUID(str(guid)),
                modified_at=make_aware(parse_datetime(str(modified))),
            )
        )
        if len(batch) == 1000:
            flush()
    if batch:
        flush()


def worker(args) -> None:
    """Run one import in this process and print its figures as JSON."""
    data_dir = Path(args.data_dir)
    setup_django(args.database, data_dir)
    from django.db import connection
    from shop.models import Product

    if args.phase == "first":
        prepare_database()
    if args.phase == "export":
        export_worker(data_dir, args.format)
        return
    price = "200" if args.phase == "first" else "300"
    path = data_dir / f"products-{price}-{args.limit or args.rows}.{args.format}"
    connection.ensure_connection()
    # Modules are imported before the clock starts: a worker process has
    # them loaded already, and each contender's import time differs.
    import openpyxl  # noqa: F401
    import tablib  # noqa: F401
    from import_export import resources  # noqa: F401

    from steps import import_rows  # noqa: F401

    cpu = time.process_time()
    start = time.perf_counter()
    if args.contender == "step":
        run_step(path, args.format)
    elif args.contender.startswith("iex"):
        run_iex(path, args.format, bulk=args.contender == "iex-bulk")
    else:
        run_hand(path, args.format, update=args.phase == "update")
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    count = Product.objects.filter(list_price__gte=300 if args.phase == "update" else 0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"seconds": seconds, "cpu": cpu, "rows": count.count(), "peak_mb": peak}
        )
    )


def export_worker(data_dir: Path, fmt: str) -> None:
    """Export the products in this process and print its figures as JSON."""
    from django.db import connection

    connection.ensure_connection()
    from steps import export_rows  # noqa: F401

    cpu = time.process_time()
    start = time.perf_counter()
    rows = run_export(data_dir, fmt)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": rows, "peak_mb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--database",
        action="append",
        default=[],
        help="A database URL, or 'sqlite'; may be repeated.",
    )
    parser.add_argument(
        "--format", action="append", default=[], choices=["csv", "xlsx"]
    )
    parser.add_argument("--contender", action="append", default=[], choices=CONTENDERS)
    parser.add_argument(
        "--slow-rows",
        type=int,
        help="Time django-import-export on the first N rows only (it is linear).",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="Run each contender N times and keep the fastest (a busy machine).",
    )
    parser.add_argument(
        "--memory-rows",
        type=int,
        help="Instead of the contest, import N rows with the step and export "
        "them, each in a process of its own, and print their peak memory.",
    )
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.database, args.format, args.contender = (
            args.database[0],
            args.format[0],
            args.contender[0],
        )
        worker(args)
        return
    databases = args.database or ["sqlite"]
    formats = args.format or ["csv", "xlsx"]
    contenders = args.contender or list(CONTENDERS)
    if args.memory_rows:
        measure_memory(args.memory_rows, databases, formats)
        return
    with tempfile.TemporaryDirectory(prefix="import-bench-") as folder:
        data_dir = Path(folder)
        for price in ("200", "300"):
            make_files(args.rows, data_dir, price)
            if args.slow_rows:
                make_files(args.slow_rows, data_dir, price)
        for database in databases:
            create_database(database)
            for fmt in formats:
                report(database, fmt, contenders, args, data_dir)


#: What ``--memory-rows`` runs for each format, in order.
MEMORY_JOBS = [("step", "first"), ("step", "export")]


def measure_memory(rows: int, databases: list, formats: list) -> None:
    """Import ``rows`` products with the step, then export them; print peaks.

    Each format of ``formats`` is imported, then exported.

    Each import and each export runs in a fresh process, whose peak RSS is
    what it reports: Python, Django and the step's modules included.
    """
    with tempfile.TemporaryDirectory(prefix="import-bench-") as folder:
        data_dir = Path(folder)
        make_files(rows, data_dir, "200", tuple(formats))
        for database in databases:
            create_database(database)
            label = "SQLite" if database == "sqlite" else "PostgreSQL"
            # Each import starts from an empty table; the export after it
            # writes what that import left.
            jobs = [(c, phase, fmt) for fmt in formats for c, phase in MEMORY_JOBS]
            for contender, phase, fmt in jobs:
                result = run_worker(
                    database, fmt, contender, phase, None, data_dir, rows
                )
                if result is None:
                    continue
                what = "import" if phase == "first" else "export"
                print(
                    f"  {label} {what} {fmt:4} {result['rows']:,} rows: "
                    f"{result['rows'] / result['seconds']:7,.0f} rows/s  "
                    f"peak {result['peak_mb']:4.0f} MB",
                    flush=True,
                )


def create_database(database: str) -> None:
    """Create the PostgreSQL database of ``database`` if it is missing."""
    if database == "sqlite":
        return
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(database)
    with psycopg.connect(
        host=config["HOST"],
        port=config["PORT"] or 5432,
        user=config["USER"],
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{config["NAME"]}"')


def report(database: str, fmt: str, contenders: list, args, data_dir: Path):
    """Run every contender on one database and format; print its figures.

    Each contender runs ``args.repeat`` times (a first import, then the
    update), in turns; the fastest wall time of each phase is kept.
    """
    label = "SQLite" if database == "sqlite" else "PostgreSQL"
    figures: dict = {}
    # Contenders take turns, so a busy spell of the machine does not fall
    # on one of them only.
    for _attempt in range(args.repeat):
        for contender in contenders:
            limit = args.slow_rows if contender.startswith("iex") else None
            for phase in ("first", "update"):
                result = run_worker(
                    database, fmt, contender, phase, limit, data_dir, args.rows
                )
                if result is None:
                    continue
                expected = limit or args.rows
                if result["rows"] != expected:
                    print(f"{contender} {phase}: {result['rows']} rows, not {expected}")
                result["rate"] = expected / result["seconds"]
                result["cpu_rate"] = expected / result["cpu"]
                result["limit"] = limit
                best = figures.get((contender, phase))
                if best is None or result["rate"] > best["rate"]:
                    figures[contender, phase] = result
    for contender in contenders:
        for phase in ("first", "update"):
            result = figures.get((contender, phase))
            if result is None:
                continue
            note = f" (first {result['limit']:,} rows)" if result["limit"] else ""
            print(
                f"  {label} {fmt} {contender:12} {phase:6} "
                f"{result['rate']:9,.0f} rows/s  "
                f"(client CPU {result['cpu_rate']:7,.0f} rows/s)  "
                f"peak {result['peak_mb']:4.0f} MB{note}",
                flush=True,
            )
    for phase in ("first", "update"):
        ours = figures.get(("step", phase))
        for contender in contenders:
            other = figures.get((contender, phase))
            if ours and other and contender != "step":
                ratio = ours["rate"] / other["rate"]
                print(
                    f"  {label} {fmt} {phase:6} step / {contender}: {ratio:.2f}x",
                    flush=True,
                )


def run_worker(database, fmt, contender, phase, limit, data_dir, rows) -> dict | None:
    """Run one import in a fresh process; return its figures, or ``None``."""
    path = data_dir / "bench.sqlite3"
    if database == "sqlite" and phase == "first" and path.exists():
        path.unlink()
    command = [
        sys.executable, __file__, "--worker", "--phase", phase, "--database",
        database, "--format", fmt, "--contender", contender, "--data-dir",
        str(data_dir), "--rows", str(rows),
    ]  # fmt: skip
    if limit:
        command += ["--limit", str(limit)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"{contender} {phase} failed:\n{done.stderr[-2000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
