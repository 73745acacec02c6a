"""Field mapping rules: columns, constants, defaults, templates, checks."""

import pytest

from steps.context import StepContext
from steps.errors import ConfigError
from steps.import_rows import ImportRows
from tests.testapp.models import Tag


def import_tags(source: dict, fields: dict, **context) -> StepContext:
    config = {
        "source": source,
        "model": "testapp.Tag",
        "key": ["code"],
        "fields": fields,
    }
    ctx = StepContext(**context)
    ImportRows(config).run(ctx)
    return ctx


def tags() -> dict:
    return {t.code: (t.label, t.weight) for t in Tag.objects.all()}


def test_columns_are_found_by_header_name_ignoring_case_and_spaces(put_file, db):
    # Given a header whose names differ from the mapping in case and spaces
    source = put_file("tags.csv", " CODE ,Label ,wEiGhT\nA,Apple,1\n")

    # When it is imported with a mapping of other spellings
    import_tags(source, {"code": "code", "label": " LABEL", "weight": "Weight "})

    # Then every column was found
    assert tags() == {"A": ("Apple", 1)}


def test_columns_of_a_headerless_file_are_found_by_position(put_file, db):
    # Given a headerless file whose columns are out of the model's order
    source = put_file("tags.csv", "1;Apple;A\n2;Banana;B\n")
    config = {
        "source": source,
        "read": {"header": False},
        "model": "testapp.Tag",
        "key": ["code"],
        "fields": {"code": 3, "label": {"column": 2}, "weight": 1},
    }

    # When it is imported
    ImportRows(config).run(StepContext())

    # Then each field took the column at its 1-based position
    assert tags() == {"A": ("Apple", 1), "B": ("Banana", 2)}


def test_a_position_also_finds_a_column_of_a_file_with_a_header(put_file, db):
    # Given a file with a header
    source = put_file("tags.csv", "code,label,weight\nA,Apple,1\n")

    # When its columns are mapped by position
    import_tags(source, {"code": 1, "label": 2, "weight": 3})

    # Then the positions count the header's columns
    assert tags() == {"A": ("Apple", 1)}


def test_a_row_without_a_mapped_column_is_rejected(put_file, db):
    # Given a file without the column "weight"
    source = put_file("tags.csv", "code,label\nA,Apple\n")

    # When it is imported with "weight" mapped
    ctx = import_tags(source, {"code": "code", "label": "label", "weight": "weight"})

    # Then its row is rejected for the missing column
    assert Tag.objects.count() == 0
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.code) == (
        2,
        "weight",
        "missing_column",
    )


def test_null_values_are_read_as_no_value(put_file, db):
    # Given weights written as "n/a" and "-"
    source = put_file("tags.csv", "code,label,weight\nA,Apple,n/a\nB,Banana,-\nC,C,3\n")

    # When those strings are declared null values
    fields = {
        "code": "code",
        "label": "label",
        "weight": {"column": "weight", "null_values": ["n/a", "-"]},
    }
    ctx = import_tags(source, fields)

    # Then they are stored as NULL and the other weight as a number
    assert tags() == {"A": ("Apple", None), "B": ("Banana", None), "C": ("C", 3)}
    assert ctx.rejected == []


def test_a_template_puts_the_value_and_run_parameters_together(put_file, db):
    # Given labels to be prefixed by a run parameter
    source = put_file("tags.csv", "code,label\nA,Apple\nB,\n")
    fields = {
        "code": "code",
        "label": {"column": "label", "template": "${shop}: $value ($missing)"},
    }

    # When they are imported with that parameter
    ctx = import_tags(source, fields, params={"shop": "Bikes"})

    # Then the template is filled and an unknown name is left as written;
    # an empty cell stays empty, rather than becoming the bare template, so
    # the required label refuses it
    assert tags() == {"A": ("Bikes: Apple ($missing)", None)}
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.code) == (3, "blank")


def test_a_constant_value_fills_a_field_on_every_row(put_file, db):
    # Given a file without weights
    source = put_file("tags.csv", "code,label\nA,Apple\nB,Banana\n")

    # When the weight is given as a constant
    import_tags(source, {"code": "code", "label": "label", "weight": {"value": 7}})

    # Then every row has it
    assert tags() == {"A": ("Apple", 7), "B": ("Banana", 7)}


def test_a_default_fills_an_empty_cell_only(put_file, db):
    # Given one empty weight and one given
    source = put_file("tags.csv", "code,label,weight\nA,Apple,\nB,Banana,2\n")

    # When the weight has a default
    fields = {"code": "code", "label": "label", "weight": {"column": 3, "default": 0}}
    import_tags(source, fields)

    # Then the default is used for the empty cell only
    assert tags() == {"A": ("Apple", 0), "B": ("Banana", 2)}


def test_text_is_stripped_unless_strip_is_false(put_file, db):
    # Given labels with surrounding spaces
    source = put_file("tags.csv", "code,label,weight\n  A ,  Apple  ,1\n")

    # When the label keeps its spaces and the code does not
    fields = {"code": "code", "label": {"column": "label", "strip": False}}
    import_tags(source, fields)

    # Then the code was stripped and the label kept as it was
    assert tags() == {"A": ("  Apple  ", None)}


def test_spaces_only_count_as_empty_once_stripped(put_file, db):
    # Given a weight of spaces
    source = put_file("tags.csv", "code,label,weight\nA,Apple,   \n")

    # When it is imported
    ctx = import_tags(source, {"code": "code", "label": "label", "weight": "weight"})

    # Then the weight is empty, not an error
    assert tags() == {"A": ("Apple", None)}
    assert ctx.rejected == []


def test_a_value_the_model_field_refuses_rejects_the_row_with_the_fields_message(
    put_file, db
):
    # Given a weight that is not a whole number and a label too long
    long_label = "x" * 101
    source = put_file(
        "tags.csv", f"code,label,weight\nA,Apple,heavy\nB,{long_label},1\nC,Cherry,3\n"
    )

    # When it is imported
    ctx = import_tags(source, {"code": "code", "label": "label", "weight": "weight"})

    # Then the bad rows are rejected with the field, column, value and the
    # field's own code, and the good row is saved
    assert tags() == {"C": ("Cherry", 3)}
    weight, label = ctx.rejected
    assert (weight.row, weight.column, weight.value, weight.code) == (
        2,
        "weight",
        "heavy",
        "invalid",
    )
    assert weight.message.startswith("field 'weight': ")
    assert (label.row, label.column, label.code) == (3, "label", "max_length")


MAPPING_ERRORS = {
    "column 0": ({"label": 0}, "field 'label': column positions start at 1."),
    "a lookup on a field that is no ForeignKey": (
        {"label": {"column": 2, "lookup": "code"}},
        "field 'label': 'lookup' applies to ForeignKey fields only.",
    ),
    "a field the model lacks": (
        {"colour": 2},
        "field 'colour': Tag has no such field.",
    ),
    "an unknown rule key": (
        {"label": {"column": 2, "trim": True}},
        "field 'label': unknown rule key 'trim'.",
    ),
    "both a column and a value": (
        {"label": {"column": 2, "value": "x"}},
        "field 'label': give exactly one of 'column' and 'value'.",
    ),
    "a column that is a list": (
        {"label": {"column": [2]}},
        "field 'label': 'column' must be a header name or a 1-based position.",
    ),
    "a column that is a boolean": (
        {"label": True},
        "field 'label': expected a column name, a position or an object.",
    ),
}


@pytest.mark.parametrize("case", MAPPING_ERRORS.values(), ids=MAPPING_ERRORS.keys())
def test_a_mapping_error_names_the_field_and_what_is_wrong(case, db):
    # Given a mapping with one bad rule
    rule, message = case
    config = {
        "source": {"storage": "testdata", "path": "x.csv"},
        "model": "testapp.Tag",
        "key": ["code"],
        "fields": {"code": 1, **rule},
    }

    # When the step is built
    with pytest.raises(ConfigError) as caught:
        ImportRows(config)

    # Then the message names the field and the fault
    assert str(caught.value) == message
