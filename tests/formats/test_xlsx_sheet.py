"""Tests of formats.xlsx_sheet: worksheet and shared-string XML as it streams."""

from __future__ import annotations

import datetime
import io
from xml.parsers.expat import ExpatError

import pytest
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

from formats.base import BrokenCell
from formats.errors import ParseError
from formats.xlsx_sheet import CHUNK_SIZE, SheetParser, read_shared_strings

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
DATE, DATETIME, DURATION = 1, 2, 3


def sheet(rows: str, *, prefix: str = "") -> io.BytesIO:
    colon = f"{prefix}:" if prefix else ""
    namespace = f"xmlns:{prefix}" if prefix else "xmlns"
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<{colon}worksheet {namespace}="{MAIN}">'
        f"<{colon}sheetData>{rows}</{colon}sheetData></{colon}worksheet>"
    )
    return io.BytesIO(xml.encode())


def parse(
    xml: io.BytesIO, *, strings=(), epoch=CALENDAR_WINDOWS_1900, last_column=16384
):
    parser = SheetParser(
        list(strings),
        epoch=epoch,
        date_styles={DATE, DATETIME, DURATION},
        duration_styles={DURATION},
        date_only_styles={DATE},
        last_column=last_column,
    )
    return list(parser.rows(xml))


def test_each_cell_type_reads_as_its_python_value():
    # Given a row with a shared string, numbers, a boolean, a formula's text
    # result, an inline string and an ISO date
    xml = sheet(
        '<row r="1">'
        '<c r="A1" t="s"><v>0</v></c>'
        '<c r="B1"><v>7</v></c>'
        '<c r="C1"><v>7.0</v></c>'
        '<c r="D1"><v>2.5</v></c>'
        '<c r="E1" t="b"><v>1</v></c>'
        '<c r="F1" t="str"><f>A1&amp;"x"</f><v>Lampx</v></c>'
        '<c r="G1" t="inlineStr"><is><t>inline</t></is></c>'
        '<c r="H1" t="d"><v>2024-01-31T10:30:00</v></c>'
        "</row>"
    )

    # When it is parsed
    rows = parse(xml, strings=["Lamp"])

    # Then each value has its type; a whole float is an int
    assert rows == [
        (
            1,
            [
                "Lamp",
                7,
                7,
                2.5,
                True,
                "Lampx",
                "inline",
                datetime.datetime(2024, 1, 31, 10, 30),
            ],
        )
    ]
    assert type(rows[0][1][2]) is int


def test_date_styles_give_dates_datetimes_times_and_durations():
    # Given serial numbers styled as a date, a datetime, a time and a duration
    xml = sheet(
        '<row r="1">'
        f'<c r="A1" s="{DATE}"><v>45322</v></c>'
        f'<c r="B1" s="{DATETIME}"><v>45322.4375</v></c>'
        f'<c r="C1" s="{DATETIME}"><v>45322</v></c>'
        f'<c r="D1" s="{DATETIME}"><v>0.5</v></c>'
        f'<c r="E1" s="{DURATION}"><v>1.5</v></c>'
        "</row>"
    )

    # When it is parsed
    [(_number, cells)] = parse(xml)

    # Then a date-only style at midnight gives a date, a time style keeps
    # the datetime even at midnight, and durations are timedeltas
    assert cells == [
        datetime.date(2024, 1, 31),
        datetime.datetime(2024, 1, 31, 10, 30),
        datetime.datetime(2024, 1, 31),
        datetime.time(12, 0),
        datetime.timedelta(days=1, hours=12),
    ]


def test_dates_count_from_the_workbooks_epoch():
    # Given the same serial number in a 1904 workbook
    xml = sheet(f'<row r="1"><c r="A1" s="{DATE}"><v>43860</v></c></row>')

    # When it is parsed with the 1904 epoch
    [(_number, cells)] = parse(xml, epoch=CALENDAR_MAC_1904)

    # Then the date is four years and a day later than in the 1900 system
    assert cells == [datetime.date(2024, 1, 31)]


def test_error_cells_dates_out_of_range_and_uncached_formulas_are_broken_cells():
    # Given an error, a date style on a number no date can have, and a
    # formula saved without a result
    xml = sheet(
        '<row r="1">'
        '<c r="A1" t="e"><v>#N/A</v></c>'
        f'<c r="B1" s="{DATE}"><v>99999999</v></c>'
        '<c r="C1"><f>SUM(A1:B1)</f><v></v></c>'
        "</row>"
    )

    # When it is parsed
    [(_number, cells)] = parse(xml)

    # Then each cell is a broken cell saying what is wrong
    assert all(isinstance(cell, BrokenCell) for cell in cells)
    assert "#N/A" in cells[0].reason
    assert "marked as a date" in cells[1].reason
    assert "never saved" in cells[2].reason


def test_a_text_formula_with_an_empty_result_reads_as_empty_text():
    # Given a text formula whose saved result is empty
    xml = sheet('<row r="1"><c r="A1" t="str"><f>""</f><v></v></c></row>')

    # When it is parsed
    # Then the value is "", not a missing result
    assert parse(xml) == [(1, [""])]


def test_cells_and_rows_without_references_follow_the_ones_before():
    # Given rows and cells that leave out their r attribute
    xml = sheet(
        '<row r="2"><c r="B2"><v>1</v></c><c><v>2</v></c></row>'
        "<row><c><v>3</v></c></row>"
    )

    # When it is parsed
    # Then they take the next row and column
    assert parse(xml) == [(2, [None, 1, 2]), (3, [3])]


def test_styled_empty_cells_and_columns_past_the_last_give_no_values():
    # Given a row of styled empty cells and a value past the last column
    xml = sheet(
        '<row r="1"><c r="A1" s="4"/><c r="B1" s="4"/></row>'
        '<row r="2"><c r="A2"><v>1</v></c><c r="E2"><v>5</v></c></row>'
    )

    # When it is parsed with columns up to D
    # Then the styled row is empty and the far value is left out
    assert parse(xml, last_column=4) == [(1, []), (2, [1])]


def test_rich_inline_text_joins_its_runs_and_leaves_phonetic_runs_out():
    # Given inline rich text with a phonetic reading
    xml = sheet(
        '<row r="1"><c r="A1" t="inlineStr"><is>'
        '<r><t xml:space="preserve">Bike </t></r><r><rPr><b/></rPr><t>Lamp</t></r>'
        "<rPh><t>reading</t></rPh>"
        "</is></c></row>"
    )

    # When it is parsed
    # Then the runs are joined with their spaces and the reading is left out
    assert parse(xml) == [(1, ["Bike Lamp"])]


def test_a_sheet_written_with_a_namespace_prefix_is_read_the_same():
    # Given a sheet whose tags carry a prefix
    xml = sheet('<x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c></x:row>', prefix="x")

    # When it is parsed
    # Then the prefix makes no difference
    assert parse(xml) == [(1, [1])]


def test_rows_come_chunk_by_chunk_without_the_whole_sheet():
    # Given a sheet of many rows
    rows = "".join(
        f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in range(1, 20_001)
    )
    xml = sheet(rows)

    # When the first row is taken
    first = next(
        SheetParser(
            [],
            epoch=CALENDAR_WINDOWS_1900,
            date_styles=set(),
            duration_styles=set(),
            date_only_styles=set(),
            last_column=16384,
        ).rows(xml)
    )

    # Then only the first chunks of the XML were read
    assert first == (1, [1])
    assert xml.tell() <= 2 * CHUNK_SIZE


def test_a_document_type_declaration_is_refused_before_any_entity_expands():
    # Given a sheet that declares entities, as in "billion laughs"
    xml = io.BytesIO(
        b'<?xml version="1.0"?>'
        b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<worksheet xmlns="' + MAIN.encode() + b'"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row>'
        b"</sheetData></worksheet>"
    )

    # When it is parsed
    # Then it is refused
    with pytest.raises(ParseError, match="document type"):
        parse(xml)


def test_malformed_xml_and_bad_references_raise():
    # Given a sheet cut short and a cell with a column no sheet has
    cut = io.BytesIO(b'<worksheet xmlns="' + MAIN.encode() + b'"><sheetData><row')
    bad = sheet('<row r="1"><c r="ABCD1"><v>1</v></c></row>')

    # When they are parsed
    # Then expat and the reference check raise, for the reader to report
    with pytest.raises(ExpatError):
        parse(cut)
    with pytest.raises(ValueError):
        parse(bad)


def test_the_shared_string_table_is_read_as_openpyxl_reads_it():
    # Given plain, rich, phonetic and escaped strings
    xml = (
        f'<sst xmlns="{MAIN}">'
        "<si><t>Lamp</t></si>"
        "<si><r><t>Bike </t></r><r><t>Lamp</t></r><rPh><t>x</t></rPh></si>"
        "<si><t>a_x005F_b</t></si>"
        "<si><t/></si>"
        "</sst>"
    )

    # When the table is read
    strings = read_shared_strings(io.BytesIO(xml.encode()))

    # Then every item is one text, in order
    assert strings == ["Lamp", "Bike Lamp", "a_b", ""]
