from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FlowsConfig(AppConfig):
    """The ``flows`` app: registers the configured step kinds on start."""

    name = "flows"
    verbose_name = _("Sync flows")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from steps.registry import all_kinds, register_kind

        from . import checks  # noqa: F401 (registers the system checks)
        from .conf import settings

        all_kinds()
        for path in settings.STEP_KINDS:
            register_kind(path)
