"""Fixtures of the ``steps`` tests: files in storages, and a small catalog.

Step kinds run in the test process with ``Kind(config).run(ctx)`` against
the real test database; the flows tests run the same kinds on a worker.
"""

import datetime
import re
import uuid
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from shop.models import Category, Product, Subcategory
from steps.context import StepContext
from steps.import_rows import ImportRows

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
