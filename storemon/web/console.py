"""The operator console: the fleet page, store pages, incidents, search, and signing in.

Server-rendered (Jinja) from stored reports and the per-store timeline; a little
JavaScript follows running reports. Access follows the report endpoints: open when they
are, otherwise a person signs in with a report token, kept (as its hash) in a signed,
HttpOnly, SameSite=Lax session cookie. Every form that changes state carries a CSRF token.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from redis.exceptions import RedisError

from ..core.incidents import KIND_NAMES
from ..core.windows import WINDOWS
from ..reports import lifecycle, reconcile, submission
from ..reports.options import EXTENDED
from ..database import incidents as incident_rows, tokens, webhooks as endpoint_rows
from .services import current_services
from .access import caller, csrf_token
from .fleet import fleet_of
from ..core.polls import day_of
from ..database.engines import reading
from ..database.queries import FoundStore, named_stores, find_stores, groups, holidays_between, latest_poll_us
from .arguments import group as group_argument
from .incidents import incident_filters
from .trends import chart_of, days_of
from .storeview import chart_days, dated, describe, duration, local_date
from .stores import requested_as_of, timeline_of, weekly_uptime
from ..timeparse import format_instant, parse_as_of

console = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                    static_url_path="/console/static")
RECENT = 10


@console.app_context_processor
def _template_helpers():
    return {"csrf_token": csrf_token, "signed_in": "token_hash" in session,
            "tokens_required": current_services().settings.require_report_token, "windows": WINDOWS,
            "incident_kinds": KIND_NAMES, "admin": _is_admin()}


def _is_admin() -> bool:
    """Whether the caller's token (the console's or a bearer one) is an admin's: the menu shows webhooks."""
    owner = caller()
    return owner is not None and owner.allows("admin")


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never another host (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return url_for("console.fleet")
    return target


@console.route("/signin", methods=["GET", "POST"])
def signin():
    if request.method == "POST":
        limits = current_services().rate_limits
        if (wait_s := limits.failing_wait()) is not None:
            flash(f"Too many failed sign-ins from here; try again in {wait_s} s.", "error")
            return render_template("signin.html", next=request.form.get("next")), 429, {"Retry-After": str(wait_s)}
        token = request.form.get("token", "").strip()
        owner = tokens.verify(current_services().engine, token) if token else None
        if owner is None or not owner.allows("report"):
            if owner is None:
                limits.count_failure()
            flash("That token is unknown, revoked, or lacks the report scope.", "error")
            return render_template("signin.html", next=request.form.get("next")), 401
        session.clear()  # a fresh session (and CSRF token) on sign-in
        session["token_hash"] = tokens.hash_of(token)
        return redirect(_safe_next(request.form.get("next")))
    return render_template("signin.html", next=request.args.get("next"))


@console.post("/signout")
def signout():
    session.clear()
    return redirect(url_for("console.signin"))


@console.get("/")
def fleet():
    """The newest routine report, or the Complete report a person picked (``?report=ID``), of
    every store or of one group (``?group=``); who is down now; the chain's holidays."""
    services = current_services()
    engine = services.engine
    latest = lifecycle.latest_routine(engine)
    shown = latest
    if chosen := request.args.get("report"):
        shown = lifecycle.find(engine, chosen) if lifecycle.REPORT_ID.fullmatch(chosen) else None
        if shown is None or shown.status != lifecycle.COMPLETE:
            abort(404, f"no Complete report has the id {chosen[:64]!r}; the fleet page lists the recent ones")
    group = group_argument(request.args.get("group"), empty_is_none=True)  # (the form's "every store": empty)
    summary = fleet_of(engine, shown.id, group) if shown else None
    named = named_stores(engine, [w.store_id for w in summary.worst] + list(summary.without_data_ids)) if summary else {}
    try:
        recent = reconcile.history(engine, services.queue, services.settings, limit=RECENT)
    except RedisError:
        recent = None
    down = services.outages.down(group, DOWN_LISTED)
    open_incidents = incident_rows.listed(engine, state=incident_rows.OPEN, group=group, limit=INCIDENTS_SHOWN)
    return render_template("fleet.html", shown=shown, latest=latest, summary=summary, recent=recent,
                           as_of=format_instant(shown.as_of_us) if shown else None, holidays=holidays_near(engine),
                           group=group, groups=groups(engine), named=named, down=down, wall_us=time.time_ns() // 1000,
                           open_incidents=open_incidents, open_counts=incident_rows.open_counts(engine, group),
                           trend=chart_of(*days_of(group=group)[1:]),
                           store=lambda store_id: named.get(store_id) or FoundStore(store_id))


DOWN_LISTED = 20  # stores the fleet page's down-now panel lists (all are counted)
INCIDENTS_SHOWN = 10  # open incidents the fleet page lists (all are counted, by kind)
INCIDENTS_LISTED = 500  # incidents the incidents page lists


@console.get("/console/incidents")
def incidents():
    """Incidents, open first, then recent; filtered by state, kind, group or store."""
    engine = current_services().engine
    filters = incident_filters()
    rows = incident_rows.listed(engine, limit=INCIDENTS_LISTED, **filters)
    with reading(engine) as conn:
        clock_us = latest_poll_us(conn)
    settings = current_services().settings
    return render_template("incidents.html", rows=rows, filters=filters, groups=groups(engine), clock_us=clock_us,
                           open_count=sum(r.open for r in rows), limit=INCIDENTS_LISTED,
                           silence=duration(settings.incident_silence), poller_silence=duration(settings.poller_silence))


HOLIDAYS_BEFORE, HOLIDAYS_AFTER = 14, 60  # days either side of the data's clock the fleet page lists


def holidays_near(engine) -> dict[str, list[dict]]:
    """The chain's recent holidays (the last HOLIDAYS_BEFORE days up to the newest poll's date,
    UTC) and upcoming ones (the next HOLIDAYS_AFTER), one entry a date."""
    with reading(engine) as conn:
        newest_us = latest_poll_us(conn)
    if newest_us is None:
        return {"recent": [], "upcoming": []}
    today = int(day_of(newest_us))
    found = dated(holidays_between(engine, today - HOLIDAYS_BEFORE, today + HOLIDAYS_AFTER))
    cut = local_date(today).isoformat()
    return {"recent": [h for h in found if h["date"] <= cut], "upcoming": [h for h in found if h["date"] > cut]}


@console.post("/console/trigger")
def trigger():
    raw = request.form.get("as_of", "").strip()
    try:
        as_of_us = parse_as_of(raw) if raw else None
    except ValueError as exc:
        flash(f"Bad as_of: {exc}", "error")
        return redirect(url_for("console.fleet"))
    services = current_services()
    try:
        report_id, coalesced = submission.submit(services.engine, services.queue, services.settings, as_of_us,
                                                 allow_future=request.form.get("allow_future") == "true",
                                                 options=EXTENDED)
    except submission.AfterNewestPoll as exc:
        flash(f"Not queued: {exc}; tick “after the newest poll, on purpose” to report on it anyway.", "error")
        return redirect(url_for("console.fleet"))
    except submission.QueueUnavailable:
        flash("The report queue (Redis) is unavailable; try again shortly.", "error")
        return redirect(url_for("console.fleet"))
    flash(f"Report {report_id} {'was already queued' if coalesced else 'queued'}.", "info")
    return redirect(url_for("console.fleet") + f"#report-{report_id}")


WEBHOOK_LOG = 10  # deliveries the webhooks page lists of each endpoint


@console.get("/console/webhooks")
def webhooks():
    """The endpoints and their latest deliveries (an admin token: storemon/web/access.py)."""
    engine = current_services().engine
    found = [(e, endpoint_rows.log(engine, e.id, WEBHOOK_LOG)) for e in endpoint_rows.endpoints(engine)]  # (no bodies)
    return render_template("webhooks.html", endpoints=found)


STORE_INCIDENTS = 50  # incidents a store's page reads (it draws those of its seven days)


def store_slo(store_id: str, settings) -> dict | None:
    """The store's SLO over SLO_WINDOW_DAYS as of the newest poll (whatever the page's as_of),
    as GET /slo shows it (None: not polled yet)."""
    from ..reports.slo import measure_store, store_rows  # (the report's code: not at the web's start)

    measured = measure_store(current_services().engine, store_id, settings.slo_window_days)
    if measured is None or not measured.figures.store_ids.size:
        return None
    return {"window": measured.window, **store_rows(measured, settings.slo_fast_burn)[0]}


@console.get("/stores/<path:store_id>")
def store(store_id: str):
    as_of_us = requested_as_of()
    record, computed = timeline_of(store_id, as_of_us)
    report_id, weekly = weekly_uptime()
    services = current_services()
    mine = incident_rows.listed(services.engine, store_id=store_id, limit=STORE_INCIDENTS)
    return render_template("store.html", store=describe(record, computed), days=chart_days(computed, record, mine),
                           incidents=mine, trend=chart_of(*days_of(store_id=store_id)[1:]),
                           slo=store_slo(store_id, services.settings),
                           requested=request.args.get("as_of", ""), latest_report=report_id,
                           weekly_in_latest=weekly.get(store_id))


@console.get("/search")
def search():
    query = request.args.get("q", "").strip()[:255]
    found = find_stores(current_services().engine, query, 50) if query else []
    ids = [f.store_id for f in found]
    if query in ids or len(ids) == 1:  # the store itself, or the one store the query names
        return redirect(url_for("console.store", store_id=query if query in ids else ids[0]))
    _, weekly = weekly_uptime()
    return render_template("search.html", query=query, found=[(f, weekly.get(f.store_id)) for f in found])
