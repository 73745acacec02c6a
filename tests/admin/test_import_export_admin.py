"""The admin's Import and Export buttons, with Django's client and in Chromium."""

import csv
import io
import os
import re

import openpyxl
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shop.models import Category
from steps.context import StepContext
from steps.import_rows import ImportRows

CHANGELIST = "/admin/shop/category/"
ERP_CATEGORIES = {
    "source": {"storage": "erp", "path": "ProductCategory.csv"},
    "format": "csv",
    "read": {"header": False, "delimiter": "\t"},
    "model": "shop.Category",
    "key": ["source_id"],
    "fields": {"source_id": 1, "name": 2, "guid": 3, "modified_at": 4},
}


@pytest.fixture
def categories(db):
    """The demo ERP's four categories: Accessories, Bikes, Clothing, Components."""
    ImportRows(ERP_CATEGORIES).run(StepContext())
    return Category.objects.all()


def exported(client, query: str) -> list[list[str]]:
    response = client.get(f"{CHANGELIST}export/?{query}")
    assert response.status_code == 200, response.content[:500]
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


def categories_csv(*lines: str) -> SimpleUploadedFile:
    header = "ERP id,Name,Row GUID,Modified in the ERP\n"
    content = (header + "".join(f"{line}\n" for line in lines)).encode("utf-8")
    return SimpleUploadedFile("categories.csv", content, content_type="text/csv")


def writes(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and "shop_category" in q["sql"]
    ]


def test_the_export_holds_the_rows_the_changelist_shows_in_its_order(
    admin_client, categories
):
    # Given the four categories
    # When the list is searched for "c" (Accessories, Bicycles is not there,
    # Clothing, Components), ordered by name descending, and exported
    rows = exported(admin_client, "q=c&o=-1&export-format=csv")

    # Then the file has a header of verbose names and just those rows, in
    # that order
    assert rows[0] == [
        "Erp id",
        "Name",
        "Row guid",
        "Modified in the erp",
        "Product count",
        "Average list price",
    ]
    assert [row[1] for row in rows[1:]] == ["Components", "Clothing", "Accessories"]


def test_an_export_in_xlsx_downloads_a_workbook(admin_client, categories):
    # Given the four categories
    # When they are exported as XLSX
    response = admin_client.get(f"{CHANGELIST}export/?export-format=xlsx")

    # Then a workbook of the four categories is downloaded
    assert response["Content-Disposition"].startswith('attachment; filename="category-')
    content = b"".join(response.streaming_content)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(names) == ["Accessories", "Bikes", "Clothing", "Components"]


def upload(client, file, **data):
    return client.post(
        f"{CHANGELIST}import/", {"file": file, "action": "create_or_update", **data}
    )


def test_the_preview_saves_nothing_and_the_confirm_applies_the_import_once(
    admin_client, categories
):
    # Given a file renaming Bikes, repeating Clothing, adding Tools, and a
    # row with a date that is no date
    file = categories_csv(
        "1,Bicycles,cfbda25c-df71-47a7-b81b-64ee161aa37c,2019-04-30 00:00:00",
        "3,Clothing,10a7c342-ca82-48d4-8a38-46a2eb089b74,2019-04-30 00:00:00",
        "9,Tools,b5f9ba42-b69b-4fdd-b2ec-57fb7b42e3cf,2024-01-01 00:00:00",
        "10,Lights,c657828d-d808-4aba-91a3-af2ce02300e9,yesterday",
    )
    before = list(Category.objects.order_by("pk").values_list())

    # When it is uploaded
    response = upload(admin_client, file)

    # Then the preview shows each row's result, and nothing was saved
    assert response.status_code == 302
    preview = admin_client.get(response["Location"])
    page = preview.content.decode()
    assert re.search(r"<strong>1</strong>\s*to create", page)
    assert re.search(r"<strong>1</strong>\s*to update", page)
    assert re.search(r"<strong>1</strong>\s*rejected", page)
    assert "Bicycles" in page and "Modified in the erp" in page
    assert list(Category.objects.order_by("pk").values_list()) == before

    # When the import is confirmed
    with CaptureQueriesContext(connection) as queries:
        done = admin_client.post(response["Location"], {"confirm": "1"}, follow=True)

    # Then it ran once: one INSERT and one upsert, no dry run again
    assert len(writes(queries)) == 2
    assert "ROLLBACK" not in " ".join(q["sql"] for q in queries.captured_queries)
    assert "1 created, 1 updated, 1 unchanged, 1 rejected" in done.content.decode()
    names = set(Category.objects.values_list("name", flat=True))
    assert names == {"Accessories", "Bicycles", "Clothing", "Components", "Tools"}

    # When the confirmation is sent again, as by a reload
    with CaptureQueriesContext(connection) as again:
        repeated = admin_client.post(
            response["Location"], {"confirm": "1"}, follow=True
        )

    # Then nothing is written, and the person is told why
    assert writes(again) == []
    assert "applied or cancelled already" in repeated.content.decode()


def test_a_cancelled_import_saves_nothing_and_deletes_the_upload(
    admin_client, categories, settings
):
    # Given an uploaded file
    response = upload(
        admin_client,
        categories_csv("9,Tools,b5f9ba42-b69b-4fdd-b2ec-57fb7b42e3cf,2024-01-01 00:00"),
    )
    folder = os.path.join(settings.MEDIA_ROOT, "syncflow/admin-imports")
    token = response["Location"].rstrip("/").rsplit("/", 1)[-1].replace("-", "")
    assert os.listdir(os.path.join(folder, token))

    # When it is cancelled
    admin_client.post(response["Location"], {"cancel": "1"})

    # Then no category was added, and its files are gone
    assert Category.objects.count() == 4
    assert os.listdir(os.path.join(folder, token)) == []


def test_a_file_whose_name_tells_no_format_asks_for_one(admin_client, db):
    # Given a file named without an extension
    file = SimpleUploadedFile("categories", b"ERP id,Name\n1,Bikes\n")

    # When it is uploaded
    response = upload(admin_client, file)

    # Then the form says to choose a format
    assert response.status_code == 200
    assert "does not tell the format; choose one" in response.content.decode()


def test_a_person_without_add_permission_gets_no_import(client, categories):
    # Given a staff member who may only view categories
    from django.contrib.auth.models import Permission

    user = User.objects.create_user("viewer", password="secret", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_category"))
    client.force_login(user)

    # When the changelist and the import page are opened
    changelist = client.get(CHANGELIST).content.decode()
    refused = client.get(f"{CHANGELIST}import/")

    # Then there is an Export button but no Import button, and import is refused
    assert "syncflow-export" in changelist and "syncflow-import" not in changelist
    assert refused.status_code == 403


def test_a_person_previews_and_confirms_an_import_in_the_browser(admin_page, tmp_path):
    # Given the four categories, and a workbook renaming one and adding one
    ImportRows(ERP_CATEGORIES).run(StepContext())
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["ERP id", "Name", "Row GUID", "Modified in the ERP"])
    sheet.append(
        [1, "Bicycles", "cfbda25c-df71-47a7-b81b-64ee161aa37c", "2019-04-30 00:00:00"]
    )
    sheet.append(
        [2, "Components", "c657828d-d808-4aba-91a3-af2ce02300e9", "2019-04-30 00:00:00"]
    )
    sheet.append(
        [9, "Tools", "b5f9ba42-b69b-4fdd-b2ec-57fb7b42e3cf", "2024-01-01 00:00:00"]
    )
    sheet.append([10, "Lights", "a5f9ba42-b69b-4fdd-b2ec-57fb7b42e3cf", "soon"])
    path = tmp_path / "categories.xlsx"
    workbook.save(path)

    # When a person opens the categories, clicks Import, chooses the file
    # and asks for the preview
    page = admin_page
    page.goto(f"{page.live_server_url}{CHANGELIST}")
    page.click("ul.object-tools a.syncflow-import")
    page.set_input_files("#id_file", str(path))
    page.screenshot(path="/tmp/syncflow-import-form.png", full_page=True)
    page.click("input[name=preview]")
    page.wait_for_selector("#result_list")
    page.screenshot(path="/tmp/syncflow-import-preview.png", full_page=True)

    # Then the preview lists each row with its result, and nothing is saved
    results = page.locator(
        "#result_list tbody tr td.syncflow-outcome"
    ).all_inner_texts()
    assert results == ["updated", "unchanged", "created", "rejected"]
    assert "to create" in page.inner_text(".syncflow-counts")
    assert "modified_at" in page.inner_text(
        "#result_list tbody tr.syncflow-row-rejected"
    )
    assert not Category.objects.filter(name="Tools").exists()

    # When the person confirms
    page.click("input[name=confirm]")
    page.wait_for_url(f"**{CHANGELIST}")
    page.screenshot(path="/tmp/syncflow-import-confirmed.png", full_page=True)

    # Then the list shows the result and the rows are saved
    message = page.inner_text(".messagelist")
    assert "1 created, 1 updated, 1 unchanged, 1 rejected" in message
    assert set(Category.objects.values_list("name", flat=True)) == {
        "Accessories",
        "Bicycles",
        "Clothing",
        "Components",
        "Tools",
    }


def test_a_person_exports_the_searched_list_in_the_browser(admin_page, tmp_path):
    # Given the four categories
    ImportRows(ERP_CATEGORIES).run(StepContext())

    # When a person searches the list for "Bi", clicks Export, and downloads
    # the CSV
    page = admin_page
    page.goto(f"{page.live_server_url}{CHANGELIST}?q=Bi")
    page.click("ul.object-tools a.syncflow-export")
    assert "1 row the list shows" in page.inner_text("#content-main")
    page.check('input[name="export-format"][value=csv]')
    page.screenshot(path="/tmp/syncflow-export.png", full_page=True)
    with page.expect_download() as caught:
        page.click("input[type=submit]")
    content = (caught.value.path()).read_text(encoding="utf-8")

    # Then the file holds only the category the search found
    rows = list(csv.reader(io.StringIO(content)))
    assert [row[1] for row in rows[1:]] == ["Bikes"]
