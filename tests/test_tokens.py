"""API tokens: made and shown once, hashed at rest, scoped, revocable; the report endpoints behind them."""

from __future__ import annotations

import hashlib

import pytest

from storemon.database import tokens

from .helpers import rows, run_jobs


def test_a_token_is_stored_only_as_its_hash_and_checked_with_its_scopes(engine):
    made = tokens.create(engine, "poller", ["ingest"])
    assert made.startswith("sm_") and len(made) > 40
    assert rows(engine, "SELECT name, token_hash, scopes FROM api_tokens") == [
        ("poller", hashlib.sha256(made.encode()).hexdigest(), "ingest")]
    owner = tokens.verify(engine, made)
    assert owner.name == "poller" and owner.allows("ingest") and not owner.allows("report")
    assert tokens.verify(engine, made + "x") is None and tokens.verify(engine, "") is None
    assert tokens.list_all(engine)[0].last_used_at is not None


def test_admin_allows_everything_and_revocation_is_at_once(engine):
    made = tokens.create(engine, "ops", ["admin"])
    assert all(tokens.verify(engine, made).allows(s) for s in tokens.SCOPES)
    tokens.revoke(engine, "ops")
    assert tokens.verify(engine, made) is None
    assert tokens.list_all(engine)[0].revoked_at is not None
    with pytest.raises(tokens.TokenError, match="no active token named 'ops'"):
        tokens.revoke(engine, "ops")


@pytest.mark.parametrize("name,scopes,message", [
    ("", ["report"], "a token name must be 1 to 100 characters"),
    ("x", ["root"], "scopes must be among ingest, report, admin; got root"),
    ("x", [], "scopes must be among"),
])
def test_bad_token_requests_are_named(engine, name, scopes, message):
    with pytest.raises(tokens.TokenError, match=message):
        tokens.create(engine, name, scopes)


def test_a_name_is_used_once_and_free_again_once_revoked(engine):
    old = tokens.create(engine, "a", ["report"])
    with pytest.raises(tokens.TokenError, match="a token named 'a' is in use; revoke it first"):
        tokens.create(engine, "a", ["admin"])
    tokens.revoke(engine, "a")
    new = tokens.create(engine, "a", ["admin"])
    assert tokens.verify(engine, old) is None and tokens.verify(engine, new).scopes == ("admin",)


@pytest.fixture
def guarded(make_app, pg):
    """An app whose report endpoints require a report token, and tokens of each kind."""
    app = make_app(require_report_token=True)
    made = {scope: tokens.create(pg, scope, [scope]) for scope in tokens.SCOPES}
    return app, made


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_report_endpoints_want_a_report_token_when_required(guarded, pg):
    from storemon.database.loader import load_directory
    from storemon.config import PROJECT_ROOT

    app, made = guarded
    client = app.test_client()
    load_directory(pg, PROJECT_ROOT / "seed" / "2023-01")
    for headers in ({}, bearer("sm_nope"), {"Authorization": "Basic b3BzOnMzY3JldA=="}):
        refused = client.post("/trigger_report", headers=headers)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].lower().startswith("bearer")
        assert refused.get_json()["error"].startswith("a valid API token is required")
    wrong = client.post("/trigger_report", headers=bearer(made["ingest"]))
    assert wrong.status_code == 403 and "needs the report scope" in wrong.get_json()["error"]
    for scope in ("report", "admin"):
        accepted = client.post("/trigger_report?columns=extended", headers=bearer(made[scope]))
        assert accepted.status_code == 202
    report_id = accepted.get_json()["report_id"]
    run_jobs(app)
    for path in (f"/get_report/{report_id}", f"/get_report?report_id={report_id}", "/reports", "/reports/latest"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=bearer(made["report"])).status_code == 200
    assert client.get("/health").status_code == 200  # open: platforms probe it
    tokens.revoke(pg, "report")
    assert client.get("/reports", headers=bearer(made["report"])).status_code == 401


def test_report_endpoints_stay_open_by_default(client):
    assert client.post("/trigger_report").status_code == 202


def test_the_dashboard_takes_an_admin_token_too(guarded):
    app, made = guarded
    client = app.test_client()
    assert client.get("/rq/0/data/queues.json", headers=bearer(made["admin"])).status_code == 200
    assert client.get("/rq/0/data/queues.json", headers=bearer(made["report"])).status_code == 401
    # a bearer token is never sent by a browser on its own: no same-origin check needed
    assert client.post("/rq/requeue/reports-test", headers=bearer(made["admin"])).status_code == 200


def test_rate_limits_answer_429_with_retry_after_then_recover(make_app, pg):
    import time

    app = make_app(trigger_rate_limit="2/2seconds", api_rate_limit="100/minute")
    client = app.test_client()
    made = {name: tokens.create(pg, name, ["report"]) for name in ("a", "b")}
    answers = [client.post("/trigger_report", headers=bearer(made["a"])) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    limited = answers[2]
    assert limited.get_json()["error"].startswith("rate limit exceeded: at most 2 per 2 second for this token")
    wait_s = int(limited.headers["Retry-After"])
    assert 1 <= wait_s <= 2
    # per token: another token, and a caller without one (counted by address), have their own budgets
    assert client.post("/trigger_report", headers=bearer(made["b"])).status_code == 202
    assert client.post("/trigger_report").status_code == 202
    # the other endpoints, and /health, are not held back by the trigger limit
    assert client.get("/reports", headers=bearer(made["a"])).status_code == 200
    assert client.get("/health").status_code == 200
    time.sleep(wait_s + 0.5)
    assert client.post("/trigger_report", headers=bearer(made["a"])).status_code == 202


def test_the_general_limit_counts_every_api_call_but_health(make_app):
    client = make_app(api_rate_limit="3/minute").test_client()
    assert [client.get("/reports").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert client.get("/get_report/nope").status_code == 429
    assert all(client.get("/health").status_code == 200 for _ in range(5))
    # behind a proxy (PROXY_HOPS=1), each client address forwarded is counted on its own
    proxied = make_app(api_rate_limit="3/minute", proxy_hops=1).test_client()
    for address in ("203.0.113.7", "203.0.113.8"):
        statuses = [proxied.get("/reports", headers={"X-Forwarded-For": address}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
