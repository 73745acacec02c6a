"""The demo's nightly flow, end to end on a real worker and real data."""

import csv
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.core.files.storage import storages

from flows.loader import load_flow
from flows.models import RunStatus
from flows.scheduler import start_run
from shop.models import Category, Product, Subcategory, Vendor
from shop.photoserver import start_photo_server
from tests.conftest import ROOT, wait_for_run

pytestmark = pytest.mark.worker
DATA = ROOT / "demo" / "data"


@pytest.fixture
def photo_server():
    server = start_photo_server(DATA / "ProductPhoto.csv", 0)
    yield server
    server.stop()


def erp_rows(name):
    with open(DATA / name, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle, delimiter="\t"))


def expected_subcategory_totals():
    """Count and average list price per subcategory, straight from the file."""
    prices = defaultdict(list)
    for row in erp_rows("Product.csv"):
        if row[18]:
            prices[int(row[18])].append(Decimal(row[9]))
    return {
        key: (len(values), (sum(values) / len(values)).quantize(Decimal("0.01")))
        for key, values in prices.items()
    }


def test_the_nightly_flow_imports_the_catalog_fetches_photos_and_exports(
    worker, nightly_definition, photo_server
):
    # Given the demo's nightly flow
    nightly = load_flow(nightly_definition)

    # When it runs with the photo server's address as a parameter
    run = start_run(nightly, params={"photo_base_url": photo_server.base_url})
    run = wait_for_run(run, timeout=180)

    # Then every step succeeded and the catalog is complete
    statuses = dict(run.step_runs.values_list("key", "status"))
    assert run.status == RunStatus.SUCCEEDED, (statuses, run.error)
    assert Category.objects.count() == 4
    assert Subcategory.objects.count() == 37
    assert Vendor.objects.count() == 104
    assert Product.objects.count() == 504
    assert Product.objects.filter(subcategory__isnull=True).count() == 209

    # And each product whose linked photo is a real one has it stored
    real_photo = {
        int(r[0]): r[1] for r in erp_rows("ProductProductPhoto.csv") if r[1] != "1"
    }
    assert len(real_photo) == 158
    with_photo = Product.objects.exclude(photo="")
    assert sorted(with_photo.values_list("source_id", flat=True)) == sorted(real_photo)
    media = storages["default"]
    for product in with_photo:
        assert media.exists(product.photo.name)
        assert media.open(product.photo.name).read(4) == b"GIF8"
    assert not Product.objects.filter(photo_url="", photo__gt="").exists()

    # And the recalculated totals match the file
    for key, (count, average) in expected_subcategory_totals().items():
        subcategory = Subcategory.objects.get(source_id=key)
        assert (subcategory.product_count, subcategory.average_list_price) == (
            count,
            average,
        )
    assert sum(Category.objects.values_list("product_count", flat=True)) == 504 - 209
    bikes = Category.objects.get(name="Bikes")
    assert (
        bikes.product_count
        == Product.objects.filter(subcategory__category=bikes).count()
    )

    # And the price list opens with openpyxl and has one row per product
    export = run.step_runs.get(key="price_list").output
    workbook = openpyxl.load_workbook(Path(export["file"]), read_only=True)
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0][:2] == ("Product number", "Name")
    assert len(rows) == 1 + 504
    assert {r[0] for r in rows[1:]} == set(
        Product.objects.values_list("number", flat=True)
    )


def test_a_second_nightly_run_creates_nothing_new(
    worker, nightly_definition, photo_server
):
    # Given a first run
    nightly = load_flow(nightly_definition)
    params = {"photo_base_url": photo_server.base_url}
    first = wait_for_run(start_run(nightly, params=params), timeout=180)
    assert first.status == RunStatus.SUCCEEDED

    # When the flow runs again on the same files
    second = wait_for_run(start_run(nightly, params=params), timeout=180)

    # Then nothing is created: every imported row is unchanged
    assert second.status == RunStatus.SUCCEEDED
    for step_run in second.step_runs.filter(kind="import_rows"):
        assert step_run.created == 0, step_run.key
        assert step_run.updated == 0, step_run.key
        assert step_run.failed == 0, step_run.key
        assert step_run.unchanged > 0, step_run.key
    downloads = second.step_runs.get(key="download_photos")
    assert (downloads.created, downloads.unchanged) == (0, 158)
    assert Product.objects.count() == 504
