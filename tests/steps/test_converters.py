"""Converters named in mapping rules, built-in and registered by projects."""

import datetime
from decimal import Decimal

import pytest

from shop.models import Product
from steps.context import StepContext
from steps.converters import register_converter
from steps.errors import ConfigError
from steps.import_rows import ImportRows
from tests.testapp.models import Tag


def import_tags(source: dict, fields: dict) -> StepContext:
    config = {
        "source": source,
        "model": "testapp.Tag",
        "key": ["code"],
        "fields": fields,
    }
    ctx = StepContext()
    ImportRows(config).run(ctx)
    return ctx


def test_converters_run_in_order_before_the_field_cleans_the_value(put_file, db):
    # Given codes in mixed case with inner spaces, and weights with a
    # thousands separator
    source = put_file("tags.csv", "code;label;weight\n ab ;apple pie;1.234\n")

    # When they are imported through upper, strip and int converters
    fields = {
        "code": {"column": "code", "strip": False, "convert": ["strip", "upper"]},
        "label": {"column": "label", "convert": ["title"]},
        "weight": {"column": "weight", "convert": ["decimal_comma", "int"]},
    }
    ctx = import_tags(source, fields)

    # Then each value went through its converters, left to right
    assert ctx.rejected == []
    assert list(Tag.objects.values_list("code", "label", "weight")) == [
        ("AB", "Apple Pie", 1234)
    ]


def test_european_decimals_and_day_first_dates_are_read(make_product, put_file):
    # Given a product, and a file with its price as "1.299,50" and its
    # sell start as 31/01/2024
    make_product("Road-150", number="BK-R93R-62")
    source = put_file(
        "prices.csv", "number;price;start\nBK-R93R-62;1.299,50;31/01/2024\n"
    )

    # When it is imported with decimal_comma and date_day_first
    config = {
        "source": source,
        "model": "shop.Product",
        "key": ["number"],
        "action": "update_only",
        "fields": {
            "number": "number",
            "list_price": {"column": "price", "convert": ["decimal_comma"]},
            "sell_start": {"column": "start", "convert": ["date_day_first"]},
        },
    }
    ctx = StepContext()
    ImportRows(config).run(ctx)

    # Then the price and date are right
    product = Product.objects.get(number="BK-R93R-62")
    assert ctx.rejected == []
    assert product.list_price == Decimal("1299.50")
    assert product.sell_start.date() == datetime.date(2024, 1, 31)


def test_a_value_a_converter_refuses_rejects_the_row_naming_the_converter(put_file, db):
    # Given a weight written with a decimal point where a comma is expected
    source = put_file("tags.csv", "code,label,weight\nA,Apple,12.5.1\n")

    # When it is imported with decimal_comma
    fields = {
        "code": "code",
        "label": "label",
        "weight": {"column": "weight", "convert": ["decimal_comma"]},
    }
    ctx = import_tags(source, fields)

    # Then the row is rejected with the field, the converter and the value
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.value) == (2, "weight", "12.5.1")
    assert rejected.message.startswith("field 'weight': converter 'decimal_comma': ")
    assert "12.5.1" in rejected.message


def test_a_project_registers_its_own_converter(put_file, db):
    # Given a converter registered by a project
    @register_converter("no_dashes")
    def no_dashes(value):
        return value.replace("-", "")

    source = put_file("tags.csv", "code,label\nA-1,Apple\n")

    # When a rule names it
    import_tags(
        source, {"code": {"column": "code", "convert": "no_dashes"}, "label": "label"}
    )

    # Then it was applied
    assert list(Tag.objects.values_list("code", flat=True)) == ["A1"]


def test_an_unknown_converter_is_a_config_error_listing_the_known_ones(db):
    # Given a rule naming a converter nobody registered
    config = {
        "source": "x.csv",
        "model": "testapp.Tag",
        "key": ["code"],
        "fields": {"code": {"column": 1, "convert": ["shout"]}},
    }

    # When the step is built
    with pytest.raises(ConfigError) as caught:
        ImportRows(config)

    # Then the message names the field, the converter and the known ones
    message = str(caught.value)
    assert message.startswith("field 'code': unknown converter 'shout'")
    assert "decimal_comma" in message
