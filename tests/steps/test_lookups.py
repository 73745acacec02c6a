"""Relation values given by a natural key, resolved a batch at a time."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shop.models import Category, Product, Subcategory
from steps.context import StepContext
from steps.errors import ConfigError, RowRejected
from steps.import_rows import ImportRows
from steps.lookups import ForeignKeyResolver
from steps.mapping import parse_mapping

from .conftest import CATEGORIES, SUBCATEGORIES, erp_import


def import_subcategories(source: dict) -> StepContext:
    config = erp_import("shop.Subcategory", "", SUBCATEGORIES, source=source)
    ctx = StepContext()
    ImportRows(config).run(ctx)
    return ctx


def test_the_erp_subcategories_link_to_categories_by_their_erp_id(db):
    # Given the ERP's categories, imported from its TAB file
    config = erp_import("shop.Category", "ProductCategory.csv", CATEGORIES)
    ImportRows(config).run(StepContext())

    # When its subcategories are imported, naming categories by ERP id
    config = erp_import("shop.Subcategory", "ProductSubcategory.csv", SUBCATEGORIES)
    ctx = StepContext()
    output = ImportRows(config).run(ctx)

    # Then every subcategory links to the category of that id
    assert Category.objects.count() == 4
    assert output["created"] == Subcategory.objects.count() == 37
    assert ctx.rejected == []
    links = dict(Subcategory.objects.values_list("name", "category__name"))
    assert links["Mountain Bikes"] == "Bikes"
    assert links["Handlebars"] == "Components"
    assert links["Jerseys"] == "Clothing"
    assert links["Helmets"] == "Accessories"


def test_a_foreign_key_value_that_names_nothing_rejects_the_row(categories, put_file):
    # Given subcategories, the second naming a category id that is not there
    source = put_file(
        "subcategories.tsv",
        "1\t1\tMountain Bikes\t2d364ade-264a-433c-b092-4fcbf3804e01\t2024-01-01\n"
        "2\t99\tRoad Bikes\t000310c0-bcc8-42c4-b0c3-45ae611af06b\t2024-01-01\n",
    )

    # When they are imported
    ctx = import_subcategories(source)

    # Then the second row is rejected as naming nothing, with its column
    assert list(Subcategory.objects.values_list("name", flat=True)) == [
        "Mountain Bikes"
    ]
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.value) == (2, 2, "99")
    assert rejected.code == "does_not_exist"
    assert rejected.message == "field 'category': no category with source_id = '99'."


def test_an_empty_value_for_a_required_foreign_key_rejects_the_row(
    categories, put_file
):
    # Given a subcategory without a category
    source = put_file(
        "subcategories.tsv",
        "1\t\tMountain Bikes\t2d364ade-264a-433c-b092-4fcbf3804e01\t2024-01-01\n",
    )

    # When it is imported
    ctx = import_subcategories(source)

    # Then the row is rejected as missing a required value
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.code) == (1, 2, "required")


def test_a_malformed_foreign_key_value_rejects_the_row(categories, put_file):
    # Given a category id that is not a number
    source = put_file(
        "subcategories.tsv",
        "1\tone\tMountain Bikes\t2d364ade-264a-433c-b092-4fcbf3804e01\t2024-01-01\n",
    )

    # When it is imported
    ctx = import_subcategories(source)

    # Then the row is rejected as invalid, with the value
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.value, rejected.code) == (1, "one", "invalid")
    assert Subcategory.objects.count() == 0


def test_a_lookup_field_the_target_lacks_is_a_config_error(db):
    # Given a mapping that looks categories up by a field they do not have
    fields = {**SUBCATEGORIES, "category": {"column": 2, "lookup": "code"}}
    config = erp_import("shop.Subcategory", "ProductSubcategory.csv", fields)

    # When the step is built
    with pytest.raises(ConfigError) as caught:
        ImportRows(config)

    # Then the message names the field and the missing lookup field
    assert str(caught.value) == (
        "field 'category': Category has no field 'code' to look up."
    )


def test_values_are_looked_up_once_per_batch_and_then_remembered(categories):
    # Given a resolver for subcategory → category by ERP id
    [rule] = parse_mapping(
        Subcategory, {"category": {"column": 2, "lookup": "source_id"}}
    )
    resolver = ForeignKeyResolver(rule)

    # When a batch naming two categories many times is primed and resolved,
    # and then a value of the batch is resolved again
    with CaptureQueriesContext(connection) as queries:
        resolver.prime(["1", "2", "1", "1", "2", None])
        first = [resolver.resolve(v) for v in ["1", "2", "1"]]
        again = resolver.resolve("1")

    # Then one query answered them all
    bikes, components = (Category.objects.get(source_id=n).pk for n in (1, 2))
    assert first == [bikes, components, bikes]
    assert again == bikes
    assert len(queries) == 1


def test_a_value_not_primed_is_looked_up_on_its_own(categories):
    # Given a resolver primed with one value
    [rule] = parse_mapping(
        Subcategory, {"category": {"column": 2, "lookup": "source_id"}}
    )
    resolver = ForeignKeyResolver(rule)
    resolver.prime(["1"])

    # When another value, and a value that names nothing, are resolved
    with CaptureQueriesContext(connection) as queries:
        found = resolver.resolve("3")
        with pytest.raises(RowRejected):
            resolver.resolve("42")
        with pytest.raises(RowRejected):
            resolver.resolve("42")

    # Then each was looked up once, the miss remembered like a hit
    assert found == Category.objects.get(source_id=3).pk
    assert len(queries) == 2


PERMISSIONS = {
    "name": "name",
    "codename": "codename",
    "content_type": {"column": ["app", "model"], "lookup": ["app_label", "model"]},
}


def import_permissions(source: dict, **rule) -> StepContext:
    fields = dict(PERMISSIONS)
    fields["content_type"] = {**fields["content_type"], **rule}
    config = {
        "source": source,
        "model": "auth.Permission",
        "key": ["content_type", "codename"],
        "fields": fields,
    }
    ctx = StepContext()
    ImportRows(config).run(ctx)
    return ctx


def test_a_foreign_key_is_found_by_several_fields_in_one_query(put_file, db):
    # Given permissions naming their content type by app label and model
    source = put_file(
        "permissions.csv",
        "name,app,model,codename\n"
        "Can ship product,shop,product,ship_product\n"
        "Can rate vendor,shop,vendor,rate_vendor\n"
        "Can fly,shop,airship,fly_airship\n",
    )

    # When they are imported
    with CaptureQueriesContext(connection) as queries:
        ctx = import_permissions(source)

    # Then each links to its content type; the unknown one is rejected
    # naming both columns and values; one query looked them all up
    ship = Permission.objects.get(codename="ship_product")
    assert ship.content_type == ContentType.objects.get_for_model(Product)
    assert Permission.objects.filter(codename="rate_vendor").exists()
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.code) == (
        4,
        "app+model",
        "does_not_exist",
    )
    assert rejected.value == "shop | airship"
    assert "app_label, model = 'shop', 'airship'" in rejected.message
    lookups = [
        q for q in queries.captured_queries if 'FROM "django_content_type"' in q["sql"]
    ]
    assert len(lookups) == 1


def test_missing_create_creates_the_target_once(put_file, settings, db):
    # Given content types among the models configs may name, and two
    # permissions of a content type that does not exist yet
    settings.SYNCFLOW = {
        **settings.SYNCFLOW,
        "MODELS": [*settings.SYNCFLOW["MODELS"], "contenttypes"],
    }
    source = put_file(
        "permissions.csv",
        "name,app,model,codename\n"
        "Can fly,shop,airship,fly_airship\n"
        "Can land,shop,airship,land_airship\n",
    )

    # When they are imported with missing "create"
    ctx = import_permissions(source, missing="create")

    # Then the content type was created once, and both link to it
    assert ctx.rejected == []
    airship = ContentType.objects.get(app_label="shop", model="airship")
    assert set(airship.permission_set.values_list("codename", flat=True)) == {
        "fly_airship",
        "land_airship",
    }


def test_missing_create_rejects_the_row_when_the_target_cannot_be_made(
    categories, put_file
):
    # Given a subcategory naming a category that does not exist, which
    # needs more than a name to be created
    source = put_file(
        "subcategories.csv",
        "source_id,category,name,guid,modified_at\n"
        "50,Boats,Kayaks,10a7c342-ca82-48d4-8a38-46a2eb089b74,2024-01-01 00:00\n",
    )
    config = {
        "source": source,
        "model": "shop.Subcategory",
        "key": ["source_id"],
        "fields": {
            "source_id": "source_id",
            "category": {"column": "category", "lookup": "name", "missing": "create"},
            "name": "name",
            "guid": "guid",
            "modified_at": "modified_at",
        },
    }

    # When it is imported
    ctx = StepContext()
    ImportRows(config).run(ctx)

    # Then the row is rejected saying why the category could not be made
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.code) == (
        2,
        "category",
        "create_failed",
    )
    assert rejected.message.startswith(
        "field 'category': cannot create the category 'Boats': source_id: "
    ), rejected.message
    assert not Category.objects.filter(name="Boats").exists()


def test_missing_null_leaves_a_nullable_link_empty(catalog, make_product, put_file):
    # Given a product, and a file moving it to a subcategory that is gone
    make_product("Road-150", number="BK-1")
    source = put_file("moves.csv", "number,subcategory\nBK-1,999\n")

    # When it is imported with missing "null"
    config = {
        "source": source,
        "model": "shop.Product",
        "key": ["number"],
        "fields": {
            "number": "number",
            "subcategory": {
                "column": "subcategory",
                "lookup": "source_id",
                "missing": "null",
            },
        },
    }
    ctx = StepContext()
    ImportRows(config).run(ctx)

    # Then the product has no subcategory, and nothing was rejected
    assert ctx.rejected == []
    assert Product.objects.get(number="BK-1").subcategory is None


def import_users(source: dict, **groups_rule) -> StepContext:
    config = {
        "source": source,
        "model": "auth.User",
        "key": ["username"],
        "fields": {
            "username": "login",
            "groups": {"column": "groups", "lookup": "name", **groups_rule},
        },
    }
    ctx = StepContext()
    ImportRows(config).run(ctx)
    return ctx


def memberships() -> dict:
    users = User.objects.prefetch_related("groups").order_by("username")
    return {u.username: sorted(g.name for g in u.groups.all()) for u in users}


def test_many_to_many_values_are_split_looked_up_and_set_after_save(put_file, db):
    # Given three groups, and users naming theirs separated by "|"
    for name in ("editors", "viewers", "admins"):
        Group.objects.create(name=name)
    source = put_file(
        "users.csv",
        "login,groups\nann,editors|viewers\nbob,viewers\ncid,\ndan,viewers|pilots\n",
    )

    # When they are imported
    ctx = import_users(source)

    # Then each user has its groups, one with none, and the user naming a
    # group that does not exist is rejected naming it
    assert memberships() == {
        "ann": ["editors", "viewers"],
        "bob": ["viewers"],
        "cid": [],
    }
    [rejected] = ctx.rejected
    assert (rejected.row, rejected.column, rejected.value) == (5, "groups", "pilots")


def test_a_many_to_many_change_alone_updates_the_row_and_the_rest_is_unchanged(
    put_file, db
):
    # Given users imported with their groups
    for name in ("editors", "viewers"):
        Group.objects.create(name=name)
    run_file = "login,groups\nann,editors|viewers\nbob,viewers\n"
    import_users(put_file("users.csv", run_file))

    # When ann leaves editors, and the file is imported again
    changed = "login,groups\nann,viewers\nbob,viewers\n"
    with CaptureQueriesContext(connection) as queries:
        ctx = import_users(put_file("users.csv", changed))

    # Then ann is updated, bob unchanged, and four statements did it: the
    # groups, the users, their links, and one DELETE
    assert memberships() == {"ann": ["viewers"], "bob": ["viewers"]}
    assert ctx.count_dict() == {"created": 0, "updated": 1, "unchanged": 1, "failed": 0}
    statements = [
        q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]
    ]
    assert len(statements) == 4


def test_missing_create_makes_many_to_many_targets_too(put_file, db):
    # Given a user naming a group that does not exist
    source = put_file("users.csv", "login,groups\nann,pilots;crew\n")

    # When it is imported with missing "create" and a ";" separator
    ctx = import_users(source, missing="create", separator=";")

    # Then both groups were made and joined
    assert ctx.rejected == []
    assert memberships() == {"ann": ["crew", "pilots"]}


def test_a_key_of_a_foreign_key_and_a_field_updates_in_one_upsert(put_file, db):
    # Given two permissions imported by content type and codename
    lines = (
        "Can ship product,shop,product,ship_product\nCan rate,shop,vendor,rate_vendor\n"
    )
    import_permissions(put_file("p.csv", "name,app,model,codename\n" + lines))

    # When their names change and the file is imported again
    changed = lines.replace("Can ship", "May ship").replace("Can rate", "May rate")
    source = put_file("p.csv", "name,app,model,codename\n" + changed)
    with CaptureQueriesContext(connection) as queries:
        ctx = import_permissions(source)

    # Then both are updated by one statement on the two-field key
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith(("INSERT", "UPDATE"))
    ]
    assert len(writes) == 1 and "ON CONFLICT" in writes[0]
    assert ctx.count_dict() == {"created": 0, "updated": 2, "unchanged": 0, "failed": 0}
    assert Permission.objects.get(codename="ship_product").name == "May ship product"


def test_equal_values_of_different_types_are_looked_up_each_on_their_own(
    make_category,
):
    # Given subcategories named "1" and "True", found by name
    make_category("Bikes", "1", "True")
    [rule] = parse_mapping(Product, {"subcategory": {"column": 1, "lookup": "name"}})
    resolver = ForeignKeyResolver(rule)

    # When the number 1 and then True (equal in Python) are resolved, twice
    first = [resolver.resolve(1), resolver.resolve(True)]
    again = [resolver.resolve(1), resolver.resolve(True)]

    # Then each named the subcategory of its own text, every time
    expected = [Subcategory.objects.get(name=n).pk for n in ("1", "True")]
    assert first == again == expected
