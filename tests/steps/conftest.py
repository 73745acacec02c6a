"""Fixtures of the ``steps`` tests: files in storages, and a small catalog.

Step kinds run in the test process with ``Kind(config).run(ctx)`` against
the real test database; the flows tests run the same kinds on a worker.
"""

import datetime
import re
import threading
import uuid
from collections import Counter
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.base import ContentFile
from django.test.utils import CaptureQueriesContext
from shop.models import Category, Product, Subcategory

from steps.context import StepContext
from steps.import_rows import ImportRows
from tests.conftest import ROOT
from tests.testapp.models import Tag

ERP = {"storage": "erp", "read": {"header": False, "delimiter": "\t"}}
CATEGORIES = {"source_id": 1, "name": 2, "guid": 3, "modified_at": 4}
SUBCATEGORIES = {
    "source_id": 1,
    "category": {"column": 2, "lookup": "source_id"},
    "name": 3,
    "guid": 4,
    "modified_at": 5,
}


@pytest.fixture
def put_file(scratch, request):
    """Write a file into the ``scratch`` storage; return its source config.

    Each test writes into its own folder, and writing a name again replaces
    the file, so a test can import a file, change it and import it again.
    """
    folder = re.sub(r"\W+", "-", request.node.name[:60]) + uuid.uuid4().hex[:8]

    def put(name: str, content: bytes | str) -> dict:
        if isinstance(content, str):
            content = content.encode("utf-8")
        path = f"{folder}/{name}"
        if scratch.exists(path):
            scratch.delete(path)
        scratch.save(path, ContentFile(content))
        return {"storage": "scratch", "path": path}

    return put


def erp_import(model: str, path: str, fields: dict, **config) -> dict:
    """Return the config that imports a headerless TAB file of the demo's ERP."""
    source = {"storage": ERP["storage"], "path": path}
    return {
        "source": source,
        "format": "csv",
        "read": dict(ERP["read"]),
        "model": model,
        "key": ["source_id"],
        "fields": fields,
        **config,
    }


def catalog_import(source: dict, model: str = "shop.Category", **config) -> dict:
    """Return the config that imports ``id,name,guid,modified`` rows of ``model``."""
    fields = {
        "source_id": "id",
        "name": "name",
        "guid": "guid",
        "modified_at": "modified",
    }
    return {
        "source": source,
        "model": model,
        "key": ["source_id"],
        "fields": fields,
        **config,
    }


@pytest.fixture
def categories(db):
    """The demo's four real categories, imported from its dump."""
    ctx = StepContext()
    config = erp_import("shop.Category", "ProductCategory.csv", CATEGORIES)
    ImportRows(config).run(ctx)
    assert not ctx.rejected, ctx.rejected
    return Category.objects.all()


@pytest.fixture
def catalog(categories):
    """The demo's real categories and subcategories, imported from its dump."""
    ctx = StepContext()
    config = erp_import("shop.Subcategory", "ProductSubcategory.csv", SUBCATEGORIES)
    ImportRows(config).run(ctx)
    assert not ctx.rejected, ctx.rejected
    return Subcategory.objects.select_related("category")


@pytest.fixture
def make_category(db):
    """Create a category (and optionally its subcategories) by name."""

    def make(name: str, *subcategories: str) -> Category:
        category = Category.objects.create(
            source_id=Category.objects.count() + 100,
            name=name,
            guid=uuid.uuid4(),
            modified_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
        )
        for sub in subcategories:
            Subcategory.objects.create(
                source_id=Subcategory.objects.count() + 100,
                category=category,
                name=sub,
                guid=uuid.uuid4(),
                modified_at=category.modified_at,
            )
        return category

    return make


@pytest.fixture
def make_product(db):
    """Create a product with every required field filled; override any."""
    numbers = iter(range(1, 10_000))

    def make(name: str, **fields) -> Product:
        n = next(numbers)
        values = {
            "source_id": 9000 + n,
            "name": name,
            "number": f"TEST-{n:04d}",
            "make_flag": False,
            "finished_goods": True,
            "safety_stock_level": 10,
            "reorder_point": 5,
            "standard_cost": Decimal("1.0000"),
            "list_price": Decimal("2.0000"),
            "days_to_manufacture": 0,
            "sell_start": datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
            "guid": uuid.uuid4(),
            "modified_at": datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC),
        }
        values.update(fields)
        return Product.objects.create(**values)

    return make


class FileHandler(BaseHTTPRequestHandler):
    """Serves the server's ``routes``: path → (status, body, content type)."""

    def do_GET(self):
        self.server.hits[self.path] += 1
        status, body, content_type = self.server.routes.get(
            self.path, (404, b"Not found", "text/plain")
        )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def http_server():
    """An HTTP server on 127.0.0.1 in a thread; fill its ``routes``.

    ``routes`` maps a path to ``(status, body, content type)``; ``hits``
    counts the requests per path; ``url`` is the server's base URL.
    """
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FileHandler)
    httpd.daemon_threads = True
    httpd.hits = Counter()
    httpd.routes = {}
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


ROOT_DATA = ROOT / "tests" / "data"


def tags_csv(*rows: str) -> str:
    """Return a CSV text of tags: a header and one line per row given."""
    return "code,label,weight\n" + "".join(f"{row}\n" for row in rows)


def tag_import(source: dict, **config) -> dict:
    """Return the config that imports tags by code from ``source``."""
    fields = {"code": "code", "label": "label", "weight": "weight"}
    return {
        "source": source,
        "model": "testapp.Tag",
        "key": ["code"],
        "fields": fields,
        **config,
    }


def run(config: dict, **context) -> tuple[StepContext, dict]:
    """Run an import step in this process; return its context and output."""
    ctx = StepContext(**context)
    output = ImportRows(config).run(ctx)
    return ctx, output


def tags() -> dict:
    """Return every tag as code → (label, weight)."""
    return {t.code: (t.label, t.weight) for t in Tag.objects.all()}


def writes(queries: CaptureQueriesContext) -> list[str]:
    """Return the INSERT and UPDATE statements among captured queries."""
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]


def bad_tags_config(**config) -> dict:
    """Return the import of the 1,000 tags with bad lines 101, 502 and 903."""
    source = {"storage": "testdata", "path": "steps/tags_1000_with_3_bad_rows.csv"}
    return tag_import(source, **config)
