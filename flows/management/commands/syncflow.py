"""``manage.py syncflow``: load, validate, run and report on flows."""

import json
import time

from django.core.management.base import BaseCommand, CommandError

from flows.conf import settings
from flows.control import cancel_run, set_paused, sweep
from flows.dag import build_graph, flow_specs
from flows.errors import FlowError
from flows.loader import load_flow
from flows.models import Flow, FlowRun, RunStatus
from flows.recovery import apply_plan, plan_rerun, plan_resume, plan_skip
from flows.report import progress_line, run_report
from flows.scheduler import start_run


class Command(BaseCommand):
    help = "Load, validate, run and report on sync flows."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True)

        run = commands.add_parser("run", help="Start a run of a flow.")
        run.add_argument("flow", help="The flow's slug.")
        run.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="A run parameter; VALUE is read as JSON when it parses, "
            "else as text. May be repeated.",
        )
        run.add_argument("--wait", action="store_true", help="Wait and print a report.")
        run.add_argument(
            "--timeout", type=float, default=None, help="Seconds to wait at most."
        )

        load = commands.add_parser("load", help="Create or update a flow from JSON.")
        load.add_argument("path", help="A JSON file with the flow's definition.")

        validate = commands.add_parser(
            "validate", help="Check a flow's DAG and configs."
        )
        validate.add_argument("flow", help="The flow's slug.")

        report = commands.add_parser("report", help="Print the report of a run.")
        report.add_argument("run", type=int, help="The run's id.")

        cancel = commands.add_parser("cancel", help="Cancel a run.")
        cancel.add_argument("run", type=int, help="The run's id.")

        for name, text in (
            ("resume", "Run again the steps of a run that did not succeed."),
            ("rerun", "Run a step of a run and everything after it again."),
            ("skip", "Mark a failed step skipped and go on downstream."),
        ):
            action = commands.add_parser(name, help=text)
            action.add_argument("run", type=int, help="The run's id.")
            if name in ("rerun", "skip"):
                action.add_argument("step", help="The step's key.")
            if name == "rerun":
                action.add_argument("--param", action="append", default=None)
            action.add_argument(
                "--yes", action="store_true", help="Act without asking; else only show."
            )
            action.add_argument("--wait", action="store_true", help="Wait and report.")

        for name, text in (("pause", "Pause a flow."), ("unpause", "Resume a flow.")):
            commands.add_parser(name, help=text).add_argument("flow", help="Its slug.")

        commands.add_parser("sweep", help="Send out again runs that lost a worker.")

    def handle(self, *args, action, **options):
        try:
            return getattr(self, f"handle_{action}")(**options)
        except FlowError as exc:
            raise CommandError(str(exc)) from exc

    def handle_run(self, flow, param, wait, timeout, **options):
        run = start_run(self._flow(flow), params=_params(param))
        self.stdout.write(f"Run {run.pk} of flow {flow!r} queued.")
        if not wait:
            return
        run = self._wait(run, timeout)
        self.stdout.write(run_report(run))
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"Run {run.pk} {run.status}.", returncode=1)

    def handle_load(self, path, **options):
        try:
            with open(path, encoding="utf-8") as handle:
                definition = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        flow = load_flow(definition)
        self.stdout.write(
            f"Flow {flow.slug!r} saved with {_steps(flow.steps.count())}."
        )

    def handle_validate(self, flow, **options):
        graph = build_graph(flow_specs(self._flow(flow)))
        self.stdout.write(f"Flow {flow!r} is valid: {_steps(graph.number_of_nodes())}.")

    def handle_report(self, run, **options):
        self.stdout.write(run_report(self._run(run)))

    def handle_cancel(self, run, **options):
        found = cancel_run(self._run(run))
        self.stdout.write(f"Run {found.pk} is {found.status}.")

    def handle_resume(self, run, **options):
        self._recover(plan_resume(self._run(run)), **options)

    def handle_rerun(self, run, step, param, **options):
        params = None if param is None else _params(param)
        self._recover(plan_rerun(self._run(run), step, params), **options)

    def handle_skip(self, run, step, **options):
        self._recover(plan_skip(self._run(run), step), **options)

    def _recover(self, plan, *, yes, wait, **options):
        self.stdout.write(f"Run {plan.run_id}, {plan.action}: {plan.describe()}")
        if plan.empty:
            self.stdout.write("Nothing to do.")
            return
        if not yes:
            self.stdout.write("Nothing done; add --yes to act.")
            return
        run = apply_plan(plan, by="syncflow command")
        self.stdout.write(f"Run {run.pk} is queued again.")
        if wait:
            run = self._wait(run, None)
            self.stdout.write(run_report(run))
            if run.status != RunStatus.SUCCEEDED:
                raise CommandError(f"Run {run.pk} {run.status}.", returncode=1)

    def handle_pause(self, flow, **options):
        set_paused(self._flow(flow), True)
        self.stdout.write(f"Flow {flow!r} paused.")

    def handle_unpause(self, flow, **options):
        set_paused(self._flow(flow), False)
        self.stdout.write(f"Flow {flow!r} resumed.")

    def handle_sweep(self, **options):
        resent = sweep()
        self.stdout.write(f"Runs sent out again: {resent or 'none'}.")

    def _run(self, run_id: int) -> FlowRun:
        try:
            return FlowRun.objects.get(pk=run_id)
        except FlowRun.DoesNotExist:
            raise CommandError(f"There is no run {run_id}.") from None

    def _flow(self, slug: str) -> Flow:
        try:
            return Flow.objects.get(slug=slug)
        except Flow.DoesNotExist:
            known = ", ".join(Flow.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"There is no flow {slug!r} (known: {known}).") from None

    def _wait(self, run: FlowRun, timeout: float | None) -> FlowRun:
        """Poll the run until it finishes, showing progress as it changes."""
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        last, hinted = "", False
        tty = self.stdout.isatty()
        while True:
            run.refresh_from_db()
            if run.is_finished:
                break
            line = progress_line(run)
            if line != last:
                if tty:
                    self.stdout.write(f"\r\033[K{line}", ending="")
                else:
                    self.stdout.write(line)
                self.stdout.flush()
                last = line
            waited = time.monotonic() - started
            # A run held behind another (overlap "queue") has generation 0
            # and waits for that one, not for a worker.
            untaken = run.status == RunStatus.QUEUED and run.generation > 0
            if untaken and not hinted and waited > QUEUED_HINT_AFTER:
                self.stderr.write(_no_worker_hint(run, waited))
                hinted = True
            if deadline is not None and time.monotonic() > deadline:
                message = f"Run {run.pk} still {run.status} after {timeout} s."
                if untaken and not hinted:
                    message += " " + _no_worker_hint(run, waited)
                raise CommandError(message, returncode=2)
            time.sleep(settings.WAIT_POLL_SECONDS)
        if tty and last:
            self.stdout.write("")
        return run


def _steps(count: int) -> str:
    return f"{count} step" if count == 1 else f"{count} steps"


#: Seconds a run may stay queued under ``--wait`` before the command says
#: that no worker seems to have taken it.
QUEUED_HINT_AFTER = 10.0


def _no_worker_hint(run: FlowRun, waited: float) -> str:
    """Say that no worker has taken ``run``, and which queue one must read."""
    from django.conf import settings as django_settings

    queue = getattr(django_settings, "CELERY_TASK_DEFAULT_QUEUE", None) or "celery"
    return (
        f"Run {run.pk} is still queued after {waited:.0f} s: no worker has "
        f"taken it. Is a Celery worker running that reads the queue "
        f"{queue!r} (celery -A <project> worker --queues={queue})? The run "
        "stays queued and starts when one does."
    )


def _params(pairs: list[str]) -> dict:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"--param wants NAME=VALUE, got {pair!r}.")
        try:
            params[name] = json.loads(value)
        except ValueError:
            params[name] = value
    return params
