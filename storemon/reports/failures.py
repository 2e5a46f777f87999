"""Why a report failed, in words for clients: a short, safe reason from an exception or from
what RQ recorded of a job. Tracebacks stay in the worker log and RQ's failed registry."""

from __future__ import annotations

from rq.job import Job, JobStatus

WORKER_LOST = "the worker computing this report stopped before it finished"


def failure_reason(kind: str, message: str, timeout_s: int | None = None) -> str:
    """A short, safe reason from an exception's class name and message.

    storemon's own exceptions carry messages written for people; anything else is a bug
    or an outage, named by its class only.
    """
    name = kind.rsplit(".", 1)[-1]
    if name == "JobTimeoutException":
        return f"the report timed out after {timeout_s} s (REPORT_JOB_TIMEOUT)" if timeout_s else \
            "the report timed out (REPORT_JOB_TIMEOUT)"
    if name == "ShutDownImminentException":
        return "the report was stopped by a worker shutdown"
    if name in ("AbandonedJobError", "WorkHorseTerminated"):
        return WORKER_LOST
    if kind.startswith("storemon.") and message:
        return message
    return f"the report could not be computed: unexpected {name}; the worker log has the details"


def rq_failure_reason(job: Job, attempts: int) -> str:
    """The reason for a job RQ has recorded as failed, stopped or canceled."""
    status = job.get_status(refresh=False)
    if status == JobStatus.STOPPED:
        return "the report was stopped by an operator"
    if status == JobStatus.CANCELED:
        return "the report was canceled in the queue"
    result = job.latest_result()
    text = (result.exc_string or "") if result is not None else ""
    if "AbandonedJobError" in text or "Work-horse terminated" in text:
        return WORKER_LOST + (f" ({attempts} attempts)" if attempts > 1 else "")
    last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
    kind, _, message = last.partition(": ")
    return failure_reason(kind.strip(), message.strip(), job.timeout)
