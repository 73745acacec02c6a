"""The ``export_rows`` step kind: querysets written to files and read back."""

import csv
import datetime
import io
import json
import uuid
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone

from shop.models import Product, Subcategory
from steps.context import StepContext
from steps.errors import ConfigError
from steps.export_rows import ExportRows
from steps.import_rows import ImportRows
from tests.testapp.models import Tag

PRICE_LIST = {
    "model": "shop.Product",
    "fields": [
        "number",
        "name",
        "list_price",
        "subcategory__name",
        "subcategory__category__name",
    ],
    "headers": ["Product number", "Name", "List price", "Subcategory", "Category"],
    "storage": "scratch",
}


@pytest.fixture
def folder(scratch) -> str:
    """A folder of the scratch storage of this test's own."""
    return f"exports-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def products(make_category, make_product):
    """Three road bikes and a part without a subcategory."""
    make_category("Bikes", "Road Bikes")
    road = Subcategory.objects.get(name="Road Bikes")
    make_product(
        "Road-150", number="BK-R150", subcategory=road, list_price=Decimal("3578.2700")
    )
    make_product(
        "Road-450", number="BK-R450", subcategory=road, list_price=Decimal("1457.9900")
    )
    make_product(
        "Road-650", number="BK-R650", subcategory=road, list_price=Decimal("782.9900")
    )
    make_product("Chainring Bolts", number="CB-2903", list_price=Decimal(0))


def export(**config) -> tuple[StepContext, dict]:
    ctx = StepContext()
    output = ExportRows(config).run(ctx)
    return ctx, output


def read_xlsx(scratch, name: str) -> list[tuple]:
    with scratch.open(name, "rb") as handle:
        workbook = openpyxl.load_workbook(io.BytesIO(handle.read()))
    return list(workbook.active.iter_rows(values_only=True))


def read_csv(scratch, name: str) -> list[list[str]]:
    with scratch.open(name, "rb") as handle:
        text = handle.read().decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_a_price_list_is_written_to_xlsx_with_headers_and_related_names(
    products, scratch, folder
):
    # Given three road bikes and a part without a subcategory
    # When the bikes are exported to a workbook, dearest last, under a name
    # with today's date
    ctx, output = export(
        **PRICE_LIST,
        filter={"subcategory__isnull": False},
        ordering=["list_price"],
        path=f"{folder}/price-list-%Y-%m-%d.xlsx",
    )

    # Then the file is named for today and holds the headers and the rows,
    # with names from two relations away and prices as numbers
    today = timezone.localdate().isoformat()
    assert output["path"] == f"{folder}/price-list-{today}.xlsx"
    assert output["rows"] == 3 and output["storage"] == "scratch"
    assert output["file"] == scratch.path(output["path"])
    assert read_xlsx(scratch, output["path"]) == [
        ("Product number", "Name", "List price", "Subcategory", "Category"),
        ("BK-R650", "Road-650", 782.99, "Road Bikes", "Bikes"),
        ("BK-R450", "Road-450", 1457.99, "Road Bikes", "Bikes"),
        ("BK-R150", "Road-150", 3578.27, "Road Bikes", "Bikes"),
    ]
    assert ctx.count_dict()["created"] == 3


def test_a_csv_export_holds_the_paths_as_headers_by_default(products, scratch, folder):
    # Given the products
    # When they are exported to CSV without headers, by descending number
    config = {**PRICE_LIST, "headers": []}
    _ctx, output = export(**config, ordering=["-number"], path=f"{folder}/prices.csv")

    # Then the header row is the field paths, and an empty relation is empty
    assert read_csv(scratch, output["path"]) == [
        [
            "number",
            "name",
            "list_price",
            "subcategory__name",
            "subcategory__category__name",
        ],
        ["CB-2903", "Chainring Bolts", "0.0000", "", ""],
        ["BK-R650", "Road-650", "782.9900", "Road Bikes", "Bikes"],
        ["BK-R450", "Road-450", "1457.9900", "Road Bikes", "Bikes"],
        ["BK-R150", "Road-150", "3578.2700", "Road Bikes", "Bikes"],
    ]


def test_an_export_replaces_a_file_of_the_same_name(products, scratch, folder):
    # Given an export written once
    path = f"{folder}/prices.csv"
    export(**PRICE_LIST, path=path)

    # When it is written again after a product went
    Product.objects.filter(number="BK-R150").delete()
    _ctx, output = export(**PRICE_LIST, path=path)

    # Then the file under the same name holds the new rows, and no second
    # file was made beside it
    assert output["path"] == path
    numbers = [row[0] for row in read_csv(scratch, path)[1:]]
    assert numbers == ["BK-R450", "BK-R650", "CB-2903"]
    assert scratch.listdir(folder)[1] == ["prices.csv"]


def test_text_that_a_spreadsheet_would_run_is_escaped_and_numbers_are_not(
    db, scratch, folder
):
    # Given labels starting with formula characters, a label that is a plain
    # negative number, and negative and positive weights
    for code, label, weight in (
        ("A", '=HYPERLINK("http://x")', -5),
        ("B", "+1+2", 0),
        ("C", "-2+3", 3),
        ("D", "@SUM(A1)", None),
        ("E", "-12.5", -1),
        ("F", "Plain", 12),
    ):
        Tag.objects.create(code=code, label=label, weight=weight)
    config = {
        "model": "testapp.Tag",
        "fields": ["code", "label", "weight"],
        "ordering": ["code"],
        "storage": "scratch",
    }

    # When they are exported to a workbook and to CSV
    export(**config, path=f"{folder}/tags.xlsx")
    export(**config, path=f"{folder}/tags.csv")

    # Then the formulas have a quote in front, and the numbers stay numbers
    expected = [
        ("A", '\'=HYPERLINK("http://x")', -5),
        ("B", "'+1+2", 0),
        ("C", "'-2+3", 3),
        ("D", "'@SUM(A1)", None),
        ("E", "-12.5", -1),
        ("F", "Plain", 12),
    ]
    assert read_xlsx(scratch, f"{folder}/tags.xlsx")[1:] == expected
    as_text = [[c, label, "" if w is None else str(w)] for c, label, w in expected]
    assert read_csv(scratch, f"{folder}/tags.csv")[1:] == as_text


def test_escape_formulas_false_writes_text_as_it_is(db, scratch, folder):
    # Given a label that reads as a formula
    Tag.objects.create(code="A", label="=1+2", weight=-3)
    config = {
        "model": "testapp.Tag",
        "fields": ["label", "weight"],
        "storage": "scratch",
        "escape_formulas": False,
    }

    # When it is exported with escaping turned off
    export(**config, path=f"{folder}/tags.xlsx")
    export(**config, path=f"{folder}/tags.csv")

    # Then it is written unchanged, and a workbook keeps it as text
    assert read_xlsx(scratch, f"{folder}/tags.xlsx")[1:] == [("=1+2", -3)]
    assert read_csv(scratch, f"{folder}/tags.csv")[1:] == [["=1+2", "-3"]]


def test_date_times_are_exported_to_a_workbook_in_local_time(
    make_product, scratch, folder, settings
):
    # Given a product modified at noon UTC, and a site in Amsterdam
    settings.TIME_ZONE = "Europe/Amsterdam"
    moment = datetime.datetime(2024, 7, 1, 12, 0, tzinfo=datetime.UTC)
    make_product("Road-150", modified_at=moment)
    config = {
        "model": "shop.Product",
        "fields": ["name", "modified_at"],
        "storage": "scratch",
    }

    # When it is exported to a workbook and to CSV
    export(**config, path=f"{folder}/modified.xlsx")
    export(**config, path=f"{folder}/modified.csv")

    # Then both show the local time, which a workbook cannot hold with a zone
    local = datetime.datetime(2024, 7, 1, 14, 0)
    assert read_xlsx(scratch, f"{folder}/modified.xlsx")[1:] == [("Road-150", local)]
    assert read_csv(scratch, f"{folder}/modified.csv")[1:] == [
        ["Road-150", "2024-07-01 14:00:00"]
    ]


def test_an_empty_queryset_gives_a_file_of_headers_only(db, scratch, folder):
    # Given no tags
    # When they are exported
    config = {
        "model": "testapp.Tag",
        "fields": ["code"],
        "headers": ["Code"],
        "storage": "scratch",
        "path": f"{folder}/tags.xlsx",
    }
    _ctx, output = export(**config)

    # Then the file has its header row only
    assert output["rows"] == 0
    assert read_xlsx(scratch, output["path"]) == [("Code",)]


CONFIG_ERRORS = {
    "a field path that does not resolve": (
        {"fields": ["code", "colour"]},
        "fields: Cannot resolve keyword 'colour'",
    ),
    "an ordering that does not resolve": (
        {"ordering": ["-colour"]},
        "filter or ordering: Cannot resolve keyword 'colour'",
    ),
    "a filter that does not resolve": (
        {"filter": {"colour": "red"}},
        "filter or ordering: Cannot resolve keyword",
    ),
    "fewer headers than fields": (
        {"headers": ["Code"]},
        "'headers' must name every field once.",
    ),
    "an unknown storage": (
        {"storage": "nowhere"},
        "storage 'nowhere' is not in the STORAGES setting.",
    ),
    "no path": ({"path": ""}, "config key 'path'"),
    "an unknown key": ({"sheet": "Tags"}, "unknown config key 'sheet'"),
}


@pytest.mark.parametrize("case", CONFIG_ERRORS.values(), ids=CONFIG_ERRORS.keys())
def test_a_config_error_names_what_is_wrong(case, db):
    # Given an export config with one thing wrong
    change, words = case
    config = {
        "model": "testapp.Tag",
        "fields": ["code", "label"],
        "path": "tags.csv",
        **change,
    }

    # When the step is built
    with pytest.raises(ConfigError) as caught:
        ExportRows(config)

    # Then the message says what
    assert str(caught.value).startswith(words)


def test_an_export_of_many_rows_through_relations_takes_a_fixed_few_queries(
    make_category, scratch, folder, django_assert_max_num_queries
):
    # Given 2,500 products in two subcategories of one category
    category = make_category("Bikes", "Road Bikes", "Mountain Bikes")
    mountain, road = category.subcategories.order_by("name")
    template = Product(
        make_flag=False,
        finished_goods=True,
        safety_stock_level=1,
        reorder_point=1,
        standard_cost=Decimal(1),
        list_price=Decimal(2),
        days_to_manufacture=0,
        sell_start=timezone.now(),
        modified_at=timezone.now(),
    )
    products = []
    for n in range(2500):
        product = Product(
            **{
                f.attname: getattr(template, f.attname)
                for f in Product._meta.concrete_fields
                if not f.primary_key
            }
        )
        product.source_id, product.name, product.number = n, f"Bike {n}", f"BK-{n:05d}"
        product.guid, product.subcategory = uuid.uuid4(), (road, mountain)[n % 2]
        products.append(product)
    Product.objects.bulk_create(products)

    # When they are exported with the category's name, two relations away
    with django_assert_max_num_queries(4):
        _ctx, output = export(
            **PRICE_LIST, path=f"{folder}/all.csv", ordering=["number"]
        )

    # Then every row has its names, and the count and two chunks of rows
    # were the only queries
    rows = read_csv(scratch, output["path"])
    assert len(rows) == 2501
    assert rows[1] == ["BK-00000", "Bike 0", "2.0000", "Road Bikes", "Bikes"]
    assert rows[2][3] == "Mountain Bikes"


def test_a_json_export_keeps_numbers_and_names_the_related_fields(
    products, scratch, folder
):
    # Given the road bikes and a part
    # When they are exported to JSON, filtered through a relation
    _ctx, output = export(
        **PRICE_LIST,
        path=f"{folder}/bikes.json",
        filter={"subcategory__category__name": "Bikes"},
        ordering=["-list_price"],
    )

    # Then the file is a JSON array of objects keyed by the headers
    with scratch.open(output["path"], "rb") as handle:
        rows = json.loads(handle.read())
    assert [row["Product number"] for row in rows] == ["BK-R150", "BK-R450", "BK-R650"]
    assert rows[0]["Category"] == "Bikes"
    assert rows[0]["List price"] == "3578.2700"


@pytest.mark.parametrize("file_format", ["csv", "xlsx", "json"])
def test_an_export_imports_back_unchanged_booleans_included(
    file_format, products, scratch, folder
):
    # Given the products exported with their two yes/no fields
    fields = ["number", "name", "make_flag", "finished_goods", "list_price"]
    Product.objects.filter(number="BK-R450").update(make_flag=True)
    _ctx, output = export(
        model="shop.Product",
        fields=fields,
        storage="scratch",
        path=f"{folder}/products.{file_format}",
    )

    # When the file is imported back by product number, fields by header
    def import_back() -> StepContext:
        ctx = StepContext()
        source = {"storage": "scratch", "path": output["path"]}
        config = {"source": source, "model": "shop.Product", "key": ["number"]}
        ImportRows({**config, "fields": "auto"}).run(ctx)
        return ctx

    ctx = import_back()

    # Then every row is unchanged, none refused
    assert not ctx.rejected, ctx.rejected
    assert ctx.count_dict()["unchanged"] == 4

    # And a yes/no changed since is set back from the file
    Product.objects.filter(number="BK-R450").update(make_flag=False)
    ctx = import_back()
    assert ctx.count_dict()["updated"] == 1
    assert Product.objects.get(number="BK-R450").make_flag is True
