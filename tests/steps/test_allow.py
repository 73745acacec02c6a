"""SYNCFLOW["MODELS"] and ["CALLABLES"]: what a step config may name."""

import pytest

from flows.errors import GraphError
from flows.loader import load_flow
from steps.errors import ConfigError
from steps.import_rows import ImportRows

from .conftest import tag_import

SOURCE = {"storage": "testdata", "path": "x.csv"}


@pytest.fixture
def allow(settings):
    """Set the two allow-lists for one test."""

    def set_lists(models=None, callables=None):
        settings.SYNCFLOW = {
            **settings.SYNCFLOW,
            "MODELS": models,
            "CALLABLES": callables,
        }

    return set_lists


@pytest.mark.parametrize("entry", ["testapp", "testapp.Tag", "TESTAPP.tag"])
def test_a_model_is_allowed_by_its_app_or_its_label(entry, allow, db):
    allow(models=["shop", entry])

    assert ImportRows(tag_import(SOURCE)).config["model"].__name__ == "Tag"


def test_a_model_outside_the_allowed_ones_is_refused_naming_it(allow, db):
    allow(models=["shop", "testapp"])
    config = {**tag_import(SOURCE), "model": "auth.User", "key": ["username"]}
    config["fields"] = {"username": "code"}

    with pytest.raises(ConfigError) as caught:
        ImportRows(config)

    assert caught.value.field == "model"
    assert "'auth.User' is not among the models SYNCFLOW['MODELS'] allows" in str(
        caught.value
    )


def test_without_the_settings_every_model_and_callable_is_allowed(allow, db):
    allow()
    config = tag_import(SOURCE, row_hook="tests.steps.hooks.slow")
    config.update(model="auth.Group", key=["name"], fields={"name": "code"})

    assert ImportRows(config).config["model"].__name__ == "Group"


def test_a_row_hook_outside_the_allowed_modules_is_refused(allow, db):
    allow(callables=["tests.steps.datasets"])

    with pytest.raises(ConfigError) as caught:
        ImportRows(tag_import(SOURCE, row_hook="tests.steps.hooks.slow"))

    assert str(caught.value) == (
        "row_hook: 'tests.steps.hooks.slow' is not in a module "
        "SYNCFLOW['CALLABLES'] allows (tests.steps.datasets)."
    )


def test_a_module_prefix_does_not_allow_a_module_that_merely_starts_alike(allow, db):
    allow(callables=["tests.steps.hook"])

    with pytest.raises(ConfigError):
        ImportRows(tag_import(SOURCE, row_hook="tests.steps.hooks.slow"))


def test_code_merely_imported_into_an_allowed_module_is_refused(allow, db):
    # Given only the test hooks allowed; they import RowRejected from steps
    allow(callables=["tests.steps.hooks"])

    # When a config names the imported class through the hooks module
    with pytest.raises(ConfigError) as caught:
        ImportRows(tag_import(SOURCE, row_hook="tests.steps.hooks.RowRejected"))

    # Then it is refused, naming where the class really lives
    assert str(caught.value) == (
        "row_hook: 'tests.steps.hooks.RowRejected' is defined in 'steps.errors', "
        "which SYNCFLOW['CALLABLES'] does not allow (tests.steps.hooks)."
    )


def test_the_demo_keeps_step_configs_to_the_shop(db):
    # The tests widen the lists; the demo's own settings must not undo them.
    from bikeshop import settings as demo

    assert demo.SYNCFLOW == {"MODELS": ["shop"], "CALLABLES": ["shop"]}


def test_a_dataset_outside_the_allowed_modules_is_refused(allow, db):
    allow(callables=["shop"])
    config = tag_import({"dataset": "tests.steps.datasets.fruit"})

    with pytest.raises(ConfigError) as caught:
        ImportRows(config)

    assert caught.value.field == "source"
    assert "is not in a module SYNCFLOW['CALLABLES'] allows" in str(caught.value)


def test_a_handler_outside_the_allowed_modules_is_refused_by_the_loader(allow, db):
    allow(callables=["shop"])
    definition = {
        "slug": "handled",
        "name": "handled",
        "steps": [
            {
                "key": "pause",
                "kind": "pause",
                "handlers": {"before_step": ["tests.testapp.handlers.before_step"]},
            }
        ],
    }

    with pytest.raises(GraphError) as caught:
        load_flow(definition)

    assert "tests.testapp.handlers.before_step" in str(caught.value)
    assert "SYNCFLOW['CALLABLES']" in str(caught.value)


def test_missing_create_is_refused_for_a_target_outside_the_allowed_models(allow, db):
    # Given subcategories allowed, but not the categories they link to
    allow(models=["shop.Subcategory"])
    config = {
        "source": SOURCE,
        "model": "shop.Subcategory",
        "key": ["source_id"],
        "fields": {
            "source_id": "source_id",
            "category": {"column": "category", "lookup": "name", "missing": "create"},
            "name": "name",
        },
    }

    # When a config would create missing categories
    with pytest.raises(ConfigError) as caught:
        ImportRows(config)

    # Then it is refused, naming the field and the model
    assert "field 'category': 'missing': 'create' would create shop.Category rows" in (
        str(caught.value)
    )
