"""Cleaning a mapped value by its model field, on the quick path and the sure one."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models

from shop.models import Product
from steps.cleaning import convert, make_cleaner
from steps.errors import RowRejected
from steps.mapping import FieldRule, parse_mapping

REFUSED = {
    "a name longer than its 50 characters": ("name", "x" * 51),
    "a stock level below zero": ("safety_stock_level", "-1"),
    "a price of more than 12 digits": ("list_price", "1234567890123.5"),
    "a price that is no number": ("list_price", "cheap"),
    "an empty name": ("name", ""),
    "a stock level with a fraction": ("safety_stock_level", 2.7),
    "a stock level as a Decimal with a fraction": (
        "safety_stock_level",
        Decimal("-3.99"),
    ),
    "a stock level given as a boolean": ("safety_stock_level", True),
    "a price given as a boolean": ("list_price", False),
    "a name given as a list": ("name", ["J", 2]),
    "a name given as an object": ("name", {"a": [1, 2]}),
    "a name holding a NUL character": ("name", "Road\x00Frame"),
}


def odd(value: int) -> None:
    if value % 2 == 0:
        raise ValidationError("an odd number, please", code="even")


def refusal(clean, raw) -> tuple[str, str]:
    with pytest.raises(RowRejected) as caught:
        clean(raw)
    return str(caught.value), caught.value.code


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_the_quick_cleaner_refuses_what_the_field_refuses_with_its_message(case, db):
    # Given the rule of a product field and a value its field refuses
    name, raw = REFUSED[case]
    [rule] = parse_mapping(Product, {name: name})

    # When the quick cleaner and the model field's own clean see the value
    quick = refusal(make_cleaner(rule), raw)
    sure = refusal(lambda value: convert(rule, value), raw)

    # Then both refuse it with the same message and code
    assert quick == sure
    assert quick[0].startswith(f"field {name!r}: ")


def test_the_quick_cleaner_accepts_values_at_the_limits_of_the_field(db):
    # Given product fields and values at the edge of what they take
    rules = parse_mapping(
        Product,
        {"name": "name", "safety_stock_level": "s", "list_price": "p"},
    )
    values = ["x" * 50, "2147483647", "12345678.1234"]

    # When each is cleaned quickly and by the model field
    quick = [make_cleaner(r)(v) for r, v in zip(rules, values)]
    sure = [convert(r, v) for r, v in zip(rules, values)]

    # Then the values are the same
    assert quick == sure == ["x" * 50, 2147483647, sure[2]]
    assert str(sure[2]) == "12345678.1234"


def test_a_validator_of_the_field_itself_still_runs_on_the_quick_path(db):
    # Given a field with a validator of its own, a limit that is a callable and a fixed
    # limit
    model_field = models.IntegerField(
        validators=[
            odd,
            MaxValueValidator(lambda: 10),
            MaxValueValidator(20),
        ]
    )
    model_field.set_attributes_from_name("level")
    clean = make_cleaner(FieldRule(name="level", model_field=model_field))

    # When values within and beyond them are cleaned
    accepted = clean("7")
    even = refusal(clean, "8")
    past_callable = refusal(clean, "15")
    past_both = refusal(clean, "27")

    # Then every validator applied, with the field's messages
    assert accepted == 7
    assert even == ("field 'level': an odd number, please", "even")
    assert "less than or equal to 10" in past_callable[0]
    assert "less than or equal to 20" in past_both[0]
    assert past_both[1] == "max_value"


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("safety_stock_level", 2.7, "expected a whole number, found 2.7."),
        ("safety_stock_level", True, "expected a number, found the boolean True."),
        ("name", ["J", 2], "expected a single value, found a list."),
        ("name", {"a": 1}, "expected a single value, found an object."),
        ("sell_start", 45123.0, "expected a date and time, found 45123.0."),
        ("sell_start", 45123, "expected a date and time, found 45123."),
        ("name", float("inf"), "expected a finite number, found inf."),
        ("list_price", float("nan"), "expected a finite number, found nan."),
        ("safety_stock_level", float("-inf"), "expected a finite number, found -inf."),
    ],
)
def test_a_spreadsheet_or_json_value_is_not_converted_with_a_loss(
    name, raw, message, db
):
    # Given a value Django's field would silently turn into another
    [rule] = parse_mapping(Product, {name: name})

    # When it is cleaned
    text, code = refusal(make_cleaner(rule), raw)

    # Then it is refused, saying what was expected and what was found
    assert (text, code) == (f"field {name!r}: {message}", "invalid")


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("safety_stock_level", 3.0, 3),
        ("safety_stock_level", Decimal("4.000"), 4),
        ("list_price", 2.5, Decimal("2.5")),
        ("weight", 19.99, Decimal("19.99")),
        ("name", 1234, "1234"),
    ],
)
def test_typed_values_that_lose_nothing_are_taken(name, raw, expected, db):
    [rule] = parse_mapping(Product, {name: name})

    assert make_cleaner(rule)(raw) == convert(rule, raw) == expected


def test_a_float_with_more_decimals_than_the_field_keeps_is_refused(db):
    # Given a weight of two decimal places, and a spreadsheet's 1234.567
    [rule] = parse_mapping(Product, {"weight": "weight"})

    # When it is cleaned, it is refused rather than rounded to 1234.57
    text, code = refusal(make_cleaner(rule), 1234.567)

    assert (text, code) == (
        "field 'weight': Ensure that there are no more than 2 decimal places.",
        "max_decimal_places",
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("FALSE", False),
        (" Yes ", True),
        ("n", False),
        ("on", True),
        ("0", False),
        ("True", True),
        ("f", False),
        (1, True),
        (False, False),
    ],
)
def test_a_yes_or_no_field_reads_the_usual_spellings_in_any_case(raw, expected, db):
    # Given the rule of a product's yes/no field
    [rule] = parse_mapping(Product, {"make_flag": "make_flag"})

    # When a spelling of yes or no is cleaned, both paths read the same bool
    assert make_cleaner(rule)(raw) is convert(rule, raw) is expected


def test_a_yes_or_no_field_refuses_another_word_with_the_fields_message(db):
    [rule] = parse_mapping(Product, {"make_flag": "make_flag"})

    text, code = refusal(make_cleaner(rule), "maybe")

    assert refusal(lambda raw: convert(rule, raw), "maybe") == (text, code)
    assert (text, code) == (
        "field 'make_flag': “maybe” value must be either True or False.",
        "invalid",
    )


def test_text_with_a_nul_character_is_refused_at_its_field(db):
    # Given the rule of a product's name, a text field, which PostgreSQL
    # could not store a NUL character in
    [rule] = parse_mapping(Product, {"name": "name"})

    # When a name holding one is cleaned
    text, code = refusal(make_cleaner(rule), "Road\x00Frame")

    # Then it is refused at the field, as a form would, on every database
    assert (text, code) == (
        "field 'name': Null characters are not allowed.",
        "null_characters_not_allowed",
    )
