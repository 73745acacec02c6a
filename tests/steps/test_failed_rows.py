"""The failed-rows file of ``import_rows``: written, read back, imported."""

import io
import json

import openpyxl
from django.core.files.base import ContentFile

from tests.conftest import ROOT
from tests.testapp.models import Tag

from .conftest import (
    SUBCATEGORIES,
    bad_tags_config,
    erp_import,
    run,
    tag_import,
    tags,
)


def erp_subcategories() -> dict:
    return erp_import("shop.Subcategory", "ProductSubcategory.csv", SUBCATEGORIES)


def failed_csv_lines(put_file, scratch, text: str) -> list[str]:
    """Import the tags CSV ``text``; return the lines of its failed-rows file."""
    source = put_file("tags.csv", text)
    failed_rows = {"storage": "scratch", "path": "failed/tags.csv"}
    _ctx, output = run(tag_import(source, failed_rows=failed_rows))
    with scratch.open(output["failed_rows"]["path"], "rb") as handle:
        return handle.read().decode("utf-8").splitlines()


BAD_ROWS = [
    (101, "weight", "invalid"),
    (502, "code", "missing_key"),
    (903, "label", "max_length"),
]


def test_a_thousand_rows_with_three_bad_ones_import_997_and_file_the_three(db, scratch):
    # Given the 1,000-row file with bad rows on lines 101, 502 and 903, and
    # a failed-rows file configured in the scratch storage
    config = bad_tags_config(
        failed_rows={"storage": "scratch", "path": "failed/%Y%m%d-tags.csv"}
    )

    # When it is imported in bulk, batch by batch
    ctx, output = run(config)

    # Then 997 tags exist, the three rows are reported with their lines,
    # and the failed-rows file holds exactly those three rows as read, with
    # the reason
    assert Tag.objects.count() == 997
    assert output["created"] == 997 and output["failed"] == 3
    assert [(r.row, r.column, r.code) for r in ctx.rejected] == BAD_ROWS
    failed = output["failed_rows"]
    assert failed["storage"] == "scratch" and failed["rows"] == 3
    assert failed["path"].startswith("failed/") and failed["path"].endswith("-tags.csv")
    with scratch.open(failed["path"], "rb") as handle:
        lines = handle.read().decode("utf-8").splitlines()
    assert lines[0] == "code,label,weight,error"
    assert lines[1].startswith("T0100,Tag number 100,x,")
    assert lines[2].startswith(",Tag number 501,501,the key field 'code' is empty.")
    assert lines[3].startswith("T0902," + "L" * 120 + ",902,")
    assert len(lines) == 4


def test_the_failed_rows_once_fixed_import_with_the_same_config(db, scratch):
    # Given the failed rows of the 1,000-row file
    _ctx, output = run(
        bad_tags_config(failed_rows={"storage": "scratch", "path": "failed/tags.csv"})
    )
    with scratch.open(output["failed_rows"]["path"], "rb") as handle:
        text = handle.read().decode("utf-8")

    # When they are fixed and imported with the same mapping
    fixed = text.replace(",x,", ",100,").replace(",Tag number 501", "T0501,Tag 501")
    fixed = fixed.replace("L" * 120, "Long label")
    scratch.save("failed/fixed.csv", ContentFile(fixed.encode("utf-8")))
    _ctx, again = run(tag_import({"storage": "scratch", "path": "failed/fixed.csv"}))

    # Then the three rows are created and the file's error column ignored
    assert again["created"] == 3 and again["failed"] == 0
    assert Tag.objects.count() == 1000


def test_a_failed_rows_file_of_a_headerless_tab_file_keeps_its_dialect(
    categories, scratch
):
    # Given the products of the ERP dump with three bad rows, a headerless
    # TAB file, and a failed-rows file

    definition = json.loads((ROOT / "demo/definitions/nightly.json").read_text())
    [products] = [s for s in definition["steps"] if s["key"] == "products"]
    config = dict(products["config"])
    config["source"] = {
        "storage": "testdata",
        "path": "steps/products_with_bad_rows.tsv",
    }
    config["failed_rows"] = {"storage": "scratch", "path": "failed/products.tsv"}
    run(erp_subcategories())

    # When it is imported
    _ctx, output = run(config)

    # Then the file is TAB-separated without a header, each line a bad
    # row's original fields with the reason after them
    with scratch.open(output["failed_rows"]["path"], "rb") as handle:
        lines = handle.read().decode("utf-8").splitlines()
    assert [line.split("\t")[0] for line in lines] == ["4", "318", "321"]
    assert all(len(line.split("\t")) == 26 for line in lines)
    assert "'list_price'" in lines[0].split("\t")[-1]


def test_a_failed_rows_file_of_a_workbook_is_a_workbook(put_file, db, scratch):
    # Given a workbook with one bad weight
    workbook = openpyxl.Workbook()
    workbook.active.append(["Code", "Label", "Weight"])
    workbook.active.append(["A", "Apple", 1])
    workbook.active.append(["B", "Banana", "heavy"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    source = put_file("tags.xlsx", buffer.getvalue())

    # When it is imported with a failed-rows path that names no format
    _ctx, output = run(
        tag_import(source, failed_rows={"storage": "scratch", "path": "failed/tags"})
    )

    # Then the failed rows are a workbook in the source's format
    with scratch.open(output["failed_rows"]["path"], "rb") as handle:
        sheet = openpyxl.load_workbook(handle).active
        rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Code", "Label", "Weight", "error")
    assert rows[1][:3] == ("B", "Banana", "heavy")
    assert "'weight'" in rows[1][3]


def test_the_failed_rows_of_a_dataset_are_a_json_file(db, scratch):
    # Given the fruit dataset, whose second row has a weight that is no number
    config = tag_import(
        {"dataset": "tests.steps.datasets.fruit"},
        failed_rows={"storage": "scratch", "path": "failed/fruit"},
    )

    # When it is imported
    _ctx, output = run(config)

    # Then the failed row is written as JSON, as the dataset gave it
    with scratch.open(output["failed_rows"]["path"], "rb") as handle:
        rows = json.loads(handle.read())
    assert len(rows) == 1
    assert {k: rows[0][k] for k in ("code", "label", "weight")} == {
        "code": "B",
        "label": "Banana",
        "weight": "heavy",
    }
    assert rows[0]["error"].startswith("field 'weight': ")


def test_values_that_look_like_formulas_are_filed_as_they_were_read(
    put_file, db, scratch
):
    # Given tags whose labels start like spreadsheet formulas, with weights
    # that are no numbers
    text = "code,label,weight\nA,=1+2,x\nB,-minus,y\n"

    # When they are imported with a failed-rows file
    lines = failed_csv_lines(put_file, scratch, text)

    # Then the file holds the labels as read, no quote put before them, so
    # that once the weights are fixed the same labels are imported
    assert [line.split(",")[:3] for line in lines[1:]] == [
        ["A", "=1+2", "x"],
        ["B", "-minus", "y"],
    ]
    fixed = "\n".join(lines).replace(",x,", ",1,").replace(",y,", ",2,")
    path = scratch.save("failed/fixed-formulas.csv", ContentFile(fixed.encode()))
    run(tag_import({"storage": "scratch", "path": path}))
    assert tags() == {"A": ("=1+2", 1), "B": ("-minus", 2)}


def test_rows_a_workbook_cannot_hold_are_filed_as_json_lines_and_the_step_ends(
    put_file, db, scratch
):
    # Given a CSV of tags, two of them refused for their weight, one with a
    # control character in its label, which no XLSX cell may hold, and a
    # failed-rows file asked for as a workbook
    source = put_file(
        "tags.csv", "code,label,weight\nA,Apple,1\nB,Bell\x07,x\nC,Cherry,y\n"
    )
    config = tag_import(
        source, failed_rows={"storage": "scratch", "path": "failed/tags.xlsx"}
    )

    # When it is imported
    ctx, output = run(config)

    # Then the good row is kept and the step ends; the refused rows are
    # written as JSON Lines beside the path asked for, as they were read,
    # and the output says why
    assert tags() == {"A": ("Apple", 1)}
    assert [r.row for r in ctx.rejected] == [3, 4]
    failed = output["failed_rows"]
    assert (failed["path"], failed["format"], failed["rows"]) == (
        "failed/tags.jsonl",
        "jsonl",
        2,
    )
    assert failed["error"].startswith(
        "The xlsx file 'failed/tags.xlsx' cannot hold the failed rows: "
    )
    with scratch.open(failed["path"], "rb") as handle:
        rows = [json.loads(line) for line in handle.read().splitlines()]
    assert [(r["code"], r["label"], r["weight"]) for r in rows] == [
        ("B", "Bell\x07", "x"),
        ("C", "Cherry", "y"),
    ]


def test_a_source_column_named_error_keeps_its_name_and_the_reason_goes_beside(
    put_file, db, scratch
):
    # Given tags with a column of their own called "error", one refused
    text = "code,label,weight,error\nA,Apple,x,none\n"

    # When they are imported with a failed-rows file
    lines = failed_csv_lines(put_file, scratch, text)

    # Then the file keeps the source's column and names the reason error_2
    assert lines[0] == "code,label,weight,error,error_2"
    assert lines[1].startswith("A,Apple,x,none,field 'weight'")
