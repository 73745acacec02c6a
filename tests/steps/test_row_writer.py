"""How ``import_rows`` writes: upserts, bulk updates, save(), row by row."""

import random
import threading
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError, connection, connections
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext

from shop.models import Category, Product, Subcategory
from steps.context import StepContext
from steps.import_rows import ImportRows
from steps.row_writer import ObjectFactory, RowWriter

from tests.testapp.models import Tag

from .conftest import catalog_import, run, tag_import, tags, tags_csv, writes


def test_updating_every_row_of_a_unique_key_is_one_upsert_statement(put_file, db):
    # Given 200 imported tags (SQLite takes 999 parameters a statement)
    rows = [f"T{n},Tag {n},{n}" for n in range(200)]
    run(tag_import(put_file("tags.csv", tags_csv(*rows))))

    # When every weight changes and the file is imported in one batch
    rows = [f"T{n},Tag {n},{n + 1}" for n in range(200)]
    source = put_file("tags.csv", tags_csv(*rows))
    with CaptureQueriesContext(connection) as queries:
        ctx, _output = run(tag_import(source, batch_size=500))

    # Then one INSERT ... ON CONFLICT ... DO UPDATE wrote all of them
    [statement] = writes(queries)
    assert "ON CONFLICT" in statement.upper()
    assert ctx.count_dict()["updated"] == 200
    assert Tag.objects.get(code="T7").weight == 8


def test_a_key_without_a_unique_constraint_updates_with_bulk_update(put_file, db):
    # Given tags imported by their label, which is not unique
    run(tag_import(put_file("tags.csv", tags_csv("A,Apple,1", "B,Banana,2"))))

    # When their weights change
    source = put_file("tags.csv", tags_csv("A,Apple,5", "B,Banana,6"))
    with CaptureQueriesContext(connection) as queries:
        ctx, _output = run(tag_import(source, key=["label"]))

    # Then one UPDATE wrote both, as no upsert can target the label
    [statement] = writes(queries)
    assert statement.lstrip().upper().startswith("UPDATE")
    assert tags() == {"A": ("Apple", 5), "B": ("Banana", 6)}
    assert ctx.count_dict()["updated"] == 2


def test_write_save_calls_save_so_signals_run_for_each_row(put_file, db):
    # Given a signal receiver counting saves of tags
    saved = []

    def count(sender, instance, created, **kwargs):
        saved.append((instance.code, created))

    post_save.connect(count, sender=Tag)
    try:
        # When two tags are imported with write "save", and one changed
        run(
            tag_import(
                put_file("t.csv", tags_csv("A,Apple,1", "B,Banana,2")), write="save"
            )
        )
        source = put_file("t.csv", tags_csv("A,Apple,1", "B,Banana,3"))
        ctx, _output = run(tag_import(source, write="save"))
    finally:
        post_save.disconnect(count, sender=Tag)

    # Then save ran for each created row and for the changed one only
    assert saved == [("A", True), ("B", True), ("B", False)]
    assert ctx.count_dict() == {"created": 0, "updated": 1, "unchanged": 1, "failed": 0}


CATEGORIES_WITH_A_REPEATED_NAME = (
    "id,name,guid,modified\n"
    "1,Bikes,cfbda25c-df71-47a7-b81b-64ee161aa37c,2024-01-01 00:00\n"
    "2,Parts,c657828d-d808-4aba-91a3-af2ce02300e9,2024-01-01 00:00\n"
    "3,Bikes,10a7c342-ca82-48d4-8a38-46a2eb089b74,2024-01-01 00:00\n"
    "4,Gear,b5f9ba42-b69b-4fdd-b2ec-57fb7b42e3cf,2024-01-01 00:00\n"
)


@pytest.mark.parametrize(
    ("transaction", "write"),
    [("batch", "bulk"), ("step", "bulk"), ("none", "bulk"), ("batch", "save")],
)
def test_a_unique_error_is_tied_to_its_row_in_every_mode(
    transaction, write, put_file, db
):
    # Given a file of categories whose third row repeats the first's name
    source = put_file("categories.csv", CATEGORIES_WITH_A_REPEATED_NAME)
    config = catalog_import(source, transaction=transaction, write=write)

    # When it is imported in this mode
    ctx, _output = run(config)

    # Then the other rows are saved and line 4 is rejected as unique
    assert sorted(Category.objects.values_list("source_id", flat=True)) == [1, 2, 4]
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.code) == (4, "name", "unique")
    assert ctx.count_dict() == {"created": 3, "updated": 0, "unchanged": 0, "failed": 1}


def test_transaction_none_writes_each_row_with_its_own_statement(put_file, db):
    # Given a file of three tags
    source = put_file("tags.csv", tags_csv("A,Apple,1", "B,Banana,2", "C,Cherry,3"))

    # When it is imported without a transaction
    with CaptureQueriesContext(connection) as queries:
        run(tag_import(source, transaction="none"))

    # Then each row was its own INSERT
    assert len(writes(queries)) == 3
    assert len(tags()) == 3


def test_the_object_factory_makes_what_the_model_makes_from_keywords(make_category):
    # Given the values of a product, its subcategory once by id and once as
    # an instance, and a user without the date joined, whose default is
    # made anew each time
    subcategory = make_category("Bikes", "Road Bikes").subcategories.get()
    values = {
        "name": "Road-150",
        "number": "BK-R93R-62",
        "list_price": Decimal("3578.27"),
        "subcategory_id": subcategory.pk,
    }
    by_instance = {**values, "subcategory": subcategory}
    del by_instance["subcategory_id"]
    make_product, make_user = ObjectFactory(Product), ObjectFactory(User)

    # When the factory and the model make instances from them
    made = [make_product(values), make_product(by_instance)]
    expected = [Product(**values), Product(**by_instance)]
    users = [make_user({"username": name}) for name in ("ann", "bob")]

    # Then every field holds the same, defaults included
    for ours, theirs in zip(made, expected):
        assert fields_of(ours) == fields_of(theirs)
        assert ours._state.adding and ours.pk is None
    assert made[1].subcategory is subcategory
    assert users[0].date_joined is not users[1].date_joined
    assert users[1].is_active and users[1].username == "bob"


def fields_of(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


AWKWARD_CODES = ['"a,b"', '"say ""hi"""', "{x}", "back\\slash", "NULL", "ümlaut"]


def test_stored_rows_are_found_by_text_keys_that_need_quoting(put_file, db):
    # Given tags whose codes hold a comma, quotes, braces, a backslash, the
    # word NULL and a non-ASCII letter, imported once
    rows = [f"{code},Tag {n},{n}" for n, code in enumerate(AWKWARD_CODES)]
    run(tag_import(put_file("tags.csv", tags_csv(*rows))))

    # When the same file, with the last weight changed, is imported again
    rows[-1] = f"{AWKWARD_CODES[-1]},Tag 5,50"
    ctx, _output = run(tag_import(put_file("tags.csv", tags_csv(*rows))))

    # Then every row was matched to its stored tag, and one was updated
    assert ctx.count_dict() == {"created": 0, "updated": 1, "unchanged": 5, "failed": 0}
    assert tags()["ümlaut"] == ("Tag 5", 50)
    assert {"a,b", 'say "hi"', "{x}", "back\\slash", "NULL"} < set(tags())


def test_stored_rows_are_found_by_a_uuid_key(put_file, db):
    # Given categories imported by their GUID
    source = put_file("categories.csv", CATEGORIES_BY_GUID)
    config = {**catalog_import(source), "key": ["guid"]}
    run(config)

    # When a file renames the second category and is imported again
    renamed = CATEGORIES_BY_GUID.replace("2,Parts", "2,Components")
    ctx, _output = run({**config, "source": put_file("categories.csv", renamed)})

    # Then the renamed row was matched by its GUID and updated in place
    assert ctx.count_dict() == {"created": 0, "updated": 1, "unchanged": 2, "failed": 0}
    assert Category.objects.get(source_id=2).name == "Components"


CATEGORIES_BY_GUID = (
    "id,name,guid,modified\n"
    "1,Bikes,cfbda25c-df71-47a7-b81b-64ee161aa37c,2024-01-01 00:00\n"
    "2,Parts,c657828d-d808-4aba-91a3-af2ce02300e9,2024-01-01 00:00\n"
    "3,Gear,b5f9ba42-b69b-4fdd-b2ec-57fb7b42e3cf,2024-01-01 00:00\n"
)


@pytest.mark.parametrize(
    ("key", "write"), [(["code"], "bulk"), (["label"], "bulk"), (["code"], "save")]
)
def test_an_update_keeps_the_stored_values_of_unmapped_fields(key, write, put_file, db):
    # Given two imported tags, one of which has a running total the file
    # does not map
    run(tag_import(put_file("t.csv", tags_csv("A,Apple,1", "B,Banana,2"))))
    Tag.objects.filter(code="B").update(running_total=40)

    # When B's weight changes, written by upsert, bulk_update or save()
    source = put_file("t.csv", tags_csv("A,Apple,1", "B,Banana,3"))
    ctx, _output = run(tag_import(source, key=key, write=write))

    # Then B has its new weight and still its running total
    assert ctx.count_dict() == {"created": 0, "updated": 1, "unchanged": 1, "failed": 0}
    assert Tag.objects.values_list("weight", "running_total").get(code="B") == (3, 40)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="The array is PostgreSQL's alone."
)
def test_postgresql_is_sent_a_batchs_keys_as_one_array(put_file, db):
    # Given a file of 300 new tags
    rows = [f"T{n},Tag {n},{n}" for n in range(300)]
    source = put_file("tags.csv", tags_csv(*rows))

    # When it is imported
    with CaptureQueriesContext(connection) as queries:
        run(tag_import(source))

    # Then the stored tags were looked for with one array, not 300 values
    [select] = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith('SELECT "TESTAPP_TAG"')
    ]
    assert "unnest('{T0,T1,T2," in select


@pytest.mark.parametrize("write", ["bulk", "save"])
def test_a_row_another_writer_stores_meanwhile_is_updated_not_refused(
    write, put_file, monkeypatch, db
):
    # Given another writer that stores tag B (weight 9) just after this
    # import has looked for the stored rows, before it inserts
    real_existing = RowWriter._existing
    stored_meanwhile = []

    def existing_then_another_writer(self, keys):
        found = real_existing(self, keys)
        if not stored_meanwhile:
            stored_meanwhile.append(Tag.objects.create(code="B", label="B", weight=9))
        return found

    monkeypatch.setattr(RowWriter, "_existing", existing_then_another_writer)

    # When a file of new tags A, B and C is imported
    source = put_file("t.csv", tags_csv("A,Apple,1", "B,Banana,2", "C,Cherry,3"))
    ctx, _output = run(tag_import(source, write=write))

    # Then nothing is refused: B is updated over what the other writer
    # stored, and each tag is stored once
    assert ctx.rejected == []
    assert tags() == {"A": ("Apple", 1), "B": ("Banana", 2), "C": ("Cherry", 3)}
    assert ctx.count_dict() == {"created": 2, "updated": 1, "unchanged": 0, "failed": 0}


def test_a_new_row_without_a_required_field_is_refused_before_the_database(
    put_file, make_category
):
    # Given categories mapped without their GUID and modification time,
    # which the model requires, and one category stored already
    stored = make_category("Bikes")
    source = put_file(
        "categories.csv", f"id,name\n{stored.source_id},Cycles\n2,Parts\n"
    )
    config = {
        **catalog_import(source),
        "fields": {"source_id": "id", "name": "name"},
    }

    # When they are imported
    with CaptureQueriesContext(connection) as queries:
        ctx, _output = run(config)

    # Then the stored category is updated, and the new one is refused,
    # naming the first field it lacks, without asking the database
    stored.refresh_from_db()
    assert stored.name == "Cycles"
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.code) == (3, "required")
    assert rejected.message == (
        "field 'guid' is required and the row gives it no value: "
        "map a column to it, or give it a constant."
    )
    # (the one write is the stored category's upsert)
    assert [q.upper().count("ON CONFLICT") for q in writes(queries)] == [1]


def test_save_mode_leaves_required_fields_to_save_and_its_signals(put_file, db):
    # Given a signal that fills a category's GUID and time when it is saved
    def fill(sender, instance, **kwargs):
        instance.guid = instance.guid or "b5f9ba42-b69b-4fdd-b2ec-57fb7b42e3cf"
        instance.modified_at = instance.modified_at or "2024-01-01T00:00Z"

    pre_save.connect(fill, sender=Category)
    try:
        # When categories without those columns are imported with save()
        source = put_file("categories.csv", "id,name\n7,Tools\n")
        config = {
            "source": source,
            "model": "shop.Category",
            "key": ["source_id"],
            "fields": {"source_id": "id", "name": "name"},
            "write": "save",
        }
        ctx, _output = run(config)
    finally:
        pre_save.disconnect(fill, sender=Category)

    # Then the row was created, its required fields filled by the signal
    assert ctx.rejected == []
    assert Category.objects.get(source_id=7).guid is not None


def test_a_required_relation_a_row_hook_sets_by_its_name_counts_as_given(
    put_file, make_category
):
    # Given a category, and subcategories whose hook links them to it as an
    # instance under the field's name, not its column
    bikes = make_category("Bikes")
    source = put_file(
        "subcategories.csv",
        "id,name,guid,modified\n"
        "5,Gravel,10a7c342-ca82-48d4-8a38-46a2eb089b74,2024-01-01 00:00\n",
    )
    config = catalog_import(
        source, "shop.Subcategory", row_hook="tests.steps.hooks.first_category"
    )

    # When they are imported
    ctx, _output = run(config)

    # Then the subcategory was created under that category
    assert ctx.rejected == []
    assert Subcategory.objects.get(source_id=5).category == bikes


@contextmanager
def tag_table_locked_by_another_writer():
    """Hold a write lock on the tags from a second connection; make this
    connection give up waiting for it after a fifth of a second."""
    other = connections.create_connection("default")
    cursor = other.cursor()
    waits = connection.cursor()
    if connection.vendor == "postgresql":
        cursor.execute("BEGIN")
        cursor.execute("LOCK TABLE testapp_tag IN EXCLUSIVE MODE")
        waits.execute("SET lock_timeout = '200ms'")
    else:
        cursor.execute("BEGIN IMMEDIATE")
        waits.execute("PRAGMA busy_timeout = 200")
    try:
        yield
    finally:
        cursor.execute("ROLLBACK")
        other.close()
        if connection.vendor == "postgresql":
            waits.execute("SET lock_timeout = 0")
        else:
            timeout = connection.settings_dict["OPTIONS"].get("timeout", 5)
            waits.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")


@pytest.mark.parametrize("write", ["bulk", "save"])
def test_a_lock_the_database_cannot_grant_fails_the_step_and_refuses_no_row(
    write, put_file, transactional_db
):
    # Given tag A stored, and a file that changes A and adds B and C
    Tag.objects.create(code="A", label="Apple", weight=1)
    source = put_file("t.csv", tags_csv("A,Apricot,1", "B,Banana,2", "C,Cherry,3"))
    config = tag_import(source, write=write, transaction="none")

    # When it is imported while another writer holds the table past the wait
    with tag_table_locked_by_another_writer():
        ctx = StepContext()
        with pytest.raises(OperationalError):
            ImportRows(config).run(ctx)

    # Then the step fails with the database's transient error, refusing no
    # row for it and writing none
    assert ctx.rejected == []
    assert tags() == {"A": ("Apple", 1)}

    # And once the lock is gone, the step's next attempt writes every row
    ctx, _output = run(config)
    assert ctx.rejected == []
    assert tags() == {"A": ("Apricot", 1), "B": ("Banana", 2), "C": ("Cherry", 3)}


#: Two imports of the same 2,000 new tags at once: the second file's order
#: and each import's batch size.
RACES = {
    # Each inserts keys the other is inserting, batch after batch.
    "shuffled, batches of 250": (True, 250, 250),
    # The small batches commit, one after another, keys of the large
    # batch being written: it is matched again once for each.
    "in order, batches of 1,000 and of 5": (False, 1000, 5),
}


@pytest.mark.parametrize("race", RACES, ids=list(RACES))
@pytest.mark.parametrize("write", ["bulk", "save"])
def test_two_imports_of_the_same_new_rows_at_once_store_each_row_once(
    write, race, put_file, transactional_db
):
    # Given 2,000 new tags in two files
    shuffle, *batch_sizes = RACES[race]
    lines = [f"T{n},Tag {n},{n}" for n in range(2000)]
    other = random.Random(7).sample(lines, len(lines)) if shuffle else lines
    sources = [
        put_file("first.csv", tags_csv(*lines)),
        put_file("second.csv", tags_csv(*other)),
    ]

    # When both are imported at once, each batch committed on its own
    start = threading.Barrier(len(sources))
    outcomes = {}

    def import_file(source, batch_size):
        try:
            start.wait()
            ctx = StepContext()
            config = tag_import(
                source, write=write, transaction="batch", batch_size=batch_size
            )
            ImportRows(config).run(ctx)
            outcomes[source["path"]] = (ctx.count_dict(), ctx.rejected)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            outcomes[source["path"]] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=import_file, args=work)
        for work in zip(sources, batch_sizes)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then neither import fails or refuses a row for a key the other one
    # stored: each tag is stored once, created by one import and found
    # unchanged by the other
    assert all(isinstance(outcome, tuple) for outcome in outcomes.values()), outcomes
    assert [rejected for _counts, rejected in outcomes.values()] == [[], []]
    created = sum(counts["created"] for counts, _rejected in outcomes.values())
    unchanged = sum(counts["unchanged"] for counts, _rejected in outcomes.values())
    assert (created, unchanged) == (2000, 2000)
    assert tags() == {f"T{n}": (f"Tag {n}", n) for n in range(2000)}
