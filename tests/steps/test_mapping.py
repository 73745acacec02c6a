"""Field mapping rules: columns, constants, defaults, templates, checks."""

import pytest

from steps.context import StepContext
from steps.errors import ConfigError, SourceError
from steps.import_rows import ImportRows
from shop.models import Category, Subcategory
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


def test_a_header_without_a_mapped_column_fails_the_step_before_any_row(put_file, db):
    # Given a file without the column "weight"
    source = put_file("tags.csv", "code,label\nA,Apple\n")

    # When it is imported with "weight" mapped
    with pytest.raises(SourceError) as caught:
        import_tags(source, {"code": "code", "label": "label", "weight": "weight"})

    # Then the step fails naming the file, the column and the field, and
    # no row is imported
    assert str(caught.value) == (
        f"{source['path']}: the header has no column 'weight', which field "
        "'weight' is mapped to; the columns are: code, label."
    )
    assert Tag.objects.count() == 0


def test_a_file_with_only_a_header_imports_nothing_and_succeeds(put_file, db):
    source = put_file("tags.csv", "code,label\n")

    ctx = import_tags(source, {"code": "code", "label": "label"})

    assert ctx.count_dict() == {"created": 0, "updated": 0, "unchanged": 0, "failed": 0}


def test_an_empty_file_read_with_a_header_fails_the_step(put_file, db):
    source = put_file("tags.csv", "")

    with pytest.raises(SourceError) as caught:
        import_tags(source, {"code": "code", "label": "label"})

    assert str(caught.value) == (
        f"{source['path']}: the file is empty; a header row was expected."
    )


def test_a_json_object_without_a_mapped_key_is_rejected_on_its_own(put_file, db):
    # Given JSON objects, the second without a label
    source = put_file("tags.json", '[{"code": "A", "label": "Apple"}, {"code": "B"}]')

    # When they are imported with "label" mapped
    ctx = import_tags(source, {"code": "code", "label": "label"})

    # Then only that object is rejected, for the missing key
    assert list(Tag.objects.values_list("code", flat=True)) == ["A"]
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.code) == (
        2,
        "label",
        "missing_column",
    )


def test_json_values_that_would_lose_data_are_rejected_at_their_row(put_file, db):
    # Given JSON tags: a fractional weight, a boolean weight, a list as a
    # label, and one good tag
    source = put_file(
        "tags.json",
        '[{"code": "A", "label": "Apple", "weight": 2.7},'
        ' {"code": "B", "label": "Banana", "weight": true},'
        ' {"code": "C", "label": ["J", 2], "weight": 1},'
        ' {"code": "D", "label": "Date", "weight": 4.0}]',
    )

    # When they are imported
    ctx = import_tags(source, {"code": "code", "label": "label", "weight": "weight"})

    # Then only the good tag is stored, and each other row says what it held
    assert list(Tag.objects.values_list("code", "weight")) == [("D", 4)]
    assert [(r.row, r.column, r.message) for r in ctx.rejected] == [
        (1, "weight", "field 'weight': expected a whole number, found 2.7."),
        (2, "weight", "field 'weight': expected a number, found the boolean True."),
        (3, "label", "field 'label': expected a single value, found a list."),
    ]


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
        "label": {"column": "label", "template": "${shop}: $value ($$1)"},
    }

    # When they are imported with that parameter
    ctx = import_tags(source, fields, params={"shop": "Bikes"})

    # Then the template is filled, "$$" giving a dollar sign; an empty cell
    # stays empty, rather than becoming the bare template, so the required
    # label refuses it
    assert tags() == {"A": ("Bikes: Apple ($1)", None)}
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.code) == (3, "blank")


def test_a_template_naming_a_parameter_the_run_lacks_fails_the_step(put_file, db):
    # Given labels to be prefixed by a run parameter
    source = put_file("tags.csv", "code,label\nA,Apple\n")
    fields = {
        "code": "code",
        "label": {"column": "label", "template": "${shop}: $value"},
    }

    # When they are imported by a run without that parameter
    with pytest.raises(ConfigError) as caught:
        import_tags(source, fields, params={"shpo": "Bikes"})

    # Then the step fails naming the field and the parameter, and nothing
    # is imported
    assert str(caught.value) == (
        "field 'label': the template names the run parameter 'shop', "
        "which this run does not have."
    )
    assert tags() == {}


def test_a_chunked_step_checks_its_templates_once_before_the_chunks(put_file, db):
    # Given a chunked import whose template names a parameter
    source = put_file("tags.csv", "code,label\nA,Apple\nB,Banana\n")
    fields = {"code": "code", "label": {"column": "label", "template": "${shop}"}}
    config = {"source": source, "model": "testapp.Tag", "key": ["code"]}
    step = ImportRows({**config, "fields": fields, "chunk_size": 1})

    # When the run lacks it, the step is refused as it splits into chunks,
    # not chunk by chunk
    with pytest.raises(ConfigError, match="run parameter 'shop'"):
        step.chunks(StepContext(params={}))


def test_a_template_with_a_stray_dollar_sign_is_refused_in_the_config(db):
    fields = {"code": "code", "label": {"column": "label", "template": "$ $value"}}

    with pytest.raises(ConfigError) as caught:
        import_tags({"storage": "testdata", "path": "x.csv"}, fields)

    assert "'template' '$ $value' has a '$' that starts no name" in str(caught.value)


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
        "field 'label': a list of columns needs a 'lookup' list of the same length.",
    ),
    "missing on a field that is no relation": (
        {"label": {"column": 2, "missing": "null"}},
        "field 'label': 'missing' applies to relation fields only.",
    ),
    "an unknown missing policy": (
        {"label": {"column": 2, "missing": "ignore"}},
        "field 'label': 'missing' must be one of reject, null, create.",
    ),
    "a convert that is not a list of names": (
        {"label": {"column": 2, "convert": [1]}},
        "field 'label': 'convert' must be a list of converter names.",
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


def test_auto_maps_headers_that_name_a_field_or_its_verbose_name(put_file, db):
    # Given a products file whose headers are field names and verbose names
    # in other cases and spacing, and a column no field has
    source = put_file(
        "categories.csv",
        "ERP ID,Name,Row GUID,Modified in the ERP,Remarks\n"
        "7,Bikes,cfbda25c-df71-47a7-b81b-64ee161aa37c,2024-01-01 00:00,none\n",
    )

    # When it is imported with automatic mapping
    ctx = StepContext()
    config = {
        "source": source,
        "model": "shop.Category",
        "key": ["source_id"],
        "fields": "auto",
    }
    ImportRows(config).run(ctx)

    # Then every field was found by its header, and the extra column ignored
    [bikes] = Category.objects.all()
    assert (bikes.source_id, bikes.name, str(bikes.guid)[:8]) == (
        7,
        "Bikes",
        "cfbda25c",
    )
    assert ctx.rejected == []


def test_explicit_rules_win_over_automatic_mapping(put_file, db):
    # Given a file whose "label" column is wrong for the label, and whose
    # "title" column is right
    source = put_file("tags.csv", "code,label,title,weight\nA,wrong,Apple,1\n")

    # When it is imported with automatic mapping and an explicit label rule
    config = {
        "source": source,
        "model": "testapp.Tag",
        "key": ["code"],
        "fields": {"label": "title"},
        "auto": True,
    }
    ImportRows(config).run(StepContext())

    # Then the label came from the explicit rule, the rest automatically
    assert tags() == {"A": ("Apple", 1)}


def test_auto_maps_a_foreign_key_header_by_a_unique_field_of_the_target(
    categories, put_file
):
    # Given subcategories naming their category by its name
    source = put_file(
        "subcategories.csv",
        "source_id,category__name,name,guid,modified_at\n"
        "50,Bikes,Gravel,10a7c342-ca82-48d4-8a38-46a2eb089b74,2024-01-01 00:00\n",
    )

    # When they are imported with automatic mapping
    config = {
        "source": source,
        "model": "shop.Subcategory",
        "key": ["source_id"],
        "fields": "auto",
    }
    ImportRows(config).run(StepContext())

    # Then the category was looked up by name
    assert Subcategory.objects.get(source_id=50).category.name == "Bikes"


def test_auto_mapping_without_the_key_column_fails_the_step(put_file, db):
    # Given a file without the key column
    source = put_file("tags.csv", "label,weight\nApple,1\n")

    # When it is imported with automatic mapping
    config = {
        "source": source,
        "model": "testapp.Tag",
        "key": ["code"],
        "fields": "auto",
    }
    with pytest.raises(ConfigError) as caught:
        ImportRows(config).run(StepContext())

    # Then the error names the key field
    assert "key field 'code' is not in the field mapping" in str(caught.value)


def test_a_dotted_column_reads_a_nested_json_object(put_file, db):
    # Given a JSON file whose labels sit in a nested object, one missing
    source = put_file(
        "tags.json",
        '[{"code": "A", "info": {"Label": "Apple", "weight": 1}},'
        ' {"code": "B", "info": {"weight": 2}},'
        ' {"code": "C", "info": null}]',
    )

    # When it is imported with dotted paths
    fields = {"code": "code", "label": "info.label", "weight": "info.weight"}
    ctx = import_tags(source, fields)

    # Then the nested values were found, a missing key is a missing column,
    # and a null object gives empty values
    assert tags() == {"A": ("Apple", 1)}
    assert [(r.row, r.column, r.code) for r in ctx.rejected] == [
        (2, "info.label", "missing_column"),
        (3, "info.label", "blank"),
    ]
