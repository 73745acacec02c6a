"""The registry of step kinds, built-in and registered by projects.

Every worker and web process fills the registry the same way when Django
starts (the built-in kinds, then those the ``flows`` app reads from its
settings), so no process depends on another's memory.
"""

from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .base import StepKind
from .errors import UnknownKindError

BUILTIN_KINDS = (
    "steps.import_rows.ImportRows",
    "steps.download_files.DownloadFiles",
    "steps.recalculate.Recalculate",
    "steps.export_rows.ExportRows",
)

_kinds: dict[str, type[StepKind]] = {}


def register_kind(kind: type[StepKind] | str) -> type[StepKind]:
    """Register a step kind under its ``name``, replacing any before it.

    Args:
        kind: The class, or its dotted path.

    Returns:
        The class, so that this can be used as a class decorator.

    Raises:
        ValueError: If the class has no ``name``.
    """
    if isinstance(kind, str):
        kind = import_string(kind)
    if not kind.name:
        raise ValueError(f"{kind.__qualname__} has no name to register it under.")
    _kinds[kind.name] = kind
    return kind


def all_kinds() -> dict[str, type[StepKind]]:
    """Return every registered step kind, keyed by name."""
    if not _kinds:
        for path in BUILTIN_KINDS:
            register_kind(path)
    return dict(_kinds)


def get_kind(name: str) -> type[StepKind]:
    """Return the step kind registered as ``name``.

    Raises:
        UnknownKindError: If no kind has that name; the message lists the
            known names.
    """
    kinds = all_kinds()
    try:
        return kinds[name]
    except KeyError:
        message = _("unknown step kind %(kind)r; known kinds are %(known)s.") % {
            "kind": name,
            "known": ", ".join(sorted(kinds)),
        }
        raise UnknownKindError(message, field="kind") from None


def kind_choices() -> list[tuple[str, str]]:
    """Return ``(name, label)`` pairs for a form's choice field."""
    return [
        (name, str(kind.label or name)) for name, kind in sorted(all_kinds().items())
    ]
