"""Plain-text reports of runs, for the command line."""

from django.utils.dateparse import parse_datetime

from .models import FINISHED_STEP_STATUSES, FlowRun, StepStatus


def format_duration(delta) -> str:
    """Return ``delta`` (a timedelta or ``None``) as seconds for a person."""
    if delta is None:
        return "-"
    return f"{delta.total_seconds():.1f} s"


def _took(run: FlowRun) -> str:
    """Return how long the run took, since its last recovery if it had one."""
    took = format_duration(run.duration)
    if not run.history or run.finished_at is None:
        return took
    last = run.history[-1]
    since = format_duration(run.finished_at - parse_datetime(last["at"]))
    return f"{since} after its {last['action']} ({took} since it first started)"


def progress_line(run: FlowRun) -> str:
    """Return one line saying how far ``run`` has come."""
    steps = list(run.step_runs.all())
    finished = sum(s.status in FINISHED_STEP_STATUSES for s in steps)
    running = [
        f"{s.key} {s.rows_done}"
        + (f"/{s.rows_total}" if s.rows_total else "")
        + " rows"
        for s in steps
        if s.status == StepStatus.RUNNING
    ]
    line = f"[{finished}/{len(steps)} steps done]"
    return f"{line} running: {', '.join(running)}" if running else line


def run_report(run: FlowRun, *, errors_per_step: int = 10) -> str:
    """Return a table of the run's steps with status, counts and duration,
    followed by the first rejected rows of each step."""
    step_runs = list(run.step_runs.all())
    lines = [f"Run {run.pk} of flow {run.flow.slug!r}: {run.status} in {_took(run)}"]
    # A failed run's error repeats its failed steps' errors, printed below;
    # anything else (a canvas that broke, a cancel) is said here.
    steps_said = "\n".join(
        f"{s.key}: {s.error}" for s in step_runs if s.status == StepStatus.FAILED
    )
    if run.error and run.error != steps_said:
        lines.append(f"  {run.error}")
    lines += [
        "",
        f"{'step':<22} {'status':<10} {'created':>8} {'updated':>8} "
        f"{'unchanged':>9} {'failed':>7} {'time':>8}",
    ]
    for s in step_runs:
        lines.append(
            f"{s.key:<22} {s.status:<10} {s.created:>8} {s.updated:>8} "
            f"{s.unchanged:>9} {s.failed:>7} {format_duration(s.duration):>8}"
        )
    for s in step_runs:
        if isinstance(s.output, dict) and s.output.get("dry_run"):
            lines.append(
                f"  {s.key}: dry run: its counts are what it would have "
                "written; nothing was kept"
            )
        if s.error:
            lines.append(f"  {s.key}: {s.error}")
        for e in s.row_errors.all()[:errors_per_step]:
            where = (
                f"row {e.row_number}"
                if e.row_number is not None
                else f"object {e.object_pk}"
            )
            column = f", column {e.column}" if e.column else ""
            lines.append(f"  {s.key}: {where}{column}: {e.message}")
        if s.failed > errors_per_step:
            lines.append(
                f"  {s.key}: ... {s.failed - errors_per_step} more rejected rows"
            )
        filed = s.output.get("failed_rows") if isinstance(s.output, dict) else None
        if isinstance(filed, dict):
            lines.append(f"  {s.key}: {_filed(filed)}")
    return "\n".join(lines)


def _filed(filed: dict) -> str:
    """Say where an import filed its refused rows, or why it could not."""
    if not filed.get("path"):
        return f"the failed rows could not be filed: {filed.get('error')}"
    rows = filed.get("rows")
    said = (
        f"{rows} failed row{'s' if rows != 1 else ''} filed in "
        f"{filed['path']} (storage {filed.get('storage', 'default')!r})"
    )
    if filed.get("error"):
        said += f", as JSON Lines: {filed['error']}"
    return said
