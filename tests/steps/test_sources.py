"""Import sources: files in storages, URLs over HTTP, and datasets."""

import pytest

from steps.context import StepContext
from steps.errors import ConfigError, SourceError, TransientError
from steps.import_rows import ImportRows
from steps.sources import register_dataset
from tests.testapp.models import Tag

TAGS = b"code,label,weight\nA,Apple,1\nB,Banana,2\n"


def import_tags(source, **config) -> tuple[StepContext, dict]:
    config = {
        "source": source,
        "model": "testapp.Tag",
        "key": ["code"],
        "fields": {"code": "code", "label": "label", "weight": "weight"},
        **config,
    }
    ctx = StepContext(params={"weight": 7})
    output = ImportRows(config).run(ctx)
    return ctx, output


def tags() -> dict:
    return {t.code: (t.label, t.weight) for t in Tag.objects.all()}


def test_a_url_source_is_downloaded_and_imported(http_server, db):
    # Given a CSV file served over HTTP
    http_server.routes["/export/tags.csv"] = (200, TAGS, "text/csv")
    url = f"{http_server.url}/export/tags.csv"

    # When it is imported from its URL
    _ctx, output = import_tags({"url": url})

    # Then its rows are tags, and the output names the URL
    assert tags() == {"A": ("Apple", 1), "B": ("Banana", 2)}
    assert output["source"] == url and output["created"] == 2
    assert http_server.hits["/export/tags.csv"] == 1


def test_a_url_without_an_extension_is_read_in_its_content_types_format(
    http_server, db
):
    # Given a JSON array served at a path that names no format
    body = b'[{"code": "A", "label": "Apple", "weight": 1}]'
    http_server.routes["/api/tags"] = (200, body, "application/json; charset=utf-8")

    # When it is imported
    import_tags({"url": f"{http_server.url}/api/tags"})

    # Then the Content-Type told the format
    assert tags() == {"A": ("Apple", 1)}


def test_a_url_larger_than_max_bytes_fails_the_step(http_server, db):
    # Given a file of about 1 MB
    body = TAGS + b"".join(b"C%d,Cherry,3\n" % n for n in range(80_000))
    http_server.routes["/big.csv"] = (200, body, "text/csv")

    # When it is imported with a cap of 100 kB
    with pytest.raises(SourceError) as caught:
        import_tags({"url": f"{http_server.url}/big.csv", "max_bytes": 100_000})

    # Then the step fails naming the URL and the cap, and nothing was saved
    assert "larger than 100000 bytes" in str(caught.value)
    assert Tag.objects.count() == 0


def test_a_url_answering_404_fails_and_one_answering_503_is_transient(http_server, db):
    # Given a server without the file, and one failing
    http_server.routes["/down.csv"] = (503, b"Busy", "text/plain")

    # When each is imported
    with pytest.raises(SourceError) as missing:
        import_tags({"url": f"{http_server.url}/gone.csv"})
    with pytest.raises(TransientError) as busy:
        import_tags({"url": f"{http_server.url}/down.csv"})

    # Then a 404 fails the step, and a 503 is worth trying again
    assert "404" in str(missing.value) and "gone.csv" in str(missing.value)
    assert "503" in str(busy.value)


def test_a_server_that_does_not_answer_in_time_is_transient(db):
    # Given a socket that accepts connections and never answers
    import socket

    with socket.socket() as quiet:
        quiet.bind(("127.0.0.1", 0))
        quiet.listen(1)
        url = f"http://127.0.0.1:{quiet.getsockname()[1]}/tags.csv"

        # When it is imported with a short timeout
        with pytest.raises(TransientError) as caught:
            import_tags({"url": url, "timeout": 0.2})

    # Then the step fails as worth trying again, naming the URL
    assert url in str(caught.value)


def test_a_dataset_yields_rows_numbered_from_one(db):
    # Given a dataset of three tags, the second with a weight that is no
    # number, named by dotted path
    source = {"dataset": "tests.steps.datasets.fruit"}

    # When it is imported
    ctx, output = import_tags(source)

    # Then the good rows are tags, the dataset saw the run's parameters,
    # and the bad row is reported as row 2
    assert tags() == {"A": ("Apple", 7), "C": ("Cherry", 3)}
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.value) == (2, "weight", "heavy")
    assert output["source"] == "tests.steps.datasets.fruit"


def test_a_registered_dataset_is_found_by_its_name(db):
    # Given a dataset registered under a name
    register_dataset("two-tags", lambda params: [{"code": "Z", "label": "Zed"}])

    # When a source names it
    import_tags({"dataset": "two-tags"}, fields={"code": "code", "label": "label"})

    # Then its rows were imported
    assert tags() == {"Z": ("Zed", None)}


def test_a_dataset_item_that_is_not_a_dict_fails_naming_its_row(db):
    # Given a dataset whose second item is a list
    source = {"dataset": "tests.steps.datasets.not_dicts"}

    # When it is imported
    with pytest.raises(SourceError) as caught:
        import_tags(source)

    # Then the message names the dataset, the row and what was found
    assert "row 2" in str(caught.value) and "list" in str(caught.value)


SOURCE_ERRORS = {
    "a URL that is not http": ({"url": "ftp://x/tags.csv"}, "http:// or https://"),
    "a dataset that cannot be imported": (
        {"dataset": "tests.steps.datasets.nope"},
        "dataset 'tests.steps.datasets.nope' is neither registered nor importable",
    ),
    "a source of two kinds": (
        {"url": "http://x/t.csv", "dataset": "a.b"},
        '{"url": ...}',
    ),
    "an unknown key": ({"url": "http://x/t.csv", "retries": 3}, "'retries'"),
    "a negative timeout": ({"url": "http://x/t.csv", "timeout": -1}, "timeout"),
}


@pytest.mark.parametrize("case", SOURCE_ERRORS.values(), ids=SOURCE_ERRORS.keys())
def test_a_source_error_names_what_is_wrong(case, db):
    # Given a source with one thing wrong
    source, words = case

    # When the step is built
    with pytest.raises(ConfigError) as caught:
        import_tags(source)

    # Then the message says what, on the source key
    assert words in str(caught.value)
    assert caught.value.field == "source"
