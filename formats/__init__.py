"""Read and write rows of delimited text, XLSX, XLS, JSON and JSON Lines.

``formats`` knows nothing of models, steps or flows: it turns a file object
into rows and rows into a file object, with every option passed in.

.. code-block:: python

    from formats import open_reader

    with open("Product.csv", "rb") as fileobj:
        for row in open_reader(fileobj, name="Product.csv", header=False):
            print(row.number, row.values[1])
"""

from formats.base import Reader, Row, TableReader
from formats.errors import (
    CellError,
    EncodingError,
    FormatError,
    HeaderError,
    LimitError,
    ParseError,
    ValueParseError,
)
from formats.registry import (
    Format,
    formats_for_name,
    get_format,
    open_reader,
    open_writer,
    register_format,
)
from formats.writers import Writer

__all__ = [
    "CellError",
    "EncodingError",
    "Format",
    "FormatError",
    "HeaderError",
    "LimitError",
    "ParseError",
    "Reader",
    "Row",
    "TableReader",
    "ValueParseError",
    "Writer",
    "formats_for_name",
    "get_format",
    "open_reader",
    "open_writer",
    "register_format",
]
