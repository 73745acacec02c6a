"""Property-based: random DAGs, failures, trigger rules and recovery actions.

The real engine (claims, retries, trigger rules, conditions, finishing,
recovery plans) runs against the real database, driven by a deliberately
hostile delivery: step tasks arrive in random order, repeatedly, and for
steps that have already finished. Celery's canvas only ever delivers in a
kinder order, so what holds here holds on a worker.
"""

import random

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.control import finish_run
from flows.errors import RunError
from flows.execution import execute_step
from flows.loader import load_flow
from flows.models import FINISHED_STEP_STATUSES, StepAttempt, StepStatus
from flows.recovery import apply_plan, plan_rerun, plan_resume, plan_skip
from flows.rules import TRIGGER_RULES, rule_allows, run_status
from flows.scheduler import start_run

RULES = sorted(TRIGGER_RULES)


@st.composite
def flows(draw):
    """A random flow of up to 25 steps, with failures and trigger rules."""
    size = draw(st.integers(1, 25))
    key = draw(st.integers(0, 2**32))
    steps = []
    for n in range(size):
        upstream = draw(st.sets(st.integers(0, n - 1), max_size=3)) if n else set()
        behaviour = draw(st.sampled_from(["ok", "ok", "flaky", "fail"]))
        if behaviour == "ok":
            kind, config = "pause", {}
        elif behaviour == "fail":
            kind, config = "fail", {"message": f"s{n} fails"}
        else:
            failures = draw(st.integers(1, 3))
            kind = "flaky"
            config = {"failures": failures, "counter": f"{key}-s{n}", "transient": True}
        policy = {
            "trigger_rule": draw(st.sampled_from(RULES)),
            "max_attempts": draw(st.integers(1, 3)),
            "retry_delay": 0,
            "retry_jitter": False,
        }
        if draw(st.booleans()) and n % 4 == 3:
            policy["condition"] = {"path": "params.go", "op": "eq", "value": True}
        steps.append(
            {
                "key": f"s{n}",
                "kind": kind,
                "config": config,
                "depends_on": [f"s{u}" for u in sorted(upstream)],
                **policy,
            }
        )
    actions = draw(st.lists(st.sampled_from(["resume", "rerun", "skip"]), max_size=3))
    return steps, actions, draw(st.booleans()), draw(st.integers(0, 2**32))


def deliver(run, rng: random.Random, budget: int = 3000):
    """Deliver step tasks in random order until the run has finished."""
    keys = list(run.step_runs.values_list("key", flat=True))
    for _ in range(budget):
        run.refresh_from_db()
        if run.is_finished:
            return run
        statuses = dict(run.step_runs.values_list("key", "status"))
        if all(s in FINISHED_STEP_STATUSES for s in statuses.values()):
            finish_run(run.pk, run.generation)
            continue
        execute_step(run.pk, rng.choice(keys), run.generation)
    raise AssertionError(f"Run {run.pk} still {run.status}: {statuses}")


def check_round(run, graph, since, attempts_before):
    """Check what one round of delivery did against the rules."""
    steps = {s.key: s for s in run.step_runs.all()}
    specs = {spec["key"]: spec for spec in run.graph["steps"]}
    for attempt in StepAttempt.objects.filter(step_run__run=run, started_at__gte=since):
        key = attempt.step_run.key
        upstream = [steps[u] for u in graph.predecessors(key)]
        # No step ran before its upstream steps had finished and allowed it.
        for up in upstream:
            assert up.finished_at is not None and up.finished_at <= attempt.started_at
        assert rule_allows(specs[key]["trigger_rule"], [u.status for u in upstream])
    for key, step_run in steps.items():
        # No step ran more often than its attempts allow, in this round.
        assert step_run.attempts_used <= specs[key]["max_attempts"]
        # A step that had succeeded before the round was not run again.
        if key in attempts_before:
            assert step_run.attempts == attempts_before[key]
    # The run's status follows from its steps', and nothing is left running.
    assert run.is_finished
    assert run.status == run_status([s.status for s in steps.values()])
    assert all(s.status in FINISHED_STEP_STATUSES for s in steps.values())


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(flows())
def test_random_runs_follow_the_rules_through_failures_and_recoveries(db, example):
    steps, actions, go, seed = example
    rng = random.Random(seed)
    flow = load_flow({"slug": f"random-{seed}-{len(steps)}", "steps": steps})
    graph = nx.DiGraph()
    graph.add_nodes_from(s["key"] for s in steps)
    graph.add_edges_from((u, s["key"]) for s in steps for u in s["depends_on"])

    run = start_run(flow, params={"go": go})
    since = run.created_at
    run = deliver(run, rng)
    check_round(run, graph, since, {})

    for action in actions:
        statuses = dict(run.step_runs.values_list("key", "status"))
        failed = [k for k, s in statuses.items() if s == StepStatus.FAILED]
        if action == "skip" and failed:
            plan = plan_skip(run, rng.choice(failed))
        elif action == "rerun":
            plan = plan_rerun(run, rng.choice(list(statuses)))
        else:
            plan = plan_resume(run)
        if plan.empty:
            # A plan that changes nothing is refused, and the run left as it is.
            with pytest.raises(RunError, match="Nothing to do"):
                apply_plan(plan)
            assert run.is_finished
            continue
        kept = {
            s.key: s.attempts
            for s in run.step_runs.exclude(key__in=plan.reset)
            if s.status == StepStatus.SUCCEEDED
        }
        run = apply_plan(plan)
        since = run.history[-1]["at"]
        run = deliver(run, rng)
        check_round(run, graph, since, kept)
