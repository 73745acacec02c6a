"""Open what an import reads: a file in a storage, a URL, or a dataset.

A source is one of:

``{"storage": "erp", "path": "Product.csv"}``
    A file in one of the project's ``STORAGES``; a plain path string means
    the ``default`` storage.
``{"url": "https://erp.example.com/products.csv"}``
    A file fetched over HTTP(S), streamed to a temporary file first, with a
    ``timeout`` (seconds, default 30) and a ``max_bytes`` cap (default 100
    MiB). ``name`` overrides the file name the format is guessed from.
``{"dataset": "myproject.datasets.open_orders"}``
    A callable, by dotted path or by the name it was registered under with
    :func:`register_dataset`, called with the run's parameters and yielding
    dicts: rows from an API or another database. Rows are numbered from 1.

Limitation: a URL is downloaded whole, to a temporary file, before its
first row is read, so the import starts only once the download is done;
a dataset's rows are not counted ahead, so its progress has no total.
"""

import posixpath
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import requests
from django import forms
from django.core.files.storage import storages
from django.utils.translation import gettext as _

from formats import Row, formats_for_name, open_reader
from formats.errors import FormatError

from .allow import import_callable
from .errors import SourceError, TransientError

DEFAULT_URL_TIMEOUT = 30.0
DEFAULT_URL_MAX_BYTES = 100 * 1024 * 1024
CONTENT_TYPES = {
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "text/plain": "csv",
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-excel": "xls",
}
SOURCE_KEYS = {
    "path": {"storage", "path"},
    "url": {"url", "timeout", "max_bytes", "name"},
    "dataset": {"dataset"},
}

_datasets: dict[str, Callable[[dict], Iterable[dict]]] = {}


def register_dataset(name: str, function: Callable[[dict], Iterable[dict]]) -> None:
    """Register ``function`` as the dataset ``name``.

    Args:
        name: The name a source's ``dataset`` key may give.
        function: Called with the run's parameters (a dict); returns or
            yields the rows as dicts of column name to value.
    """
    _datasets[name] = function


def find_dataset(name: str) -> Callable[[dict], Iterable[dict]]:
    """Return the dataset registered as ``name``, or importable by that path.

    Raises:
        ImportError: If it is neither.
    """
    if name in _datasets:
        return _datasets[name]
    return import_callable(name)


class SourceField(forms.JSONField):
    """A config value naming a file in a storage, a URL or a dataset."""

    def to_python(self, value):
        # A plain string is a path, not JSON text to decode.
        if isinstance(value, str):
            return {"path": value}
        return super().to_python(value)

    def clean(self, value):
        value = super().clean(value)
        if value is None:
            return None
        kinds = [k for k in SOURCE_KEYS if isinstance(value, dict) and k in value]
        if len(kinds) != 1:
            raise forms.ValidationError(
                _(
                    'expected a path, {"storage": ..., "path": ...}, {"url": ...} '
                    'or {"dataset": ...}.'
                ),
                code="invalid",
            )
        unknown = sorted(set(value) - SOURCE_KEYS[kinds[0]])
        if unknown:
            raise forms.ValidationError(
                _("unknown source key %(key)r.") % {"key": unknown[0]}, code="invalid"
            )
        return getattr(self, f"_clean_{kinds[0]}")(value)

    def _clean_path(self, value: dict) -> dict:
        alias = value.get("storage", "default")
        if not isinstance(value["path"], str) or alias not in storages.backends:
            raise forms.ValidationError(
                _("%(alias)r is not a storage alias in the STORAGES setting.")
                % {"alias": alias},
                code="invalid_storage",
            )
        return {"storage": alias, "path": value["path"]}

    def _clean_url(self, value: dict) -> dict:
        url = value["url"]
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise forms.ValidationError(
                _("url: expected an http:// or https:// URL, found %(url)r.")
                % {"url": url},
                code="invalid_url",
            )
        timeout = value.get("timeout", DEFAULT_URL_TIMEOUT)
        max_bytes = value.get("max_bytes", DEFAULT_URL_MAX_BYTES)
        for key, number in (("timeout", timeout), ("max_bytes", max_bytes)):
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise forms.ValidationError(
                    _("%(key)s: expected a number.") % {"key": key}, code="invalid"
                )
            if number <= 0:
                raise forms.ValidationError(
                    _("%(key)s: must be above 0.") % {"key": key}, code="invalid"
                )
        name = value.get("name") or posixpath.basename(unquote(urlsplit(url).path))
        return {"url": url, "timeout": timeout, "max_bytes": max_bytes, "name": name}

    def _clean_dataset(self, value: dict) -> dict:
        name = value["dataset"]
        try:
            find_dataset(name)
        except ImportError as exc:
            raise forms.ValidationError(
                _("dataset %(name)r is neither registered nor importable: %(error)s")
                % {"name": name, "error": exc},
                code="invalid_dataset",
            ) from None
        return {"dataset": name}


@dataclass
class OpenedSource:
    """Rows being read from a source.

    Attributes:
        rows: The rows, as :class:`formats.Row`, in the source's order.
        name: The source's name for messages: its path, URL or dataset.
        format: The format read, or ``None`` for a dataset.
        reader: The format's reader, or ``None`` for a dataset.
    """

    rows: Iterator[Row]
    name: str
    format: str | None
    reader: Any = None

    def columns(self) -> list:
        """Return the reader's column keys; ``[]`` for a dataset.

        Asked after the first row was read, this costs nothing: the reader
        has read the header by then.
        """
        return list(getattr(self.reader, "columns", None) or [])


def source_name(source: dict) -> str:
    """Return what messages and outputs call ``source``."""
    return source.get("path") or source.get("url") or source["dataset"]


@contextmanager
def open_rows(
    source: dict, *, format: str | None, read: dict, params: dict
) -> Iterator[OpenedSource]:
    """Open a cleaned ``source`` and read its rows.

    Args:
        source: A source as cleaned by :class:`SourceField`.
        format: The format's name; ``None`` guesses it from the file name
            (for a URL, from its ``Content-Type`` when the name has no
            known extension).
        read: Options for the format's reader.
        params: The run's parameters, given to a dataset.

    Raises:
        SourceError: If the file cannot be opened, fetched or read.
        TransientError: If a URL's server did not answer or answered with
            a 5xx status; the step is worth trying again.
    """
    if "dataset" in source:
        yield OpenedSource(_dataset_rows(source, params), source["dataset"], None)
        return
    with _open_file(source) as (handle, name, guessed):
        chosen = format or guessed
        try:
            reader = open_reader(handle, name=name, format=chosen, **read)
            chosen = chosen or formats_for_name(name)[0].name
        except FormatError as exc:
            raise SourceError(str(exc)) from exc
        yield OpenedSource(iter(reader), source_name(source), chosen, reader)


def _dataset_rows(source: dict, params: dict) -> Iterator[Row]:
    items = find_dataset(source["dataset"])(dict(params))
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise SourceError(
                _("dataset %(name)r, row %(row)d: expected a dict, found %(type)s.")
                % {
                    "name": source["dataset"],
                    "row": number,
                    "type": type(item).__name__,
                }
            )
        yield Row(number, item)


@contextmanager
def _open_file(source: dict) -> Iterator[tuple[IO[bytes], str, str | None]]:
    if "url" in source:
        with _download(source) as (handle, guessed):
            yield handle, source["name"] or source["url"], guessed
        return
    storage = storages[source["storage"]]
    name = source["path"]
    try:
        handle = storage.open(name, "rb")
    except OSError as exc:
        message = _("Cannot open %(name)r in storage %(alias)r: %(error)s") % {
            "name": name,
            "alias": source["storage"],
            "error": exc.strerror or exc,
        }
        raise SourceError(message) from exc
    try:
        yield handle, name, None
    finally:
        handle.close()


@contextmanager
def _download(source: dict) -> Iterator[tuple[IO[bytes], str | None]]:
    url, limit = source["url"], source["max_bytes"]
    with tempfile.TemporaryFile() as spool:
        try:
            with requests.get(url, stream=True, timeout=source["timeout"]) as response:
                if response.status_code >= 500:
                    raise TransientError(_http_failure(url, response))
                if response.status_code >= 400:
                    raise SourceError(_http_failure(url, response))
                size = 0
                for chunk in response.iter_content(256 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise SourceError(
                            _("%(url)s is larger than %(limit)d bytes.")
                            % {"url": url, "limit": limit}
                        )
                    spool.write(chunk)
                content_type = response.headers.get("Content-Type", "")
        except requests.RequestException as exc:
            raise TransientError(
                _("Cannot download %(url)s: %(error)s") % {"url": url, "error": exc}
            ) from exc
        spool.seek(0)
        guessed = None
        if not formats_for_name(source["name"] or ""):
            guessed = CONTENT_TYPES.get(content_type.split(";")[0].strip().lower())
        yield spool, guessed


def _http_failure(url: str, response: Any) -> str:
    return _("Cannot download %(url)s: the server answered %(status)d %(reason)s.") % {
        "url": url,
        "status": response.status_code,
        "reason": response.reason,
    }
