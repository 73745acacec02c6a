"""ForeignKey values given by a natural key, resolved a batch at a time."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shop.models import Category, Subcategory
from steps.context import StepContext
from steps.errors import ConfigError, RowRejected
from steps.import_rows import ImportRows
from steps.lookups import ForeignKeyResolver
from steps.mapping import parse_mapping

from .conftest import CATEGORIES, SUBCATEGORIES, erp_import


def import_subcategories(source: dict) -> StepContext:
    config = erp_import("shop.Subcategory", "", SUBCATEGORIES, source=source)
    ctx = StepContext()
    ImportRows(config).run(ctx)
    return ctx


def test_the_erp_subcategories_link_to_categories_by_their_erp_id(db):
    # Given the ERP's categories, imported from its TAB file
    config = erp_import("shop.Category", "ProductCategory.csv", CATEGORIES)
    ImportRows(config).run(StepContext())

    # When its subcategories are imported, naming categories by ERP id
    config = erp_import("shop.Subcategory", "ProductSubcategory.csv", SUBCATEGORIES)
    ctx = StepContext()
    output = ImportRows(config).run(ctx)

    # Then every subcategory links to the category of that id
    assert Category.objects.count() == 4
    assert output["created"] == Subcategory.objects.count() == 37
    assert ctx.rejected == []
    links = dict(Subcategory.objects.values_list("name", "category__name"))
    assert links["Mountain Bikes"] == "Bikes"
    assert links["Handlebars"] == "Components"
    assert links["Jerseys"] == "Clothing"
    assert links["Helmets"] == "Accessories"


def test_a_foreign_key_value_that_names_nothing_rejects_the_row(categories, put_file):
    # Given subcategories, the second naming a category id that is not there
    source = put_file(
        "subcategories.tsv",
        "1\t1\tMountain Bikes\t2d364ade-264a-433c-b092-4fcbf3804e01\t2024-01-01\n"
        "2\t99\tRoad Bikes\t000310c0-bcc8-42c4-b0c3-45ae611af06b\t2024-01-01\n",
    )

    # When they are imported
    ctx = import_subcategories(source)

    # Then the second row is rejected as naming nothing, with its column
    assert list(Subcategory.objects.values_list("name", flat=True)) == [
        "Mountain Bikes"
    ]
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.value) == (2, 2, "99")
    assert rejected.code == "does_not_exist"
    assert rejected.message == "field 'category': no category with source_id = '99'."


def test_an_empty_value_for_a_required_foreign_key_rejects_the_row(
    categories, put_file
):
    # Given a subcategory without a category
    source = put_file(
        "subcategories.tsv",
        "1\t\tMountain Bikes\t2d364ade-264a-433c-b092-4fcbf3804e01\t2024-01-01\n",
    )

    # When it is imported
    ctx = import_subcategories(source)

    # Then the row is rejected as missing a required value
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.code) == (1, 2, "required")


def test_a_malformed_foreign_key_value_rejects_the_row(categories, put_file):
    # Given a category id that is not a number
    source = put_file(
        "subcategories.tsv",
        "1\tone\tMountain Bikes\t2d364ade-264a-433c-b092-4fcbf3804e01\t2024-01-01\n",
    )

    # When it is imported
    ctx = import_subcategories(source)

    # Then the row is rejected as invalid, with the value
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.value, rejected.code) == (1, "one", "invalid")
    assert Subcategory.objects.count() == 0


def test_a_lookup_field_the_target_lacks_is_a_config_error(db):
    # Given a mapping that looks categories up by a field they do not have
    fields = {**SUBCATEGORIES, "category": {"column": 2, "lookup": "code"}}
    config = erp_import("shop.Subcategory", "ProductSubcategory.csv", fields)

    # When the step is built
    with pytest.raises(ConfigError) as caught:
        ImportRows(config)

    # Then the message names the field and the missing lookup field
    assert str(caught.value) == (
        "field 'category': Category has no field 'code' to look up."
    )


def test_values_are_looked_up_once_per_batch_and_then_remembered(categories):
    # Given a resolver for subcategory → category by ERP id
    [rule] = parse_mapping(
        Subcategory, {"category": {"column": 2, "lookup": "source_id"}}
    )
    resolver = ForeignKeyResolver(rule)

    # When a batch naming two categories many times is primed and resolved,
    # and then a value of the batch is resolved again
    with CaptureQueriesContext(connection) as queries:
        resolver.prime(["1", "2", "1", "1", "2", None])
        first = [resolver.resolve(v) for v in ["1", "2", "1"]]
        again = resolver.resolve("1")

    # Then one query answered them all
    bikes, components = (Category.objects.get(source_id=n).pk for n in (1, 2))
    assert first == [bikes, components, bikes]
    assert again == bikes
    assert len(queries) == 1


def test_a_value_not_primed_is_looked_up_on_its_own(categories):
    # Given a resolver primed with one value
    [rule] = parse_mapping(
        Subcategory, {"category": {"column": 2, "lookup": "source_id"}}
    )
    resolver = ForeignKeyResolver(rule)
    resolver.prime(["1"])

    # When another value, and a value that names nothing, are resolved
    with CaptureQueriesContext(connection) as queries:
        found = resolver.resolve("3")
        with pytest.raises(RowRejected):
            resolver.resolve("42")
        with pytest.raises(RowRejected):
            resolver.resolve("42")

    # Then each was looked up once, the miss remembered like a hit
    assert found == Category.objects.get(source_id=3).pk
    assert len(queries) == 2
