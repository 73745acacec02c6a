"""The ``download_files`` step kind, against a real HTTP server on 127.0.0.1."""

import io
import socket

import pytest
from django.core.files.storage import storages
from PIL import Image

from shop.models import Product
from shop.photoserver import load_photos
from steps.context import StepContext
from steps.download_files import DownloadFiles
from steps.errors import ConfigError
from tests.conftest import ROOT


@pytest.fixture(scope="session")
def photos() -> dict[str, bytes]:
    """Two of the ERP's real product photos, GIF bytes by photo id."""
    everything = load_photos(ROOT / "demo" / "data" / "ProductPhoto.csv")
    return {"70": everything["70"], "160": everything["160"]}


def png_bytes() -> bytes:
    """Return a small red PNG image."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def server(http_server, photos):
    """The HTTP server, serving photos and some bad answers."""
    http_server.routes.update(
        {
            "/photos/70.gif": (200, photos["70"], "image/gif"),
            "/photos/160.gif": (200, photos["160"], "image/gif"),
            "/photos/text.gif": (
                200,
                b"This is no picture at all.\n" * 10,
                "image/gif",
            ),
            "/photos/big.gif": (200, photos["70"] + b"\0" * 300_000, "image/gif"),
            "/photos/by-id/70": (200, photos["70"], "image/gif"),
            "/photos/by-id/png": (200, png_bytes(), "image/png"),
            "/photos/by-id/text": (200, b"No picture here.\n" * 10, "text/plain"),
        }
    )
    return http_server


def download(**config) -> tuple[StepContext, dict]:
    config = {
        "model": "shop.Product",
        "url_field": "photo_url",
        "file_field": "photo",
        **config,
    }
    ctx = StepContext()
    output = DownloadFiles(config).run(ctx)
    return ctx, output


def stored_bytes(product: Product) -> bytes:
    product.refresh_from_db()
    with product.photo.open("rb") as handle:
        return handle.read()


def test_each_object_with_a_url_gets_its_file(server, photos, make_product):
    # Given two products with photo URLs and one without
    road = make_product("Road", photo_url=f"{server.url}/photos/70.gif")
    make_product("Bare", photo_url="")
    tour = make_product("Touring", photo_url=f"{server.url}/photos/160.gif")

    # When the photos are downloaded
    ctx, output = download()

    # Then both photos are stored under their URL's name, the product
    # without a URL is ignored, and the counts say so
    assert stored_bytes(road) == photos["70"]
    assert stored_bytes(tour) == photos["160"]
    assert road.photo.name.startswith("products/photos/70")
    assert Image.open(road.photo.path).format == "GIF"
    assert output == {
        "model": "shop.Product",
        "objects": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
    }
    assert ctx.rejected == []


def test_a_second_run_skips_objects_that_have_their_file(server, make_product):
    # Given a product whose photo was downloaded
    make_product("Road", photo_url=f"{server.url}/photos/70.gif")
    download()

    # When the step runs again with its default of only_missing
    ctx, _output = download()

    # Then the product counts unchanged, and the photo was not fetched again
    assert ctx.count_dict() == {"created": 0, "updated": 0, "unchanged": 1, "failed": 0}
    assert server.hits["/photos/70.gif"] == 1


def test_only_missing_false_fetches_again_and_replaces_the_file(
    server, photos, make_product
):
    # Given a product whose photo was downloaded, and which the server now
    # serves with other content
    road = make_product("Road", photo_url=f"{server.url}/photos/70.gif")
    download()
    first = Product.objects.get(pk=road.pk).photo.name
    server.routes["/photos/70.gif"] = (200, photos["160"], "image/gif")

    # When the step runs again without only_missing
    ctx, _output = download(only_missing=False)

    # Then the new content replaced the old file, which is gone: either its
    # name was free to be used again, or nothing is stored under it
    assert ctx.count_dict() == {"created": 0, "updated": 1, "unchanged": 0, "failed": 0}
    assert stored_bytes(road) == photos["160"]
    assert server.hits["/photos/70.gif"] == 2
    assert road.photo.name == first or not storages["default"].exists(first)


def test_a_file_over_max_bytes_is_rejected_as_too_large(server, make_product):
    # Given a product whose photo URL serves more than the limit
    url = f"{server.url}/photos/big.gif"
    big = make_product("Big", photo_url=url)

    # When the photos are downloaded with a limit of 100,000 bytes
    ctx, _output = download(max_bytes=100_000)

    # Then the product is reported with its key and URL, and has no photo
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.object_pk, rejected.column) == (
        None,
        str(big.pk),
        "photo_url",
    )
    assert (rejected.value, rejected.code) == (url, "too_large")
    assert "100000 bytes" in rejected.message
    big.refresh_from_db()
    assert not big.photo


def test_an_http_error_is_rejected_as_download_failed(server, make_product):
    # Given a product whose photo URL answers 404
    url = f"{server.url}/photos/gone.gif"
    gone = make_product("Gone", photo_url=url)

    # When the photos are downloaded
    ctx, output = download()

    # Then the product is reported with the URL and the status
    [rejected] = ctx.rejected
    assert (rejected.object_pk, rejected.value) == (str(gone.pk), url)
    assert rejected.code == "download_failed"
    assert "404" in rejected.message and url in rejected.message
    assert output["failed"] == 1


def test_a_refused_connection_is_rejected_as_download_failed(make_product):
    # Given a product whose URL names a port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/photos/70.gif"
    make_product("Nowhere", photo_url=url)

    # When the photos are downloaded
    ctx, _output = download(timeout=5)

    # Then the product is reported as failed, not the step
    [rejected] = ctx.rejected
    assert (rejected.value, rejected.code) == (url, "download_failed")


def test_something_that_is_not_an_image_is_refused_by_an_image_field(
    server, make_product
):
    # Given a product whose photo URL serves text under a .gif name
    url = f"{server.url}/photos/text.gif"
    text = make_product("Text", photo_url=url)

    # When the photos are downloaded into the ImageField
    ctx, _output = download()

    # Then the product is rejected as not an image, and nothing is stored
    [rejected] = ctx.rejected
    assert (rejected.object_pk, rejected.value, rejected.code) == (
        str(text.pk),
        url,
        "not_an_image",
    )
    text.refresh_from_db()
    assert not text.photo


def test_a_failed_download_does_not_stop_the_others(server, photos, make_product):
    # Given a product whose photo is missing between two that are there
    first = make_product("First", photo_url=f"{server.url}/photos/70.gif")
    make_product("Gone", photo_url=f"{server.url}/photos/gone.gif")
    last = make_product("Last", photo_url=f"{server.url}/photos/160.gif")

    # When the photos are downloaded
    ctx, _output = download()

    # Then both others are stored
    assert ctx.count_dict() == {"created": 2, "updated": 0, "unchanged": 0, "failed": 1}
    assert stored_bytes(first) == photos["70"]
    assert stored_bytes(last) == photos["160"]


def test_the_filter_limits_the_objects(server, make_product):
    # Given two products with photo URLs
    road = make_product("Road", photo_url=f"{server.url}/photos/70.gif")
    tour = make_product("Touring", photo_url=f"{server.url}/photos/160.gif")

    # When only those named like "Road" are downloaded
    _ctx, output = download(filter={"name__startswith": "Road"})

    # Then only that product got its photo
    road.refresh_from_db()
    tour.refresh_from_db()
    assert road.photo and not tour.photo
    assert output["objects"] == 1 and output["created"] == 1
    assert server.hits["/photos/160.gif"] == 0


def test_a_filter_across_a_multi_valued_relation_yields_each_object_once(
    server, make_category, make_product
):
    # Given two products of one subcategory, both named like "Road", so a
    # filter through the subcategory's products matches each one twice
    category = make_category("Bikes", "Road Bikes")
    subcategory = category.subcategories.get()
    road = make_product(
        "Road-150", subcategory=subcategory, photo_url=f"{server.url}/photos/70.gif"
    )
    make_product(
        "Road-250", subcategory=subcategory, photo_url=f"{server.url}/photos/160.gif"
    )

    # When the photos of products whose subcategory holds a "Road" product
    # are downloaded
    ctx, output = download(filter={"subcategory__products__name__startswith": "Road"})

    # Then each product was fetched and counted once
    assert output["objects"] == 2
    assert ctx.count_dict() == {"created": 2, "updated": 0, "unchanged": 0, "failed": 0}
    assert server.hits["/photos/70.gif"] == 1
    assert server.hits["/photos/160.gif"] == 1
    road.refresh_from_db()
    assert road.photo.name.startswith("products/photos/70")


def test_an_image_url_without_an_extension_gets_the_detected_formats_one(
    server, photos, make_product
):
    # Given products whose photo URLs end in no extension: a GIF and a PNG
    gif = make_product("Road", photo_url=f"{server.url}/photos/by-id/70")
    png = make_product("Touring", photo_url=f"{server.url}/photos/by-id/png")

    # When the photos are downloaded into the ImageField
    ctx, _output = download()

    # Then each is stored under the extension of the format Pillow found
    assert ctx.rejected == []
    gif.refresh_from_db()
    png.refresh_from_db()
    assert gif.photo.name.startswith("products/photos/70")
    assert gif.photo.name.endswith(".gif")
    assert png.photo.name.endswith(".png")
    assert stored_bytes(gif) == photos["70"]


def test_a_url_without_an_extension_that_is_no_image_is_still_refused(
    server, make_product
):
    # Given a product whose extensionless URL serves text
    url = f"{server.url}/photos/by-id/text"
    make_product("Text", photo_url=url)

    # When the photos are downloaded
    ctx, _output = download()

    # Then the product is rejected as not an image
    [rejected] = ctx.rejected
    assert (rejected.value, rejected.code) == (url, "not_an_image")


CONFIG_ERRORS = {
    "a url field the model lacks": (
        {"url_field": "picture_url"},
        "url_field: Product has no field 'picture_url'.",
    ),
    "a file field that is not a FileField": (
        {"file_field": "name"},
        "file_field: 'name' is not a FileField or ImageField.",
    ),
    "a filter on a field the model lacks": (
        {"filter": {"colour": "red"}},
        "filter: Cannot resolve keyword 'colour'",
    ),
    "a timeout too long": ({"timeout": 6000}, "config key 'timeout'"),
    "an unknown key": ({"retries": 3}, "unknown config key 'retries'"),
}


@pytest.mark.parametrize("case", CONFIG_ERRORS.values(), ids=CONFIG_ERRORS.keys())
def test_a_config_error_names_the_key_at_fault(case, db):
    # Given a download config with one thing wrong
    change, words = case
    config = {"model": "shop.Product", "url_field": "photo_url", "file_field": "photo"}
    config.update(change)

    # When the step is built
    with pytest.raises(ConfigError) as caught:
        DownloadFiles(config)

    # Then the message names the key
    assert str(caught.value).startswith(words)
