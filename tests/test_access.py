"""Access, deny by default (storemon/web/access.py): every route but the public ones wants
credentials, every route but the unlimited ones counts against a rate limit, and failed
authentications are limited on every credentialed route, the console's sign-in included."""

from __future__ import annotations

import base64
import re
import time

from flask import Blueprint

from storemon.database import tokens
from storemon.web.access import PUBLIC
from storemon.web.limits import UNLIMITED

SIGNIN = re.compile(r"/signin(\?|$)")


def routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, a path it answers) for every rule of the app."""
    found = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<[^>]+>", "x", re.sub(r"<int:[^>]+>", "0", rule.rule))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, path))
    return found


def csrf_of(client) -> str:
    client.get("/signin")
    with client.session_transaction() as session:
        return session["csrf"]


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_every_route_but_the_public_ones_wants_credentials_when_tokens_are_required(make_app):
    app = make_app(require_report_token=True)
    client = app.test_client()
    csrf = csrf_of(client)
    checked = set()
    for endpoint, method, path in routes(app):
        if endpoint in PUBLIC:
            continue
        answer = client.open(path, method=method, data={"csrf": csrf} if method == "POST" else None)
        if answer.status_code == 308:  # routing adds a slash: nothing of the route ran yet
            answer = client.open(answer.headers["Location"], method=method)
        if endpoint.startswith("console."):  # a person is sent to sign in: the console's form of 401
            assert answer.status_code == 302 and SIGNIN.search(answer.headers["Location"]), (endpoint, method)
        else:
            assert answer.status_code == 401 and answer.headers["WWW-Authenticate"], (endpoint, method, answer.data)
        checked.add(endpoint.split(".")[0])
    assert checked >= {"api", "stores", "console", "ingest", "metrics", "rq_dashboard"}
    # and the public ones answer without any
    for path in ("/health", "/openapi.json", "/docs/", "/signin"):
        assert client.get(path).status_code == 200, path


def test_a_route_nobody_gave_an_access_rule_is_closed(make_app):
    app = make_app()  # even with the report endpoints open
    extra = Blueprint("extra", __name__)
    extra.add_url_rule("/extra", "page", lambda: "secret")
    app.register_blueprint(extra)
    answer = app.test_client().get("/extra")
    assert answer.status_code == 401 and "no access rule" in answer.get_json()["error"]


def test_every_route_but_the_unlimited_ones_counts_against_a_rate_limit(make_app, pg):
    app = make_app(api_rate_limit="1/minute", trigger_rate_limit="1/minute")
    admin = tokens.create(pg, "admin", ["admin"])
    limited = set()
    for number, (endpoint, method, path) in enumerate(routes(app)):
        if endpoint.startswith("rq_dashboard."):  # behind its own login, not limited (test_tokens.py)
            continue
        client = app.test_client()
        # a client address of its own for each route: each has the whole budget to spend
        environ = {"REMOTE_ADDR": f"10.0.{number // 250}.{number % 250 + 1}"}
        for _ in range(2):
            answer = client.open(path, method=method, environ_base=environ, headers=bearer(admin))
        if endpoint in UNLIMITED:
            assert answer.status_code != 429, (endpoint, method)
        else:
            assert answer.status_code == 429 and answer.headers["Retry-After"], (endpoint, method, answer.status_code)
            limited.add(endpoint)
    assert {"api.trigger_report", "api.get_report", "stores.timeline", "ingest.polls", "console.fleet"} <= limited


def test_guessing_the_dashboard_login_is_answered_429_then_even_the_right_one(make_app, pg):
    app = make_app(auth_failure_limit="3/minute")
    client = app.test_client()
    admin = tokens.create(pg, "admin", ["admin"])
    guesses = [client.get(path, headers=basic("ops", f"guess{n}")).status_code
               for n, path in enumerate(["/rq/", "/metrics", "/rq/0/data/queues.json"])]
    assert guesses == [401, 401, 401]
    refused = client.get("/rq/", headers=basic("ops", "s3cret"))
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "too many failed authentications" in refused.get_json()["error"]
    assert client.get("/metrics", headers=bearer(admin)).status_code == 429  # the client, whatever it presents
    # another address is not held back by this one's failures ...
    elsewhere = {"REMOTE_ADDR": "198.51.100.9"}
    assert client.get("/rq/", headers=basic("ops", "s3cret"), environ_base=elsewhere).status_code == 200
    assert client.get("/metrics", headers=bearer(admin), environ_base=elsewhere).status_code == 200
    assert client.get("/health").status_code == 200  # and no credentials, no count
    # ... but a user name guessed from many addresses is, past ten times the limit
    for n in range(9):
        many = {"REMOTE_ADDR": f"203.0.113.{n + 1}"}
        assert [client.get("/rq/", headers=basic("ops", "nope"), environ_base=many).status_code
                for _ in range(3)] == [401] * 3
    assert client.get("/rq/", headers=basic("ops", "s3cret"), environ_base=elsewhere).status_code == 429
    assert client.get("/metrics", headers=bearer(admin), environ_base=elsewhere).status_code == 200


def test_guessed_tokens_are_limited_per_client_and_the_count_forgets(make_app, pg):
    app = make_app(require_report_token=True, auth_failure_limit="2/2second")
    client = app.test_client()
    good = tokens.create(pg, "ops", ["report"])
    assert client.get("/reports", headers=bearer(good)).status_code == 200
    assert [client.get("/reports", headers=bearer(f"sm_guess{n}")).status_code for n in range(2)] == [401, 401]
    assert client.get("/reports", headers=bearer(good)).status_code == 429
    assert client.get("/reports").status_code == 401  # no credentials: nothing to refuse early
    time.sleep(2.5)
    assert client.get("/reports", headers=bearer(good)).status_code == 200
    # a valid token lacking the scope is no guess: it never counts
    ingest = tokens.create(pg, "loader", ["ingest"])
    assert [client.get("/reports", headers=bearer(ingest)).status_code for _ in range(4)] == [403] * 4


def test_failed_console_sign_ins_are_limited_and_a_good_one_is_not(make_app, pg):
    app = make_app(require_report_token=True, auth_failure_limit="3/minute")
    good = tokens.create(pg, "ops", ["report"])
    person = app.test_client()
    person.environ_base["REMOTE_ADDR"] = "192.0.2.1"
    assert person.post("/signin", data={"token": good, "csrf": csrf_of(person)}).status_code == 302
    guesser = app.test_client()
    csrf = csrf_of(guesser)
    answers = [guesser.post("/signin", data={"token": f"sm_guess{n}", "csrf": csrf}) for n in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 401]
    refused = guesser.post("/signin", data={"token": good, "csrf": csrf})
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    again = app.test_client()
    again.environ_base["REMOTE_ADDR"] = "192.0.2.1"
    assert again.post("/signin", data={"token": good, "csrf": csrf_of(again)}).status_code == 302


def test_the_dashboard_when_off_says_how_to_turn_it_on(make_app, pg):
    """To anyone (a browser would otherwise ask for a login that cannot exist): it holds no data."""
    client = make_app(dashboard_user=None, dashboard_password=None).test_client()
    for path in ("/rq", "/rq/", "/rq/0/data/queues.json"):
        answer = client.get(path, follow_redirects=True)
        assert answer.status_code == 404 and "WWW-Authenticate" not in answer.headers
        assert "set DASHBOARD_USER and DASHBOARD_PASSWORD" in answer.get_json()["error"]
