"""Create or update a flow from a JSON definition, as data."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .dag import POLICY_DEFAULTS, StepSpec, build_graph
from .errors import GraphError
from .models import Flow, Step

FLOW_OPTIONS = {"is_active", "is_paused", "overlap", "deadline"}
FLOW_KEYS = {"slug", "name", "description", "steps", "start_after", *FLOW_OPTIONS}
STEP_KEYS = {"key", "kind", "config", "depends_on", "description", *POLICY_DEFAULTS}


def load_flow(definition: dict) -> Flow:
    """Create or replace the flow described by ``definition``.

    ``definition`` is a JSON object: ``slug``, ``name``, optional
    ``description``, ``is_active``, ``is_paused``, ``overlap`` and
    ``deadline``, and ``steps``, a list of objects with ``key``, ``kind``,
    ``config``, ``depends_on`` (a list of keys), an optional
    ``description``, and the optional policy settings of
    :data:`flows.dag.POLICY_DEFAULTS` (trigger rule, condition, retries,
    timeout, handlers). The whole DAG is validated before
    anything is written; steps of the flow that the definition no longer
    lists are deleted.

    Returns:
        The saved flow.

    Raises:
        GraphError: If the definition is malformed or its steps do not form
            a valid DAG; the message names the step.
    """
    unknown = sorted(set(definition) - FLOW_KEYS)
    if unknown or "slug" not in definition:
        raise GraphError(
            _("A flow definition needs a 'slug' and knows only %(keys)s.")
            % {"keys": ", ".join(sorted(FLOW_KEYS))}
        )
    _check_options(definition)
    specs = [_spec(item) for item in definition.get("steps", [])]
    build_graph(specs)
    for spec, item in zip(specs, definition.get("steps", []), strict=True):
        _check_fields(
            Step(
                key=spec.key,
                kind=spec.kind,
                config=spec.config,
                description=item.get("description", ""),
                **{name: spec.get(name) for name in POLICY_DEFAULTS},
            ),
            _("Step %(step)r") % {"step": spec.key},
            exclude={"flow", "depends_on"},
        )
    with transaction.atomic():
        flow, _created = Flow.objects.update_or_create(
            slug=definition["slug"],
            defaults={
                "name": definition.get("name", definition["slug"]),
                "description": definition.get("description", ""),
                **{k: definition[k] for k in FLOW_OPTIONS if k in definition},
            },
        )
        flow.steps.exclude(key__in=[spec.key for spec in specs]).delete()
        steps = {}
        for position, (spec, item) in enumerate(
            zip(specs, definition["steps"], strict=True)
        ):
            steps[spec.key], _created = Step.objects.update_or_create(
                flow=flow,
                key=spec.key,
                defaults={
                    "kind": spec.kind,
                    "config": spec.config,
                    "description": item.get("description", ""),
                    "position": position,
                    **{name: spec.get(name) for name in POLICY_DEFAULTS},
                },
            )
        for spec in specs:
            steps[spec.key].depends_on.set([steps[k] for k in spec.depends_on])
        if "start_after" in definition:
            flow.start_after.set(_flows(definition["start_after"], flow))
    return flow


def _flows(slugs, flow: Flow) -> list[Flow]:
    """Return the flows ``slugs`` names, refusing unknown ones and loops."""
    found = {f.slug: f for f in Flow.objects.filter(slug__in=slugs)}
    missing = sorted(set(slugs) - set(found))
    if missing:
        raise GraphError(
            _("Flow %(flow)r starts after %(missing)r, which does not exist.")
            % {"flow": flow.slug, "missing": missing[0]}
        )
    for before in found.values():
        if before == flow or _starts_after(before, flow):
            raise GraphError(
                _(
                    "Flow %(flow)r cannot start after %(other)r: %(other)r already "
                    "starts after it, so each would start the other."
                )
                % {"flow": flow.slug, "other": before.slug}
            )
    return list(found.values())


def _starts_after(flow: Flow, ancestor: Flow, seen=None) -> bool:
    seen = seen or set()
    for before in flow.start_after.all():
        if before == ancestor:
            return True
        if before.pk not in seen:
            seen.add(before.pk)
            if _starts_after(before, ancestor, seen):
                return True
    return False


def _spec(item) -> StepSpec:
    if not isinstance(item, dict) or not isinstance(item.get("key"), str):
        raise GraphError(_("Every step needs a 'key': %(item)r") % {"item": item})
    unknown = sorted(set(item) - STEP_KEYS)
    if unknown:
        raise GraphError(
            _("Step %(step)r: unknown key %(key)r.")
            % {"step": item["key"], "key": unknown[0]},
            step=item["key"],
        )
    return StepSpec(
        key=item["key"],
        kind=item.get("kind", ""),
        config=item.get("config", {}),
        depends_on=tuple(item.get("depends_on", ())),
        policy={name: item[name] for name in POLICY_DEFAULTS if name in item},
    )


def _check_fields(obj, what: str, exclude: set) -> None:
    """Refuse values the model's own fields refuse (lengths, ranges, types)."""
    try:
        obj.clean_fields(exclude=exclude)
    except ValidationError as exc:
        field, errors = next(iter(exc.message_dict.items()))
        raise GraphError(
            _("%(what)s: %(field)s: %(error)s")
            % {"what": what, "field": field, "error": " ".join(errors)}
        ) from None


def _check_options(definition: dict) -> None:
    """Refuse flow options the Flow model would not accept."""
    _check_fields(
        Flow(
            slug=definition["slug"],
            name=definition.get("name", definition["slug"]),
            description=definition.get("description", ""),
            **{k: definition[k] for k in FLOW_OPTIONS if k in definition},
        ),
        _("Flow %(flow)r") % {"flow": definition["slug"]},
        exclude=set(),
    )
