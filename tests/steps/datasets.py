"""Datasets that the import tests name in their sources by dotted path."""


def fruit(params):
    """Yield three tags as an API would answer, the second one broken."""
    yield {"code": "A", "label": "Apple", "weight": params.get("weight", 1)}
    yield {"code": "B", "label": "Banana", "weight": "heavy"}
    yield {"code": "C", "label": "Cherry", "weight": 3}


def not_dicts(params):
    """Yield a dict and then a list, which is not a row."""
    yield {"code": "A", "label": "Apple"}
    yield ["B", "Banana"]
