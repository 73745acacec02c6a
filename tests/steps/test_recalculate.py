"""The ``recalculate`` step kind: aggregates of related rows stored on a model."""

from decimal import Decimal

import pytest

from shop.models import Category, Subcategory
from steps.context import StepContext
from steps.errors import ConfigError
from steps.recalculate import Recalculate

SUBCATEGORY_TOTALS = {
    "model": "shop.Subcategory",
    "fields": {
        "product_count": {"aggregate": "count", "of": "products"},
        "average_list_price": {"aggregate": "avg", "of": "products__list_price"},
    },
}
CATEGORY_TOTALS = {
    "model": "shop.Category",
    "fields": {
        "product_count": {"aggregate": "count", "of": "subcategories__products"},
        "average_list_price": {
            "aggregate": "avg",
            "of": "subcategories__products__list_price",
        },
    },
}


def recalculate(config: dict) -> tuple[StepContext, dict]:
    ctx = StepContext()
    output = Recalculate(config).run(ctx)
    return ctx, output


def totals(model) -> dict:
    return {
        o.name: (o.product_count, o.average_list_price) for o in model.objects.all()
    }


@pytest.fixture
def shop(make_category, make_product):
    """Bikes (Road: 3 products, Mountain: 1, Folding: none), and Clothing
    without subcategories."""
    make_category("Bikes", "Road", "Mountain", "Folding")
    make_category("Clothing")
    road = Subcategory.objects.get(name="Road")
    mountain = Subcategory.objects.get(name="Mountain")
    for price in ("10.00", "20.00", "30.01"):
        make_product(f"Road {price}", subcategory=road, list_price=Decimal(price))
    make_product("Mountain 1", subcategory=mountain, list_price=Decimal("5.00"))
    make_product("Loose part", subcategory=None, list_price=Decimal("99.00"))


def test_counts_and_averages_are_stored_per_subcategory(shop):
    # Given subcategories of three, one and no products
    # When their totals are recalculated
    _ctx, output = recalculate(SUBCATEGORY_TOTALS)

    # Then each holds its count and average price, to two decimal places;
    # the one without products has a count of 0 and no average
    assert totals(Subcategory) == {
        "Road": (3, Decimal("20.00")),
        "Mountain": (1, Decimal("5.00")),
        "Folding": (0, None),
    }
    assert output == {
        "model": "shop.Subcategory",
        "objects": 3,
        "created": 0,
        "updated": 2,
        "unchanged": 1,
        "failed": 0,
    }


def test_counts_and_averages_follow_relations_two_steps_away(shop):
    # Given categories over subcategories over products
    # When the category totals are recalculated
    ctx, _output = recalculate(CATEGORY_TOTALS)

    # Then Bikes counts the four products of its subcategories once each,
    # and Clothing, with none, has 0 and no average
    assert totals(Category) == {
        "Bikes": (4, Decimal("16.25")),
        "Clothing": (0, None),
    }
    assert ctx.count_dict()["updated"] == 1


def test_a_second_run_changes_nothing(shop):
    # Given totals recalculated once
    recalculate(SUBCATEGORY_TOTALS)

    # When they are recalculated again with no product changed
    ctx, _output = recalculate(SUBCATEGORY_TOTALS)

    # Then nothing is updated
    assert ctx.count_dict() == {"created": 0, "updated": 0, "unchanged": 3, "failed": 0}


def test_a_changed_product_updates_only_its_subcategory(shop, make_product):
    # Given recalculated totals, and then a new Mountain product
    recalculate(SUBCATEGORY_TOTALS)
    mountain = Subcategory.objects.get(name="Mountain")
    make_product("Mountain 2", subcategory=mountain, list_price=Decimal("6.00"))

    # When the totals are recalculated
    ctx, _output = recalculate(SUBCATEGORY_TOTALS)

    # Then only Mountain was updated
    assert ctx.count_dict()["updated"] == 1
    assert totals(Subcategory)["Mountain"] == (2, Decimal("5.50"))


def test_an_average_is_quantised_to_the_fields_decimal_places(
    make_category, make_product
):
    # Given prices whose average has endless decimals: 0.3333...
    make_category("Parts", "Bolts")
    bolts = Subcategory.objects.get(name="Bolts")
    for n, price in enumerate(("1.0000", "0.0000", "0.0000")):
        make_product(f"Bolt {n}", subcategory=bolts, list_price=Decimal(price))

    # When the totals are recalculated twice
    recalculate(SUBCATEGORY_TOTALS)
    ctx, _output = recalculate(SUBCATEGORY_TOTALS)

    # Then the stored average has the field's two places, and reads back
    # equal to what the second run computed
    bolts.refresh_from_db()
    assert bolts.average_list_price == Decimal("0.33")
    assert str(bolts.average_list_price) == "0.33"
    assert ctx.count_dict()["unchanged"] == 1


def test_a_stale_value_without_related_rows_is_reset(shop):
    # Given a subcategory without products that holds stale totals
    Subcategory.objects.filter(name="Folding").update(
        product_count=7, average_list_price=Decimal("1.00")
    )

    # When the totals are recalculated
    recalculate(SUBCATEGORY_TOTALS)

    # Then its count is back to 0 and its average to none
    assert totals(Subcategory)["Folding"] == (0, None)


def test_the_filter_limits_the_objects_recalculated(shop):
    # Given subcategories with products
    # When only Road's totals are recalculated
    config = {**SUBCATEGORY_TOTALS, "filter": {"name": "Road"}}
    _ctx, output = recalculate(config)

    # Then the others keep their stored values
    assert totals(Subcategory) == {
        "Road": (3, Decimal("20.00")),
        "Mountain": (0, None),
        "Folding": (0, None),
    }
    assert output["objects"] == 1


def test_a_filter_through_a_relation_picks_objects_but_not_the_rows_counted(
    make_category, make_product
):
    # Given a subcategory of two red products and a blue one
    make_category("Bikes", "Road")
    road = Subcategory.objects.get(name="Road")
    for name, color, price in (("A", "Red", 10), ("B", "Red", 20), ("C", "Blue", 30)):
        make_product(name, subcategory=road, color=color, list_price=Decimal(price))

    # When the totals of subcategories having a red product are recalculated
    config = {**SUBCATEGORY_TOTALS, "filter": {"products__color": "Red"}}
    ctx, output = recalculate(config)

    # Then the totals cover all its products, and it was updated once
    assert totals(Subcategory) == {"Road": (3, Decimal("20.00"))}
    assert output["objects"] == 1
    assert ctx.count_dict()["updated"] == 1


def test_sum_min_and_max_are_stored_too(shop):
    # Given Road's prices of 10.00, 20.00 and 30.01
    # When the sum, the cheapest and the dearest go into fields
    for aggregate, expected in (
        ("sum", Decimal("60.01")),
        ("min", Decimal("10.00")),
        ("max", Decimal("30.01")),
    ):
        config = {
            "model": "shop.Subcategory",
            "fields": {
                "average_list_price": {
                    "aggregate": aggregate,
                    "of": "products__list_price",
                }
            },
            "filter": {"name": "Road"},
        }
        recalculate(config)

        # Then each is stored as computed
        assert Subcategory.objects.get(name="Road").average_list_price == expected


CONFIG_ERRORS = {
    "an unknown aggregate": (
        {"product_count": {"aggregate": "median", "of": "products"}},
        (
            "field 'product_count': unknown aggregate 'median'; use one of count, sum, "
            "avg, min, max."
        ),
    ),
    "a path that does not resolve": (
        {"product_count": {"aggregate": "count", "of": "items"}},
        "field 'product_count': Cannot resolve keyword 'items' into field.",
    ),
    "a field the model lacks": (
        {"colour_count": {"aggregate": "count", "of": "products"}},
        "field 'colour_count': Subcategory has no such field.",
    ),
    "a rule without 'of'": (
        {"product_count": {"aggregate": "count"}},
        'field \'product_count\': expected {"aggregate": ..., "of": ...}.',
    ),
}


@pytest.mark.parametrize("case", CONFIG_ERRORS.values(), ids=CONFIG_ERRORS.keys())
def test_a_config_error_names_the_field_at_fault(case, db):
    # Given a recalculate config with one bad field
    fields, words = case

    # When the step is built
    with pytest.raises(ConfigError) as caught:
        Recalculate({"model": "shop.Subcategory", "fields": fields})

    # Then the message names the field and the fault
    assert str(caught.value).startswith(words)


def test_a_bad_filter_is_a_config_error(db):
    # Given a filter on a field the model lacks
    config = {**SUBCATEGORY_TOTALS, "filter": {"colour": "red"}}

    # When the step is built
    with pytest.raises(ConfigError) as caught:
        Recalculate(config)

    # Then the message names the filter
    assert str(caught.value).startswith("filter: Cannot resolve keyword 'colour'")
