"""Build a flow's DAG with networkx, validate it, and plan its canvas.

A plan is the shape the scheduler gives a run on Celery: steps in
sequence become a chain, independent branches a group, and a group
followed by more work a chord. The plan never makes a step wait for a step
it does not depend on. A DAG that is not series-parallel (the "N" shape:
``c`` needs ``a`` and ``b``, ``d`` needs only ``b``) cannot be drawn that
way; for those, a few dependency edges are left out of the canvas and
become *waits* that the step checks when it starts.
"""

import math
from dataclasses import dataclass, field

import networkx as nx
from django.utils.translation import gettext as _

from steps.allow import import_callable
from steps.errors import ConfigError
from steps.registry import get_kind

from .errors import GraphError
from .rules import TRIGGER_RULES, check_condition_shape, check_retry_on

#: How a step runs besides its config, with the defaults of the Step model.
POLICY_DEFAULTS = {
    "trigger_rule": "all_succeeded",
    "condition": {},
    "max_attempts": 3,
    "retry_delay": 5.0,
    "retry_delay_max": 600.0,
    "retry_jitter": True,
    "retry_on": [],
    "timeout": None,
    "handlers": {},
}
HANDLER_EVENTS = (
    "before_step",
    "after_step",
    "on_step_error",
    "before_row",
    "after_row",
    "on_row_error",
)


@dataclass(frozen=True)
class StepSpec:
    """A step as the DAG sees it: key, kind, config, dependencies, policy."""

    key: str
    kind: str
    config: dict = field(default_factory=dict, compare=False, hash=False)
    depends_on: tuple[str, ...] = ()
    policy: dict = field(default_factory=dict, compare=False, hash=False)

    def get(self, name: str):
        """Return a policy value, or its default."""
        return self.policy.get(name, POLICY_DEFAULTS[name])

    def as_json(self) -> dict:
        """Return the spec as a JSON object, for a run's snapshot."""
        return {
            "key": self.key,
            "kind": self.kind,
            "config": self.config,
            "depends_on": list(self.depends_on),
            **{name: self.get(name) for name in POLICY_DEFAULTS},
        }


def flow_specs(flow) -> list[StepSpec]:
    """Return the specs of a saved flow's steps, in their list order."""
    steps = flow.steps.prefetch_related("depends_on")
    return [
        StepSpec(
            s.key,
            s.kind,
            s.config,
            tuple(sorted(d.key for d in s.depends_on.all())),
            {name: getattr(s, name) for name in POLICY_DEFAULTS},
        )
        for s in steps
    ]


def specs_from_snapshot(graph: dict) -> list[StepSpec]:
    """Return the specs stored in a run's ``graph`` snapshot."""
    return [
        StepSpec(
            s["key"],
            s["kind"],
            s["config"],
            tuple(s["depends_on"]),
            {name: s[name] for name in POLICY_DEFAULTS if name in s},
        )
        for s in graph.get("steps", [])
    ]


def build_graph(specs: list[StepSpec], *, check_configs: bool = True) -> nx.DiGraph:
    """Return the DAG of ``specs``, an edge running from a step to each dependent.

    Args:
        specs: The steps of one flow.
        check_configs: Also check each step's kind and config.

    Raises:
        GraphError: For a key used twice, a dependency on a step that does
            not exist, a cycle, an unknown kind or a config its kind
            refuses. The message names the step.
    """
    graph = nx.DiGraph()
    for spec in specs:
        if spec.key in graph:
            raise GraphError(
                _("Step %(step)r: the key is used by another step.")
                % {"step": spec.key},
                step=spec.key,
            )
        graph.add_node(spec.key, spec=spec)
    for spec in specs:
        for upstream in spec.depends_on:
            if upstream not in graph:
                raise GraphError(
                    _(
                        "Step %(step)r depends on %(missing)r, which is not a step of "
                        "this flow."
                    )
                    % {"step": spec.key, "missing": upstream},
                    step=spec.key,
                )
            graph.add_edge(upstream, spec.key)
    _refuse_cycles(graph)
    if check_configs:
        for spec in specs:
            check_step(spec)
    return graph


def check_step(spec: StepSpec) -> None:
    """Raise :class:`GraphError` naming the step if its kind, config or
    policy is bad."""
    try:
        get_kind(spec.kind).clean_config(spec.config)
    except ConfigError as exc:
        raise GraphError(str(exc.for_step(spec.key)), step=spec.key) from exc
    try:
        check_policy(spec)
    except ValueError as exc:
        raise GraphError(
            _("Step %(step)r: %(error)s") % {"step": spec.key, "error": exc},
            step=spec.key,
        ) from None


def check_policy(spec: StepSpec) -> None:
    """Raise ``ValueError`` naming the setting if a policy value is bad."""
    unknown = sorted(set(spec.policy) - set(POLICY_DEFAULTS))
    if unknown:
        raise ValueError(_("unknown setting %(name)r.") % {"name": unknown[0]})
    if spec.get("trigger_rule") not in TRIGGER_RULES:
        raise ValueError(
            _("trigger_rule: %(rule)r is not one of %(known)s.")
            % {"rule": spec.get("trigger_rule"), "known": ", ".join(TRIGGER_RULES)}
        )
    try:
        check_condition_shape(spec.get("condition"))
    except ValueError as exc:
        raise ValueError(_("condition: %(error)s") % {"error": exc}) from None
    try:
        check_retry_on(spec.get("retry_on"))
    except ValueError as exc:
        raise ValueError(_("retry_on: %(error)s") % {"error": exc}) from None
    for name in ("retry_delay", "retry_delay_max"):
        value = spec.get(name)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(
                _("%(name)s: expected a number of seconds, 0 or more.") % {"name": name}
            )
    attempts = spec.get("max_attempts")
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        raise ValueError(_("max_attempts: expected a whole number of at least 1."))
    handlers = spec.get("handlers")
    if not isinstance(handlers, dict) or not set(handlers) <= set(HANDLER_EVENTS):
        raise ValueError(
            _("handlers: expected an object whose keys are among %(events)s.")
            % {"events": ", ".join(HANDLER_EVENTS)}
        )
    for event, paths in handlers.items():
        if not isinstance(paths, list):
            raise ValueError(_("handlers: %(event)s takes a list.") % {"event": event})
        for path in paths:
            try:
                import_callable(path)
            except ImportError as exc:
                raise ValueError(
                    _("handlers: %(path)r: %(error)s") % {"path": path, "error": exc}
                ) from None


def _refuse_cycles(graph: nx.DiGraph) -> None:
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    keys = [edge[0] for edge in cycle] + [cycle[0][0]]
    raise GraphError(
        _("Step %(step)r is part of a cycle: %(cycle)s.")
        % {"step": keys[0], "cycle": " → ".join(keys)},
        step=keys[0],
    )


@dataclass
class StepNode:
    """A single step in a plan."""

    key: str


@dataclass
class ChainNode:
    """Parts that run one after another: each waits for all before it."""

    parts: list


@dataclass
class GroupNode:
    """Parts that run side by side."""

    parts: list


@dataclass
class Plan:
    """The canvas shape of a DAG, and the waits it could not express.

    Attributes:
        root: The node to run, or ``None`` for a flow without steps.
        waits: For a step, the upstream steps it must check itself before
            it runs, because the canvas does not make it wait for them.
    """

    root: StepNode | ChainNode | GroupNode | None
    waits: dict[str, list[str]]


def plan_canvas(graph: nx.DiGraph) -> Plan:
    """Return the chain, group and chord shape that runs ``graph``.

    A chain ``(P, R)`` is chosen only where every step of ``R`` truly
    depends on every step of ``P``; independent parts become a group. When
    neither applies the DAG is not series-parallel there: one incoming
    edge of a joining step is taken out of the canvas and recorded as a
    wait, and planning starts again, until the rest is series-parallel.
    """
    reduced = nx.transitive_reduction(graph)
    waits: dict[str, list[str]] = {}
    while True:
        root, stuck = _plan(reduced, set(reduced.nodes))
        if stuck is None:
            return Plan(root, {k: sorted(v) for k, v in sorted(waits.items())})
        upstream, key = stuck
        reduced.remove_edge(upstream, key)
        waits.setdefault(key, []).append(upstream)


def _plan(graph: nx.DiGraph, nodes: set):
    """Return ``(node, None)``, or ``(None, edge)`` naming an edge to drop."""
    if not nodes:
        return None, None
    sub = graph.subgraph(nodes)
    parts = sorted(nx.weakly_connected_components(sub), key=min)
    if len(parts) > 1:
        return _combine(graph, parts, GroupNode)
    if len(nodes) == 1:
        return StepNode(next(iter(nodes))), None

    order = list(nx.lexicographical_topological_sort(sub))
    ancestors = {key: nx.ancestors(sub, key) for key in order}
    for cut in range(1, len(order)):
        before = set(order[:cut])
        if all(before <= ancestors[key] for key in order[cut:]):
            return _combine(graph, [before, set(order[cut:])], ChainNode)
    return None, _edge_to_drop(sub, order)


def _combine(graph, parts: list[set], node_type):
    nodes = []
    for part in parts:
        node, stuck = _plan(graph, part)
        if stuck is not None:
            return None, stuck
        # Nested chains (or groups) flatten into their parent.
        nodes.extend(node.parts if isinstance(node, node_type) else [node])
    return node_type(nodes), None


def _edge_to_drop(sub: nx.DiGraph, order: list) -> tuple[str, str]:
    """Pick an incoming edge of the last joining step, from its last upstream."""
    position = {key: i for i, key in enumerate(order)}
    joins = [key for key in order if sub.in_degree(key) > 1]
    key = joins[-1]
    upstream = max(sub.predecessors(key), key=position.__getitem__)
    return upstream, key


def describe_plan(plan: Plan) -> str:
    """Return the plan as indented text: ``chain(...)``, ``group(...)``.

    A group followed by more work in a chain runs as a chord; the text
    shows it as the chain it is written as.
    """
    if plan.root is None:
        return "(no steps)"
    lines: list[str] = []

    def walk(node, depth: int) -> None:
        pad = "    " * depth
        if isinstance(node, StepNode):
            waits = plan.waits.get(node.key)
            note = f"  (also waits for {', '.join(waits)})" if waits else ""
            lines.append(f"{pad}{node.key}{note}")
            return
        lines.append(f"{pad}{'chain' if isinstance(node, ChainNode) else 'group'}(")
        for part in node.parts:
            walk(part, depth + 1)
        lines.append(f"{pad})")

    walk(plan.root, 0)
    return "\n".join(lines)
