"""Write the sample files that the tests of ``formats`` read.

The files are committed; run this again only to change them:

    .venv/bin/python tests/data/formats/make_files.py

Text files are written byte by byte so that their encoding and line ends
are exact. Workbooks are built with openpyxl and xlwt; where those cannot
produce what real files hold (cached formula results, a bogus sheet size),
the sheet XML is edited afterwards, as Excel would have written it.
"""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from pathlib import Path

import openpyxl
import xlwt
from openpyxl.styles import PatternFill
from openpyxl.utils.datetime import CALENDAR_MAC_1904

HERE = Path(__file__).resolve().parent
SHEET = "xl/worksheets/sheet1.xml"


def write_bytes(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)


def rewrite_member(name: str, member: str, edits: list[tuple[str, str]]) -> None:
    """Replace text in one member of a zip archive, keeping the others."""
    path = HERE / name
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    target = io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == member:
                text = data.decode("utf-8")
                for old, new in edits:
                    assert old in text, (name, old)
                    text = text.replace(old, new)
                data = text.encode("utf-8")
            archive.writestr(info.filename, data)
    path.write_bytes(target.getvalue())


def make_text_files() -> None:
    write_bytes(
        "utf8_bom.csv",
        "\ufeffsku,name,price\r\nA1,Lämpchen,5.00\r\nA2,Tisch,12.50\r\n".encode(),
    )
    write_bytes(
        "cp1252_semicolon.csv",
        "Référence;Désignation;Prix\r\nA1;Lampe à poser;12,50\r\n"
        "A2;Café crème – tasse;3,20\r\n".encode("cp1252"),
    )
    write_bytes(
        "utf16.csv",
        "sku\tname\r\nA1\tÅngström\r\nA2\t東京\r\n".encode("utf-16"),
    )
    # Like AdventureWorks' Product.csv: no header, TAB, LF, empty fields for
    # NULL, padded codes, and no line feed after the last record.
    write_bytes(
        "headerless_tab.csv",
        b"1\tAdjustable Race\tAR-5381\t0\t\t.0000\t\t2019-04-30 00:00:00.000\n"
        b"2\tBearing Ball\tBA-8327\t0\tM \t.0000\t\t2019-04-30 00:00:00.000\n"
        b"3\tBB Ball Bearing\tBE-2349\t1\tL \t9.5000\t58\t2019-04-30 00:00:00.000",
    )
    # Like ProductPhoto.csv: "+|" between fields, "&|" and LF after each
    # record, one very long line of hex GIF data.
    gif = "47494638396150003100F7" + "00C0C0C0FF" * 5000 + "3B"
    write_bytes(
        "photo_plus_pipe.csv",
        (
            f"1+|{gif}+|no_image_available_small.gif+|2019-04-30 00:00:00.000&|\n"
            "69+|47494638+|racer02_black_f_small.gif+|2019-04-30 00:00:00.000&|\n"
            "70+|4749\n4638+|two\tlines.gif+|2023-10-19 09:56:38.273&|\n"
        ).encode(),
    )
    write_bytes(
        "quoted_newlines.csv",
        b'sku,note\nA1,"line one\nline two"\nA2,"say ""hi"""\nA3,plain\n',
    )
    good = "".join(f"A{n},Lamp {n}\n" for n in range(1, 6)).encode()
    write_bytes(
        "bad_utf8_middle.csv",
        b"sku,name\n" + good + b"A6,Lamp \xff\xfe\nA7,Lamp 7\n",
    )
    write_bytes("unclosed_quote.csv", b'sku,name\nA1,"Lamp\nA2,Desk\nA3,Chair\n')
    write_bytes("duplicate_header.csv", b"sku,Name, name \nA1,Lamp,Lampe\n")
    write_bytes("empty_header.csv", b"sku,,price\nA1,Lamp,5\n")
    write_bytes(
        "blank_rows.csv",
        b"sku,name\n\nA1,Lamp\n,\n  ,  \nA2,Desk\n\nA3,Chair\n",
    )
    write_bytes("pipe.csv", b"sku|name|price\nA1|Lamp, small|5\nA2|Desk|12\n")
    write_bytes("not_a_workbook.xlsx", b"sku,name\nA1,Lamp\n")


def make_json_files() -> None:
    products = [
        {"sku": "A1", "name": "Lamp", "price": {"list": 5.5, "cost": 3}, "tags": ["a"]},
        {"sku": "A2", "name": "Desk", "price": {"list": 120, "cost": None}, "tags": []},
        {"sku": "A3", "name": "Chair", "price": {"list": 45, "cost": 20}, "stock": 7},
    ]
    write_bytes("nested.json", json.dumps(products, indent=2).encode())
    lines = [json.dumps(product) for product in products]
    write_bytes(
        "lines.jsonl", ("\n".join(lines[:2]) + "\n\n" + lines[2] + "\n").encode()
    )
    write_bytes("bad.json", b'[{"sku": "A1"},\n {"sku": "A2",}\n]')


def save(workbook: openpyxl.Workbook, name: str) -> None:
    workbook.save(HERE / name)


def make_logo_totals() -> None:
    # A report: a logo block on top, the table in B5:D9, a totals row.
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Stock"
    sheet["A1"] = "ACME Bicycles Ltd"
    sheet["A2"] = "Stock report"
    sheet["A3"] = datetime.datetime(2024, 1, 31)
    sheet.append([])
    sheet.append([None, "SKU", " Name ", "Quantity"])
    for sku, name, quantity in [
        ("A1", "Lamp", 5),
        ("A2", "Desk", 2),
        ("A3", "Chair", 12),
    ]:
        sheet.append([None, sku, name, quantity])
    sheet.append([None, None, None, None])
    sheet.append([None, "Total", None, "=SUM(D6:D8)"])
    sheet["F6"] = "a note beside the table"
    save(workbook, "logo_totals.xlsx")


def make_styled_trailing() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["sku", "name"])
    sheet.append(["A1", "Lamp"])
    sheet.append(["A2", "Desk"])
    fill = PatternFill("solid", fgColor="FFFF00")
    for row in range(4, 3001):
        for column in range(1, 27):
            sheet.cell(row=row, column=column).fill = fill
    save(workbook, "styled_trailing.xlsx")
    # Some programs declare the whole grid as the sheet's size.
    rewrite_member(
        "styled_trailing.xlsx",
        SHEET,
        [('<dimension ref="A1:Z3000" />', '<dimension ref="A1:XFD1048576" />')],
    )


def make_formulas() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Orders"
    sheet.append(["quantity", "price", "total", "label"])
    sheet.append([2, 3, "=A2*B2", '=IF(A2>5,"big","")'])
    sheet.append([1, 0, "=A3/B3", '=IF(A3>5,"big","")'])
    sheet.append([4, 5, "=A4*B4", '=IF(A4>5,"big","")'])
    save(workbook, "formulas.xlsx")
    # As saved by Excel: results cached, a division by zero, an empty text.
    rewrite_member(
        "formulas.xlsx",
        SHEET,
        [
            ('<c r="C2"><f>A2*B2</f><v /></c>', '<c r="C2"><f>A2*B2</f><v>6</v></c>'),
            (
                '<c r="C3"><f>A3/B3</f><v /></c>',
                '<c r="C3" t="e"><f>A3/B3</f><v>#DIV/0!</v></c>',
            ),
            (
                '<c r="D2"><f>IF(A2&gt;5,"big","")</f><v /></c>',
                '<c r="D2" t="str"><f>IF(A2&gt;5,"big","")</f><v></v></c>',
            ),
            (
                '<c r="D3"><f>IF(A3&gt;5,"big","")</f><v /></c>',
                '<c r="D3" t="str"><f>IF(A3&gt;5,"big","")</f><v></v></c>',
            ),
        ],
    )
    # Row 4 keeps openpyxl's formulas without results, as a script leaves
    # them when no spreadsheet has opened the file.


def make_error_cells() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["sku", "ratio", "note"])
    sheet.append(["A1", 0.5, "fine"])
    sheet.append(["A2", "#DIV/0!", "broken"])
    sheet.append(["A3", 2.0, "#N/A"])
    save(workbook, "error_cells.xlsx")


def make_merged() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["category", "sku", "name"])
    sheet.append(["Bikes", "B1", "Road bike"])
    sheet.append([None, "B2", "Mountain bike"])
    sheet.append(["Parts", "P1", "Chain"])
    sheet.merge_cells("A2:A3")
    save(workbook, "merged.xlsx")


def make_1904() -> None:
    workbook = openpyxl.Workbook()
    workbook.epoch = CALENDAR_MAC_1904
    sheet = workbook.active
    sheet.append(["sku", "sold on", "sold at"])
    sheet.append(
        ["A1", datetime.date(2024, 1, 31), datetime.datetime(2024, 1, 31, 10, 30)]
    )
    sheet.append(
        ["A2", datetime.date(1904, 1, 2), datetime.datetime(2000, 2, 29, 23, 59, 59)]
    )
    save(workbook, "date1904.xlsx")


def make_types() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Products"
    sheet.append(["sku", "quantity", "price", "active", "added"])
    sheet.append(["A1", 5, 2.5, True, datetime.date(2024, 1, 31)])
    sheet.append(["A2", 7.0, 0.1, False, datetime.datetime(2024, 2, 1, 8, 15)])
    second = workbook.create_sheet("Notes")
    second.append(["note"])
    second.append(["hello"])
    save(workbook, "types.xlsx")


def make_xls(name: str, *, dates_1904: bool = False) -> None:
    workbook = xlwt.Workbook(encoding="utf-8")
    if dates_1904:
        workbook.dates_1904 = True
    sheet = workbook.add_sheet("Products")
    day = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    moment = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM")
    for column, title in enumerate(
        ["sku", "quantity", "price", "active", "added", "at"]
    ):
        sheet.write(0, column, title)
    rows = [
        (
            "A1",
            5,
            2.5,
            True,
            datetime.date(2024, 1, 31),
            datetime.datetime(2024, 1, 31, 10, 30),
        ),
        (
            "A2",
            7.0,
            0.1,
            False,
            datetime.date(1999, 12, 31),
            datetime.datetime(2000, 1, 1),
        ),
    ]
    for index, values in enumerate(rows, start=1):
        for column, value in enumerate(values[:4]):
            sheet.write(index, column, value)
        sheet.write(index, 4, values[4], day)
        sheet.write(index, 5, values[5], moment)
    sheet.write_merge(4, 5, 0, 0, "merged")
    workbook.save(str(HERE / name))


if __name__ == "__main__":
    make_text_files()
    make_json_files()
    make_logo_totals()
    make_styled_trailing()
    make_formulas()
    make_error_cells()
    make_merged()
    make_1904()
    make_types()
    make_xls("dates.xls")
    make_xls("dates1904.xls", dates_1904=True)
