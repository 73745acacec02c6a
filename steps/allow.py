"""What a step config may name: the models it touches, the code it imports.

Step configs are data: they are edited in the admin and loaded from JSON.
Two settings narrow what such a config can reach, so that someone allowed
to edit steps cannot import into ``auth.User`` or make a worker import an
arbitrary module::

    SYNCFLOW = {
        "MODELS": ["shop", "auth.Group"],
        "CALLABLES": ["myproject.hooks", "myproject.datasets"],
    }

``MODELS`` lists app labels (every model of the app) and ``app.Model``
labels. ``CALLABLES`` lists modules (and packages, with everything in
them) from which row hooks, handlers, datasets and exceptions named in
``retry_on`` may be imported; what is named must also be defined there,
not merely imported into an allowed module. Either left out, or ``None``, allows
everything, as before the setting existed.
"""

from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _


def _setting(name: str) -> list[str] | None:
    return getattr(settings, "SYNCFLOW", {}).get(name)


def model_allowed(model) -> bool:
    """Whether step configs may name ``model`` (see ``SYNCFLOW["MODELS"]``)."""
    allowed = _setting("MODELS")
    if allowed is None:
        return True
    opts = model._meta
    names = {opts.app_label, opts.label_lower}
    return any(entry.lower() in names for entry in allowed)


def import_callable(path: str) -> Any:
    """Import ``path`` if ``SYNCFLOW["CALLABLES"]`` allows it.

    Raises:
        ImportError: If the path is outside the allowed modules, or cannot
            be imported; the message says which.
    """
    allowed = _setting("CALLABLES")
    if allowed is not None and not _inside(path, allowed):
        raise ImportError(
            _("%(path)r is not in a module SYNCFLOW['CALLABLES'] allows (%(allowed)s).")
            % {"path": path, "allowed": ", ".join(allowed) or _("none")}
        )
    found = import_string(path)
    # An allowed module may import something from elsewhere (say, Django's
    # call_command); what counts is the module that defines it.
    home = getattr(found, "__module__", None)
    if allowed is not None and isinstance(home, str) and not _inside(home, allowed):
        raise ImportError(
            _(
                "%(path)r is defined in %(home)r, which SYNCFLOW['CALLABLES'] "
                "does not allow (%(allowed)s)."
            )
            % {"path": path, "home": home, "allowed": ", ".join(allowed)}
        )
    return found


def _inside(path: str, allowed: list[str]) -> bool:
    return any(path == entry or path.startswith(entry + ".") for entry in allowed)
