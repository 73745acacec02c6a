"""The DAG: validation errors that name the step, and the canvas plan."""

import networkx as nx
import pytest

from flows.dag import ChainNode, GroupNode, StepNode, StepSpec, build_graph, plan_canvas
from flows.errors import GraphError


def pause(key, *depends_on, seconds=0):
    return StepSpec(key, "pause", {"seconds": seconds}, tuple(depends_on))


def shape(node):
    """Return a plan node as nested tuples, easy to compare."""
    if isinstance(node, StepNode):
        return node.key
    kind = "chain" if isinstance(node, ChainNode) else "group"
    return (kind, *[shape(part) for part in node.parts])


def waits_of(plan, graph):
    """Return, for every step, the upstreams the canvas makes it wait for."""
    waited = {key: set() for key in graph}

    def walk(node, before):
        if isinstance(node, StepNode):
            waited[node.key] |= before
            return {node.key}
        if isinstance(node, GroupNode):
            done = set()
            for part in node.parts:
                done |= walk(part, before)
            return done
        done = set(before)
        for part in node.parts:
            done |= walk(part, set(done))
        return done

    walk(plan.root, set())
    return waited


def test_a_cycle_is_refused_with_an_error_naming_a_step_in_it():
    # Given three steps where c feeds a again
    specs = [pause("a", "c"), pause("b", "a"), pause("c", "b")]

    # When the graph is built
    with pytest.raises(GraphError) as caught:
        build_graph(specs)

    # Then the error names a step of the cycle and shows the cycle
    assert caught.value.step in {"a", "b", "c"}
    assert "cycle" in str(caught.value)
    assert "a → b → c → a" in str(caught.value) or "→" in str(caught.value)


def test_a_step_that_depends_on_itself_is_a_cycle():
    with pytest.raises(GraphError) as caught:
        build_graph([pause("a", "a")])
    assert caught.value.step == "a"


def test_a_dependency_on_a_missing_step_names_both_steps():
    with pytest.raises(GraphError) as caught:
        build_graph([pause("a"), pause("b", "ghost")])
    assert caught.value.step == "b"
    assert "'ghost'" in str(caught.value)


def test_an_unknown_kind_is_refused_with_an_error_naming_the_step():
    with pytest.raises(GraphError) as caught:
        build_graph([StepSpec("load", "teleport", {})])
    assert caught.value.step == "load"
    assert "'load'" in str(caught.value)
    assert "unknown step kind 'teleport'" in str(caught.value)
    assert "import_rows" in str(caught.value)


def test_a_config_missing_a_required_key_is_refused_naming_step_and_key():
    # Given an import step without its source
    config = {"model": "shop.Category", "fields": {"name": 1}, "key": ["name"]}

    with pytest.raises(GraphError) as caught:
        build_graph([StepSpec("categories", "import_rows", config)])

    assert caught.value.step == "categories"
    assert "'categories'" in str(caught.value)
    assert "'source'" in str(caught.value)
    assert "required" in str(caught.value)


def test_a_config_key_the_kind_does_not_know_is_refused():
    config = {
        "model": "shop.Category",
        "url_field": "name",
        "file_field": "x",
        "typo": 1,
    }
    with pytest.raises(GraphError) as caught:
        build_graph([StepSpec("fetch", "download_files", config)])
    assert "unknown config key 'typo'" in str(caught.value)


def test_a_mapping_to_a_field_the_model_lacks_is_refused():
    config = {
        "source": "x.csv",
        "model": "shop.Category",
        "fields": {"colour": 1},
        "key": ["colour"],
    }
    with pytest.raises(GraphError) as caught:
        build_graph([StepSpec("categories", "import_rows", config)])
    assert "field 'colour': Category has no such field." in str(caught.value)


def test_a_key_used_twice_is_refused():
    with pytest.raises(GraphError) as caught:
        build_graph([pause("a"), pause("a")])
    assert caught.value.step == "a"


def test_a_straight_line_becomes_one_chain():
    graph = build_graph([pause("a"), pause("b", "a"), pause("c", "b")])
    plan = plan_canvas(graph)
    assert shape(plan.root) == ("chain", "a", "b", "c")
    assert plan.waits == {}


def test_a_fan_out_and_fan_in_becomes_a_chain_around_a_group():
    graph = build_graph(
        [pause("a"), pause("b", "a"), pause("c", "a"), pause("d", "b", "c")]
    )
    plan = plan_canvas(graph)
    assert shape(plan.root) == ("chain", "a", ("group", "b", "c"), "d")


def test_independent_branches_become_a_group():
    graph = build_graph([pause("a"), pause("b"), pause("c", "b")])
    assert shape(plan_canvas(graph).root) == ("group", "a", ("chain", "b", "c"))


def test_a_step_after_the_fast_branch_does_not_wait_for_the_slow_one():
    # Given a slow and a fast branch, and a step depending on the fast only
    graph = build_graph(
        [
            pause("a"),
            pause("slow", "a"),
            pause("fast", "a"),
            pause("after_fast", "fast"),
            pause("end", "slow", "after_fast"),
        ]
    )

    plan = plan_canvas(graph)

    assert shape(plan.root) == (
        "chain",
        "a",
        ("group", ("chain", "fast", "after_fast"), "slow"),
        "end",
    )


def test_an_n_shaped_graph_keeps_one_edge_as_a_wait():
    # Given c needing a and b, and d needing only b: not series-parallel
    graph = build_graph([pause("a"), pause("b"), pause("c", "a", "b"), pause("d", "b")])

    plan = plan_canvas(graph)

    # Then no step is made to wait for a step it does not depend on, and the
    # edge the canvas cannot hold is a wait of c
    assert plan.waits == {"c": ["b"]}
    waited = waits_of(plan, graph)
    assert waited["d"] == {"b"}
    assert waited["c"] | set(plan.waits["c"]) == {"a", "b"}


def test_redundant_edges_do_not_turn_into_waits():
    graph = build_graph([pause("a"), pause("b", "a"), pause("c", "a", "b")])
    plan = plan_canvas(graph)
    assert shape(plan.root) == ("chain", "a", "b", "c")
    assert plan.waits == {}


def test_every_random_dag_plans_without_false_waits_and_with_all_true_ones():
    # For many random DAGs, the canvas plus the waits must equal the
    # dependencies exactly: nothing waits for a non-ancestor, nothing misses
    # an ancestor.
    for seed in range(300):
        random_graph = nx.gnp_random_graph(9, 0.3, seed=seed, directed=True)
        edges = [(u, v) for u, v in random_graph.edges if u < v]
        specs = [
            pause(f"s{n}", *[f"s{u}" for u, v in edges if v == n]) for n in range(9)
        ]
        graph = build_graph(specs)
        plan = plan_canvas(graph)
        waited = waits_of(plan, graph)
        for key in graph:
            ancestors = nx.ancestors(graph, key)
            assert waited[key] <= ancestors, (seed, key)
            implied = set(waited[key])
            for upstream in plan.waits.get(key, []):
                implied |= {upstream} | nx.ancestors(graph, upstream)
            for upstream in list(implied):
                implied |= nx.ancestors(graph, upstream)
            assert implied >= ancestors, (seed, key)


def test_a_flow_definition_with_an_unknown_overlap_policy_is_refused(db):
    from flows.loader import load_flow

    with pytest.raises(GraphError, match="Flow .odd.: overlap: Value .never. is not"):
        load_flow({"slug": "odd", "overlap": "never", "steps": []})


@pytest.mark.parametrize(
    "change, words",
    [
        ({"key": "a b"}, "Step 'a b': key:"),
        ({"key": "k" * 101}, "key:"),
        ({"max_attempts": 10**12}, "max_attempts:"),
        ({"timeout": -1}, "timeout:"),
        ({"retry_delay": float("nan")}, "retry_delay: expected a number"),
        ({"retry_jitter": "no"}, "retry_jitter:"),
    ],
)
def test_a_step_setting_its_model_field_refuses_is_refused_naming_the_step(
    db, change, words
):
    from flows.loader import load_flow

    item = {"key": "a", "kind": "pause", "config": {}, **change}
    with pytest.raises(GraphError) as caught:
        load_flow({"slug": "checked", "steps": [item]})
    assert words in str(caught.value)


def test_run_parameters_that_are_not_plain_json_are_refused(db):
    from flows.errors import RunError
    from flows.loader import load_flow
    from flows.scheduler import start_run

    plain = load_flow({"slug": "plain", "steps": [{"key": "a", "kind": "pause"}]})
    with pytest.raises(RunError, match="not plain JSON"):
        start_run(plain, params={"limit": float("nan")})
    with pytest.raises(RunError, match="NUL"):
        start_run(plain, params={"name": "a\x00b"})
