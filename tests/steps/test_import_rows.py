"""The ``import_rows`` step kind, run in-process on the real database."""

import hashlib
import io

import openpyxl
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shop.models import Category, Product, Subcategory

from steps.context import StepContext
from steps.errors import ConfigError, SourceError, StepError
from steps.import_rows import ImportRows
from tests.testapp.models import Tag

from .conftest import (
    ROOT_DATA,
    SUBCATEGORIES,
    bad_tags_config,
    catalog_import,
    run,
    tag_import,
    tags,
    tags_csv,
    writes,
)


def test_an_import_creates_a_row_for_each_line_and_reports_its_counts(put_file, db):
    # Given a CSV file of three tags
    source = put_file("tags.csv", tags_csv("A,Apple,1", "B,Banana,2", "C,Cherry,3"))

    # When it is imported
    _ctx, output = run(tag_import(source))

    # Then each line became a tag, and the output says so
    assert tags() == {"A": ("Apple", 1), "B": ("Banana", 2), "C": ("Cherry", 3)}
    assert output == {
        "model": "testapp.Tag",
        "source": source["path"],
        "rows": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
    }


def test_a_second_import_of_a_changed_file_updates_only_the_changed_rows(put_file, db):
    # Given three imported tags, one of which was edited in the database
    source = put_file("tags.csv", tags_csv("A,Apple,1", "B,Banana,2", "C,Cherry,3"))
    run(tag_import(source))
    Tag.objects.filter(code="B").update(label="Edited by hand")

    # When the file, with C's weight changed, is imported again
    source = put_file("tags.csv", tags_csv("A,Apple,1", "B,Banana,2", "C,Cherry,30"))
    with CaptureQueriesContext(connection) as queries:
        ctx, _output = run(tag_import(source))

    # Then B is restored from the file and C updated, A left as it was, and
    # the two changes were written in one statement
    assert tags() == {"A": ("Apple", 1), "B": ("Banana", 2), "C": ("Cherry", 30)}
    assert ctx.count_dict() == {"created": 0, "updated": 2, "unchanged": 1, "failed": 0}
    assert len(writes(queries)) == 1


def test_an_import_that_changes_nothing_writes_nothing(put_file, db):
    # Given a file that was imported before
    source = put_file("tags.csv", tags_csv("A,Apple,1", "B,Banana,"))
    run(tag_import(source))

    # When it is imported again
    with CaptureQueriesContext(connection) as queries:
        ctx, _output = run(tag_import(source))

    # Then every row is unchanged and nothing was sent to the database
    assert ctx.count_dict() == {"created": 0, "updated": 0, "unchanged": 2, "failed": 0}
    assert writes(queries) == []


def test_create_only_refuses_rows_that_exist_and_creates_the_rest(put_file, db):
    # Given an imported tag A, edited in the database
    run(tag_import(put_file("tags.csv", tags_csv("A,Apple,1"))))
    Tag.objects.filter(code="A").update(label="Kept")

    # When a file of A and a new D is imported with create_only
    source = put_file("tags.csv", tags_csv("A,Apricot,1", "D,Date,4"))
    ctx, _output = run(tag_import(source, action="create_only"))

    # Then D is created and A's line, row 2, is refused and A left alone
    assert tags() == {"A": ("Kept", 1), "D": ("Date", 4)}
    assert ctx.count_dict() == {"created": 1, "updated": 0, "unchanged": 0, "failed": 1}
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.code) == (2, "exists")
    assert (rejected.column, rejected.value) == ("code", "A")
    assert "'A'" in rejected.message


def test_update_only_refuses_rows_that_do_not_exist(put_file, db):
    # Given an imported tag A
    run(tag_import(put_file("tags.csv", tags_csv("A,Apple,1"))))

    # When a file of a changed A and a new D is imported with update_only
    source = put_file("tags.csv", tags_csv("A,Apricot,1", "D,Date,4"))
    ctx, _output = run(tag_import(source, action="update_only"))

    # Then A is updated, and D's line, row 3, is refused and not created
    assert tags() == {"A": ("Apricot", 1)}
    assert ctx.count_dict() == {"created": 0, "updated": 1, "unchanged": 0, "failed": 1}
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.code) == (3, "does_not_exist")
    assert (rejected.column, rejected.value) == ("code", "D")
    assert "'D'" in rejected.message


def test_skip_existing_creates_new_rows_and_leaves_existing_ones_alone(put_file, db):
    # Given an imported tag A
    run(tag_import(put_file("tags.csv", tags_csv("A,Apple,1"))))

    # When a file of a changed A and a new D is imported with skip_existing
    source = put_file("tags.csv", tags_csv("A,Apricot,9", "D,Date,4"))
    ctx, _output = run(tag_import(source, action="skip_existing"))

    # Then D is created and A, though it differs, is counted unchanged
    assert tags() == {"A": ("Apple", 1), "D": ("Date", 4)}
    assert ctx.count_dict() == {"created": 1, "updated": 0, "unchanged": 1, "failed": 0}
    assert ctx.rejected == []


def test_update_fields_limit_what_an_update_changes_but_not_what_is_created(
    put_file, db
):
    # Given an imported tag A
    run(tag_import(put_file("tags.csv", tags_csv("A,Apple,1"))))

    # When a file changing A's label and weight, and adding D, is imported
    # with only the label allowed to change
    source = put_file("tags.csv", tags_csv("A,Apricot,9", "D,Date,4"))
    ctx, _output = run(tag_import(source, update_fields=["label"]))

    # Then A got the new label but kept its weight, and D has both
    assert tags() == {"A": ("Apricot", 1), "D": ("Date", 4)}
    assert ctx.count_dict()["updated"] == 1


def test_an_update_that_touches_only_fields_outside_update_fields_is_unchanged(
    put_file, db
):
    # Given an imported tag A
    run(tag_import(put_file("tags.csv", tags_csv("A,Apple,1"))))

    # When only its weight changes, and only its label may be updated
    source = put_file("tags.csv", tags_csv("A,Apple,9"))
    ctx, _output = run(tag_import(source, update_fields=["label"]))

    # Then the row is unchanged
    assert tags() == {"A": ("Apple", 1)}
    assert ctx.count_dict()["unchanged"] == 1


def test_an_xlsx_workbook_is_imported_by_its_header(put_file, db):
    # Given a workbook whose header differs from the mapping in case and spaces
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([" Code ", "LABEL", "Weight"])
    sheet.append(["A", "Apple", 1])
    sheet.append(["B", "Banana", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    source = put_file("tags.xlsx", buffer.getvalue())

    # When it is imported, its format told by the extension
    ctx, _output = run(tag_import(source))

    # Then both rows are there, numbers as numbers and empty cells as None
    assert tags() == {"A": ("Apple", 1), "B": ("Banana", None)}
    assert ctx.count_dict()["created"] == 2


def test_the_later_of_two_rows_with_the_same_key_wins(put_file, db):
    # Given a file naming tag A twice
    source = put_file(
        "tags.csv", tags_csv("A,First,1", "B,Banana,2", "A,Second,3", "C,Cherry,4")
    )

    # When it is imported
    ctx, _output = run(tag_import(source))

    # Then A holds the values of its later row
    assert tags() == {"A": ("Second", 3), "B": ("Banana", 2), "C": ("Cherry", 4)}
    assert ctx.count_dict()["failed"] == 0


def test_a_row_breaking_a_unique_constraint_is_rejected_and_its_batch_kept(
    put_file, db
):
    # Given a file of categories, the third reusing the first one's name,
    # which must be unique
    source = put_file(
        "categories.csv",
        "id,name,guid,modified\n"
        "1,Bikes,cfbda25c-df71-47a7-b81b-64ee161aa37c,2024-01-01 00:00\n"
        "2,Parts,c657828d-d808-4aba-91a3-af2ce02300e9,2024-01-01 00:00\n"
        "3,Bikes,10a7c342-ca82-48d4-8a38-46a2eb089b74,2024-01-01 00:00\n"
        "4,Gear,b5f9ba42-b69b-4fdd-b2ec-57fb7b42e3cf,2024-01-01 00:00\n",
    )
    config = catalog_import(source)

    # When it is imported in one batch
    ctx, _output = run(config)

    # Then the third row, line 4, is rejected as breaking the unique name,
    # naming the column and value, and the rest of the batch is saved
    assert sorted(Category.objects.values_list("source_id", flat=True)) == [1, 2, 4]
    assert ctx.count_dict() == {"created": 3, "updated": 0, "unchanged": 0, "failed": 1}
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.value) == (4, "name", "Bikes")
    assert rejected.code == "unique"
    assert rejected.message == ("field 'name': Category with this Name already exists.")


def test_an_update_breaking_a_unique_constraint_is_rejected_and_its_batch_kept(
    put_file, db
):
    # Given three imported categories
    header = "id,name,guid,modified\n"
    lines = [
        "1,Bikes,cfbda25c-df71-47a7-b81b-64ee161aa37c,2024-01-01 00:00\n",
        "2,Parts,c657828d-d808-4aba-91a3-af2ce02300e9,2024-01-01 00:00\n",
        "3,Gear,10a7c342-ca82-48d4-8a38-46a2eb089b74,2024-01-01 00:00\n",
    ]
    config = {
        "source": put_file("categories.csv", header + "".join(lines)),
        "model": "shop.Category",
        "key": ["source_id"],
        "fields": {"source_id": 1, "name": 2, "guid": 3, "modified_at": 4},
    }
    run(config)

    # When a file renaming Bikes to the name Parts keeps, renaming Gear, and
    # adding a category is imported
    lines[0] = lines[0].replace("Bikes", "Parts")
    lines[2] = lines[2].replace("Gear", "Tools")
    lines.append("4,Lights,b5f9ba42-b69b-4fdd-b2ec-57fb7b42e3cf,2024-01-01 00:00\n")
    put_file("categories.csv", header + "".join(lines))
    ctx, _output = run(config)

    # Then the rename on line 2 is refused as breaking the unique name, and
    # the other writes are saved
    names = dict(Category.objects.values_list("source_id", "name"))
    assert names == {1: "Bikes", 2: "Parts", 3: "Tools", 4: "Lights"}
    assert ctx.count_dict() == {"created": 1, "updated": 1, "unchanged": 1, "failed": 1}
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.code) == (2, 2, "unique")


def test_products_with_bad_rows_are_imported_but_for_the_bad_rows(
    catalog, nightly_definition
):
    # Given the nightly flow's product import, reading a copy of the ERP's
    # file with a bad price on line 4, a bad product line on line 7 and an
    # unknown subcategory on line 10
    [products] = [s for s in nightly_definition["steps"] if s["key"] == "products"]
    config = dict(products["config"])
    config["source"] = {
        "storage": "testdata",
        "path": "steps/products_with_bad_rows.tsv",
    }

    # When it is imported
    ctx, output = run(config)

    # Then the nine good rows are products, and each bad row is reported
    # with its line, column, value and code
    assert Product.objects.count() == 9
    assert output["created"] == 9 and output["failed"] == 3 and output["rows"] == 12
    found = [(r.row, r.column, r.value, r.code) for r in ctx.rejected]
    assert found == [
        (4, 10, "12,50 EUR", "invalid"),
        (7, 16, "X", "invalid_choice"),
        (10, 19, "999", "does_not_exist"),
    ]
    assert "'list_price'" in ctx.rejected[0].message
    assert not Product.objects.filter(source_id__in=[4, 318, 321]).exists()


def test_a_second_import_of_the_erp_products_finds_every_row_unchanged(
    catalog, nightly_definition
):
    # Given the ERP's 504 products imported by the nightly flow's config,
    # with their dates, decimals, UUIDs, flags and choices
    [products] = [s for s in nightly_definition["steps"] if s["key"] == "products"]
    first, _output = run(products["config"])

    # When the same file is imported again
    with CaptureQueriesContext(connection) as queries:
        again, _output = run(products["config"])

    # Then every value read equals the value stored, so nothing is written
    assert first.count_dict() == {
        "created": 504,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
    }
    assert again.count_dict() == {
        "created": 0,
        "updated": 0,
        "unchanged": 504,
        "failed": 0,
    }
    assert writes(queries) == []


def broken_subcategories(**config) -> dict:
    # The file's line 5 holds the byte 0xff, which is not UTF-8.
    return {
        "source": {"storage": "testdata", "path": "steps/subcategories_broken.tsv"},
        "format": "csv",
        "read": {"header": False, "delimiter": "\t", "encoding": "utf-8"},
        "model": "shop.Subcategory",
        "key": ["source_id"],
        "fields": SUBCATEGORIES,
        "batch_size": 2,
        **config,
    }


def test_a_file_breaking_midway_keeps_the_batches_before_it_by_default(categories):
    # Given a file whose line 5 cannot be decoded, imported two rows a batch
    config = broken_subcategories()

    # When it is imported
    with pytest.raises(SourceError) as caught:
        run(config)

    # Then the two batches before the line are saved, and the message names
    # the file, the line and how many rows were saved
    saved = sorted(Subcategory.objects.values_list("source_id", flat=True))
    assert saved == [1, 2, 3, 4]
    message = str(caught.value)
    assert "steps/subcategories_broken.tsv, row 5" in message
    assert "0xff" in message
    assert message.endswith(
        "The 4 rows before it were imported: 4 created, 0 updated, "
        "0 unchanged, 0 refused."
    )


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ('"x\\ud800"', "half of a UTF-16 surrogate pair"),
        ("1" * 5000, "A number has more than 4300 digits."),
    ],
    ids=["lone surrogate", "overlong number"],
)
def test_rows_read_before_a_broken_json_object_in_their_batch_are_kept(
    broken, message, put_file, db
):
    # Given three JSON tags, the third unreadable, all in one batch
    source = put_file(
        "tags.json",
        '[{"code": "A", "label": "Apple", "weight": 1},'
        ' {"code": "B", "label": "Banana", "weight": 2},'
        f' {{"code": "C", "label": "Cherry", "weight": {broken}}}]',
    )

    # When it is imported, batch by batch
    with pytest.raises(SourceError) as caught:
        run(tag_import(source, batch_size=1000))

    # Then the step fails at the third object, and the two before it, read
    # already, are kept as a failure midway keeps the batches before it
    assert "tags.json, row 3" in str(caught.value)
    assert message in str(caught.value)
    assert "The 2 rows before it were imported: 2 created" in str(caught.value)
    assert tags() == {"A": ("Apple", 1), "B": ("Banana", 2)}


def test_a_file_breaking_midway_keeps_nothing_in_a_step_transaction(categories):
    # Given the same broken file, imported all or nothing
    config = broken_subcategories(transaction="step")

    # When it is imported
    ctx = StepContext()
    with pytest.raises(SourceError) as caught:
        ImportRows(config).run(ctx)

    # Then no row was kept, none is counted as written, and the message
    # does not claim any was saved
    assert Subcategory.objects.count() == 0
    assert ctx.count_dict() == {"created": 0, "updated": 0, "unchanged": 0, "failed": 0}
    assert "row 5" in str(caught.value)
    assert "saved" not in str(caught.value)


def test_more_rejected_rows_than_max_rejected_fail_the_step(put_file, db):
    # Given a file with three weights that are not numbers
    source = put_file(
        "tags.csv", tags_csv("A,Apple,x", "B,Banana,2", "C,Cherry,y", "D,Date,z")
    )

    # When it is imported allowing two rejected rows
    with pytest.raises(StepError) as caught:
        run(tag_import(source, max_rejected=2))

    # Then the step fails, saying how many were rejected and the limit
    assert str(caught.value) == "3 rows were rejected, more than the 2 allowed."


def test_as_many_rejected_rows_as_max_rejected_do_not_fail_the_step(put_file, db):
    # Given a file with two weights that are not numbers
    source = put_file("tags.csv", tags_csv("A,Apple,x", "B,Banana,2", "C,Cherry,y"))

    # When it is imported allowing two rejected rows
    _ctx, output = run(tag_import(source, max_rejected=2))

    # Then the step finishes with the good row saved
    assert tags() == {"B": ("Banana", 2)}
    assert output["failed"] == 2


def test_a_row_hook_sees_the_previous_row_and_keeps_state_across_batches(put_file, db):
    # Given a file of rising weights, but for line 4, imported two rows a batch
    # with a hook that keeps a running total and refuses a falling weight
    source = put_file(
        "tags.csv",
        tags_csv("A,Apple,1", "B,Banana,2", "C,Cherry,0", "D,Date,3", "E,Elder,4"),
    )
    config = tag_import(
        source, batch_size=2, row_hook="tests.steps.hooks.running_total"
    )

    # When it is imported
    ctx, _output = run(config)

    # Then each tag has the total of the accepted weights up to it, the
    # falling row is rejected with the hook's code, and the state is kept
    totals = dict(Tag.objects.values_list("code", "running_total"))
    assert totals == {"A": 1, "B": 3, "D": 6, "E": 10}
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.value) == (4, "weight", "0")
    assert rejected.code == "falling_weight"
    assert ctx.state == {"total": 10, "rows": [2, 3, 5, 6]}


def test_a_row_hook_gets_the_run_parameters(put_file, db):
    # Given a hook that reads a run parameter
    source = put_file("tags.csv", tags_csv("A,Apple,1"))
    config = tag_import(source, row_hook="tests.steps.hooks.weight_from_params")

    # When it runs with that parameter
    run(config, params={"weight": 42})

    # Then the hook's value is saved
    assert tags() == {"A": ("Apple", 42)}


CONFIG_ERRORS = {
    "an unknown key": ({"colour": "red"}, "colour", "unknown config key 'colour'"),
    "a key field not in the mapping": (
        {"key": ["running_total"]},
        None,
        "key field 'running_total'",
    ),
    "an update field not in the mapping": (
        {"update_fields": ["running_total"]},
        None,
        "update field 'running_total'",
    ),
    "a model that is not installed": (
        {"model": "testapp.Nope"},
        "model",
        "'testapp.Nope' is not an installed model",
    ),
    "an unknown storage alias": (
        {"source": {"storage": "nowhere", "path": "x.csv"}},
        "source",
        "'nowhere' is not a storage alias",
    ),
    "an empty key": ({"key": []}, "key", "'key'"),
    "an unknown action": ({"action": "merge"}, "action", "'action'"),
    "fields that are a list": (
        {"fields": ["code", "label"]},
        "fields",
        'expected a JSON object of rules, or "auto"',
    ),
    "an unknown write mode": ({"write": "fast"}, "write", "'write'"),
    "an unknown transaction mode": (
        {"transaction": "x"},
        "transaction",
        "config key 'transaction'",
    ),
    "a failed-rows storage that is not configured": (
        {"failed_rows": {"storage": "nowhere", "path": "f.csv"}},
        "failed_rows",
        "'nowhere' is not a storage alias",
    ),
    "chunks in an all-or-nothing step": (
        {"chunk_size": 100, "transaction": "step"},
        None,
        "'chunk_size' cannot be used with transaction \"step\"",
    ),
    "a chunk size of zero": ({"chunk_size": 0}, "chunk_size", "'chunk_size'"),
    "a row hook that cannot be imported": (
        {"row_hook": "tests.steps.hooks.nope"},
        None,
        "row_hook",
    ),
}


@pytest.mark.parametrize("change", CONFIG_ERRORS.values(), ids=CONFIG_ERRORS.keys())
def test_a_config_error_names_the_key_at_fault(change, db):
    # Given a working tag import config with one thing wrong
    updates, field, words = change
    config = tag_import({"storage": "testdata", "path": "x.csv"})
    config.update(updates)

    # When the step is built
    with pytest.raises(ConfigError) as caught:
        ImportRows(config)

    # Then the message names the key, and the error carries it when it can
    assert words in str(caught.value)
    assert caught.value.field == field


def test_a_config_that_is_not_an_object_is_refused():
    # Given a config that is a list
    # When the step is built
    with pytest.raises(ConfigError) as caught:
        ImportRows(["source", "model"])

    # Then the message says what a config must be
    assert "JSON object" in str(caught.value)


def test_a_missing_source_file_fails_with_the_file_and_storage_named(db):
    # Given a config naming a file that is not in its storage
    config = tag_import({"storage": "testdata", "path": "steps/nothing-here.csv"})

    # When it runs
    with pytest.raises(SourceError) as caught:
        run(config)

    # Then the error names the file and the storage
    assert "'steps/nothing-here.csv'" in str(caught.value)
    assert "'testdata'" in str(caught.value)


def test_a_plain_path_reads_from_the_default_storage(db):
    # Given a file in the default storage
    content = ContentFile(b"code,label\nA,Apple\n")
    name = storages["default"].save("imports/tags.csv", content)

    # When the source is given as a plain path
    run(tag_import(name, fields={"code": "code", "label": "label"}))

    # Then it was read
    assert tags() == {"A": ("Apple", None)}


def test_a_read_option_the_format_does_not_take_fails_the_step(put_file, db):
    # Given a CSV source with an option of another format
    source = put_file("tags.csv", tags_csv("A,Apple,1"))

    # When it is imported
    with pytest.raises(SourceError) as caught:
        run(tag_import(source, read={"sheet_name": "Tags"}))

    # Then the error names the option and the format
    assert "sheet_name" in str(caught.value) and "csv" in str(caught.value)


def test_a_row_whose_key_is_empty_is_rejected_naming_the_key_field(put_file, db):
    # Given a file whose second tag has no code, the key
    source = put_file("tags.csv", tags_csv("A,Apple,1", ",Nameless,2", "C,Cherry,3"))

    # When it is imported
    ctx, _output = run(tag_import(source))

    # Then the row without a key is rejected, not created as a new tag
    assert tags() == {"A": ("Apple", 1), "C": ("Cherry", 3)}
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.code) == (3, "code", "missing_key")
    assert rejected.message == "the key field 'code' is empty."


HANDLERS = "tests.steps.hooks"


def test_row_handlers_see_each_row_before_and_after_it_is_written(put_file, db):
    # Given one imported tag, and a file that repeats it, adds one, and
    # holds a label the before_row handler refuses and a weight that is not
    # a number
    from tests.steps.hooks import Recorder, record_after, record_before, record_error

    run(tag_import(put_file("tags.csv", tags_csv("A,APPLE,1"))))
    source = put_file(
        "tags.csv", tags_csv("A,Apple,1", "B,Banana,2", "C,refuse,3", "D,Date,x")
    )
    handlers = {
        "before_row": [record_before],
        "after_row": [record_after],
        "on_row_error": [record_error],
    }
    Recorder.events = []

    # When it is imported with the handlers
    ctx, _output = run(tag_import(source), row_handlers=handlers)

    # Then before_row saw each converted row and changed the labels (the
    # bad weight never converted), the refused row and the bad weight went
    # to on_row_error, and after_row
    # saw each written row with its outcome once its batch was written
    assert tags() == {"A": ("APPLE", 1), "B": ("BANANA", 2)}
    assert Recorder.events == [
        ("before", 2, "Apple"),
        ("before", 3, "Banana"),
        ("before", 4, "refuse"),
        ("error", 4, "refused"),
        ("error", 5, "invalid"),
        ("after", 2, "APPLE", "unchanged"),
        ("after", 3, "BANANA", "created"),
    ]
    assert [(r.row, r.column) for r in ctx.rejected] == [(4, "label"), (5, "weight")]


def test_a_before_row_handler_may_leave_the_values_as_they_are(put_file, db):
    # Given a handler that returns nothing
    source = put_file("tags.csv", tags_csv("A,Apple,1"))
    seen = []

    def look(ctx, number, values):
        seen.append((number, dict(values)))

    # When a file is imported with it
    run(tag_import(source), row_handlers={"before_row": [look]})

    # Then the row is saved as read, and the handler saw the field values
    assert tags() == {"A": ("Apple", 1)}
    assert seen == [(2, {"code": "A", "label": "Apple", "weight": 1})]


def checksum(model) -> str:
    values = model.objects.order_by("pk").values_list()
    return hashlib.sha256(repr(list(values)).encode()).hexdigest()


def test_a_dry_run_changes_nothing_and_reports_what_the_real_run_then_does(db, scratch):
    # Given 300 tags of the 1,000-row file imported, some of them edited
    lines = (ROOT_DATA / "steps/tags_1000_with_3_bad_rows.csv").read_text()
    head = "".join(lines.splitlines(keepends=True)[:301])
    scratch.save("dry/tags.csv", ContentFile(head.encode()))
    run(tag_import({"storage": "scratch", "path": "dry/tags.csv"}))
    Tag.objects.filter(code__in=["T0001", "T0002"]).update(label="Edited")
    before = (Tag.objects.count(), checksum(Tag))
    failed_path = "failed/dry-run-tags.csv"
    config = bad_tags_config(failed_rows={"storage": "scratch", "path": failed_path})

    # When the whole file is imported as a dry run, and then for real
    dry, dry_output = run({**config, "dry_run": True})
    after_dry = (Tag.objects.count(), checksum(Tag))
    file_after_dry = scratch.exists(failed_path)
    real, real_output = run(config)

    # Then the dry run left the table as it was and wrote no file, and
    # reported the counts the real run then had
    assert after_dry == before
    assert dry_output["dry_run"] is True and dry_output["failed_rows"] is None
    assert not file_after_dry
    assert (
        dry.count_dict()
        == real.count_dict()
        == {
            "created": 698,
            "updated": 2,
            "unchanged": 297,
            "failed": 3,
        }
    )
    assert [r.row for r in dry.rejected] == [r.row for r in real.rejected]
    assert real_output["failed_rows"]["rows"] == 3


@pytest.mark.parametrize(
    ("param", "dry"), [(True, True), ("true", True), ("false", False), ("0", False)]
)
def test_a_dry_run_can_be_asked_for_by_a_run_parameter(param, dry, put_file, db):
    # Given a file of two tags
    source = put_file("tags.csv", tags_csv("A,Apple,1", "B,Banana,2"))

    # When it is imported with the run parameter dry_run, as the command
    # line gives it or as JSON
    _ctx, output = run(tag_import(source), params={"dry_run": param})

    # Then it reports two creations, and created them only if not dry
    assert output.get("dry_run", False) is dry and output["created"] == 2
    assert Tag.objects.count() == (0 if dry else 2)


def test_a_step_transaction_keeps_nothing_when_max_rejected_stops_it(put_file, db):
    # Given a file with a good row and two bad ones
    source = put_file("tags.csv", tags_csv("A,Apple,1", "B,Banana,x", "C,Cherry,y"))

    # When it is imported all or nothing, allowing one rejected row
    with pytest.raises(StepError):
        run(tag_import(source, transaction="step", max_rejected=1))

    # Then the good row was rolled back with the rest
    assert Tag.objects.count() == 0


def test_chunks_name_the_first_and_last_row_of_each_run_of_rows(put_file, db):
    # Given five tags under a header, the third line blank
    source = put_file(
        "tags.csv", tags_csv("A,Apple,1", "B,Banana,2", "", "C,Cherry,3", "D,Date,4")
    )

    # When the step is asked for chunks of two rows
    chunks = ImportRows(tag_import(source, chunk_size=2)).chunks(StepContext())

    # Then each chunk names its rows by their line in the file, blank line
    # left out, and the last chunk holds what is left
    assert chunks == [
        {"first": 2, "last": 3, "rows": 2},
        {"first": 5, "last": 6, "rows": 2},
    ]


@pytest.mark.parametrize(
    ("config", "params"),
    [
        ({}, {}),
        ({"chunk_size": 2, "dry_run": True}, {}),
        ({"chunk_size": 2}, {"dry_run": "yes"}),
    ],
    ids=["no chunk size", "dry run in the config", "dry run asked by the run"],
)
def test_a_step_runs_whole_without_chunk_size_or_in_a_dry_run(
    config, params, put_file, db
):
    source = put_file("tags.csv", tags_csv("A,Apple,1", "B,Banana,2", "C,Cherry,3"))

    step = ImportRows(tag_import(source, **config))

    assert step.chunks(StepContext(params=params)) is None


def test_a_file_that_breaks_is_refused_before_any_chunk_runs(categories):
    # Given the subcategories file whose line 5 cannot be decoded
    config = broken_subcategories(chunk_size=2)

    # When the step is asked for its chunks
    with pytest.raises(SourceError) as caught:
        ImportRows(config).chunks(StepContext())

    # Then it fails naming the line, and nothing was imported
    assert "row 5" in str(caught.value)
    assert Subcategory.objects.count() == 0


def test_a_chunk_imports_only_its_rows_and_carries_its_rejected_rows(
    put_file, scratch, db
):
    # Given four tags, one with a weight that is not a number
    source = put_file(
        "tags.csv", tags_csv("A,Apple,1", "B,Banana,x", "C,Cherry,3", "D,Date,4")
    )
    failed = {"storage": "scratch", "path": "chunk-failed/tags.csv"}
    config = tag_import(source, chunk_size=2, failed_rows=failed)

    # When the chunks are run one by one, each by its own step, and merged
    specs = ImportRows(config).chunks(StepContext())
    first = ImportRows(config).run_chunk(StepContext(), specs[0])
    assert tags() == {"A": ("Apple", 1)}
    second = ImportRows(config).run_chunk(StepContext(), specs[1])
    output = ImportRows(config).merge(StepContext(), [first, second])

    # Then each chunk imported its own rows, and the merged output adds up
    # their counts and points at one failed-rows file holding the bad row
    assert tags() == {"A": ("Apple", 1), "C": ("Cherry", 3), "D": ("Date", 4)}
    assert {k: output[k] for k in ("rows", "created", "failed")} == {
        "rows": 4,
        "created": 3,
        "failed": 1,
    }
    assert "failed_row_values" not in output
    with scratch.open(output["failed_rows"]["path"], "rb") as handle:
        text = handle.read().decode()
    assert text.splitlines()[1].startswith("B,Banana,x,")


def test_merging_chunks_with_more_rejected_rows_than_allowed_fails(put_file, db):
    source = put_file(
        "tags.csv", tags_csv("A,Apple,x", "B,Banana,y", "C,Cherry,3", "D,Date,z")
    )
    config = tag_import(source, chunk_size=2, max_rejected=2)
    outputs = [
        ImportRows(config).run_chunk(StepContext(), spec)
        for spec in ImportRows(config).chunks(StepContext())
    ]

    with pytest.raises(StepError) as caught:
        ImportRows(config).merge(StepContext(), outputs)

    assert str(caught.value) == "3 rows were rejected, more than the 2 allowed."
