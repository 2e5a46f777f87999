"""Webhook notifications: Standard Webhooks signatures, endpoints managed by the API and the
command line, one grouped notification per batch, a real receiver that verifies every
delivery with the reference library, retries with backoff through a receiver that is down,
slow and failing, reminders.

Calendar: 2023-01-23 is a Monday; the stores keep UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import text

from storemon.alerts import evaluation, signing
from storemon.database import tokens, webhooks

from .helpers import Loads, csv_body, rows, send, storemon, write_csv
from .services import Receiver, WorkerProcess, wait_for

MON = 0
WEST = [f"w{i:02d}" for i in range(20)]
EAST = [f"e{i:02d}" for i in range(30)]


@pytest.fixture
def made(pg):
    return {scope: tokens.create(pg, scope, [scope]) for scope in tokens.SCOPES}


@pytest.fixture
def fleet(pg, tmp_path):
    """Fifty stores open 09:00-17:00 UTC on Mondays, twenty in region:west, thirty in region:east."""
    from storemon.database.loader import load_directory

    load = Loads(pg, tmp_path)
    load(hours=[(s, MON, "09:00", "17:00") for s in WEST + EAST], zones=[(s, "UTC") for s in WEST + EAST])
    directory = tmp_path / "directory"
    directory.mkdir()
    write_csv(directory, "stores", ["store_id,name,groups", *(f"{s},Store {s},region:west" for s in WEST),
                                    *(f"{s},Store {s},region:east" for s in EAST)])
    load_directory(pg, directory)


def run_alerts(app) -> None:
    services = app.extensions["storemon"]
    SimpleWorker([services.alerts], connection=services.redis).work(burst=True)


def batch(client, token, status: dict[str, str], hhmm: str) -> None:
    body = csv_body("store_id,status,timestamp_utc",
                    *(f"{s},{st},2023-01-23 {hhmm}:00 UTC" for s, st in status.items()))
    assert send(client, token, body=body).status_code == 200


def add(client, token, **endpoint) -> dict:
    answer = client.post("/webhooks", json=endpoint, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_signatures_are_the_specifications_and_verify_with_its_library():
    # the test vector of the Standard Webhooks specification
    assert signing.signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                             b'{"test": 2432232314}') == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    secret, body = signing.new_secret(), b'{"type":"webhook.test"}'
    now = int(datetime.now(UTC).timestamp())
    assert Webhook(secret).verify(body, signing.headers(secret, "msg_1", now, body)) == {"type": "webhook.test"}
    with pytest.raises(WebhookVerificationError):  # the body changed on the way
        Webhook(secret).verify(body + b" ", signing.headers(secret, "msg_1", now, body))
    with pytest.raises(WebhookVerificationError):  # a replay, ten minutes late
        Webhook(secret).verify(body, signing.headers(secret, "msg_1", now - 600, body))
    for bad in ("secret", "whsec_not base64!", "whsec_" + "QUJD"):
        with pytest.raises(signing.BadSecret):
            signing.key_of(bad)


def test_the_api_adds_lists_shows_and_removes_endpoints(client, pg, made):
    admin = {"Authorization": f"Bearer {made['admin']}"}
    added = add(client, made["admin"], url="https://example.com/hook", kinds=["down"], groups=["region:west"],
                reminder_s=3600)
    assert added["secret"].startswith("whsec_") and len(signing.key_of(added["secret"])) == 32
    assert added | {"id": 0, "secret": "", "created_at": ""} == {
        "id": 0, "url": "https://example.com/hook", "secret": "", "kinds": ["down"], "store_ids": None,
        "groups": ["region:west"], "slack": False, "reminder_s": 3600, "created_at": ""}
    listed = client.get("/webhooks", headers=admin).get_json()["webhooks"]
    assert [e["id"] for e in listed] == [added["id"]] and listed[0]["secret"] == added["secret"][:10] + "…"
    assert client.get(f"/webhooks/{added['id']}", headers=admin).get_json()["url"] == "https://example.com/hook"
    assert client.get(f"/webhooks/{added['id']}/deliveries", headers=admin).get_json()["deliveries"] == []
    # an admin token only
    assert client.get("/webhooks", headers={"Authorization": f"Bearer {made['report']}"}).status_code == 403
    assert client.get("/webhooks").status_code == 401
    for bad in ({"url": "ftp://example.com"}, {"url": "https://example.com", "kinds": ["late"]},
                {"url": "https://example.com", "secret": "abc"}, {"url": "https://example.com", "groups": ["west"]},
                {"url": "https://example.com", "reminder_s": 5}, {"url": "https://example.com", "colour": "red"},
                {}, ["https://example.com"]):
        answer = client.post("/webhooks", json=bad, headers=admin)
        assert answer.status_code == 400 and answer.get_json()["error"], bad
    assert client.delete(f"/webhooks/{added['id']}", headers=admin).status_code == 204
    assert client.delete(f"/webhooks/{added['id']}", headers=admin).status_code == 404
    assert client.get(f"/webhooks/{added['id']}/deliveries", headers=admin).status_code == 404


def test_the_command_line_adds_lists_and_removes_endpoints(pg):
    secret = signing.new_secret()
    ran = storemon(pg, "webhook", "add", "https://example.com/hook", "--secret", secret, "--kind", "down",
                   "--kind", "no_data", "--group", "region:west", "--slack")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[1] == f"secret: {secret}"
    listed = storemon(pg, "webhook", "list").stdout
    assert "https://example.com/hook" in listed and "down,no_data" in listed and "slack" in listed
    webhook_id = ran.stdout.split()[1]
    assert storemon(pg, "webhook", "remove", webhook_id).returncode == 0
    assert storemon(pg, "webhook", "remove", webhook_id).returncode != 0
    bad = storemon(pg, "webhook", "add", "https://example.com/hook", "--secret", "whsec_abc")
    assert bad.returncode != 0 and "base64" in bad.stderr + bad.stdout


def test_a_batch_reaches_each_endpoint_as_one_notification(client, app, pg, made, fleet):
    """The ordering platform goes down: every store reports inactive in one batch. Each endpoint
    gets one notification of it, listing the stores it hears of; the next batch, all back up,
    one more each."""
    everyone, west = Receiver(), Receiver()
    try:
        for receiver, filters in ((everyone, {}), (west, {"groups": ["region:west"], "kinds": ["down"]})):
            made_endpoint = add(client, made["admin"], url=receiver.url, **filters)
            receiver.trust(made_endpoint["secret"])
        batch(client, made["ingest"], {s: "active" for s in WEST + EAST}, "10:00")
        batch(client, made["ingest"], {s: "inactive" for s in WEST + EAST}, "11:00")
        run_alerts(app)
        assert len(everyone.bodies()) == len(west.bodies()) == 1
        told = everyone.bodies()[0]
        assert told["type"] == "incidents.changed" and told["data"]["resolved"] == []
        downs = [i for i in told["data"]["opened"] if i["kind"] == "down"]
        assert sorted(i["store_id"] for i in downs) == sorted(WEST + EAST)
        assert {i["since"] for i in downs} == {"2023-01-23T11:00:00Z"}
        assert [i["kind"] for i in told["data"]["opened"] if i["kind"] != "down"] == ["poller_silent"]
        assert sorted(i["store_id"] for i in west.bodies()[0]["data"]["opened"]) == WEST
        batch(client, made["ingest"], {s: "active" for s in WEST + EAST}, "12:00")
        run_alerts(app)
        assert len(everyone.bodies()) == len(west.bodies()) == 2
        assert west.bodies()[1]["data"]["opened"] == [] and len(west.bodies()[1]["data"]["resolved"]) == 20
        # each delivery signed, and logged once delivered
        admin = {"Authorization": f"Bearer {made['admin']}"}
        log = client.get(f"/webhooks/{made_endpoint['id']}/deliveries", headers=admin).get_json()["deliveries"]
        assert [(d["status"], d["attempts"], d["last_status"], d["incidents"]) for d in log] == [
            ("delivered", 1, 204, 20), ("delivered", 1, 204, 20)]
        assert everyone.rejected == west.rejected == 0
        scraped = client.get("/metrics", headers=admin).get_data(as_text=True)
        assert "storemon_notifications_sent_total 4.0" in scraped
        assert 'storemon_open_incidents{kind="down"} 0.0' in scraped
        assert 'storemon_open_incidents{kind="poller_silent"} 1.0' in scraped
        assert "storemon_delivery_latency_seconds_count 4.0" in scraped
    finally:
        everyone.stop()
        west.stop()


def test_a_failing_receiver_delays_nobody_else(client, app, pg, made, fleet):
    healthy, failing = Receiver(), Receiver()
    failing.script = ["500"] * 10
    try:
        ids = {}
        for name, receiver in (("healthy", healthy), ("failing", failing)):
            made_endpoint = add(client, made["admin"], url=receiver.url, kinds=["down"])
            receiver.trust(made_endpoint["secret"])
            ids[name] = made_endpoint["id"]
        batch(client, made["ingest"], {"w00": "inactive"}, "10:00")
        run_alerts(app)  # (a burst worker runs no scheduler: the failing one's retry waits)
        assert len(healthy.bodies()) == 1 and failing.requests == 1
        [pending] = webhooks.log(pg, ids["failing"])
        assert (pending.status, pending.attempts, pending.last_status, pending.last_error) == (
            "pending", 1, 500, "answered 500")
        assert pending.next_attempt_at > pending.last_attempt_at
    finally:
        healthy.stop()
        failing.stop()


def test_a_slack_endpoint_gets_text_for_people(client, app, pg, made, fleet):
    receiver = Receiver()
    try:
        made_endpoint = add(client, made["admin"], url=receiver.url, slack=True, kinds=["down"])
        receiver.trust(made_endpoint["secret"])
        batch(client, made["ingest"], {"w00": "inactive", "w01": "inactive"}, "10:00")
        run_alerts(app)
        assert receiver.bodies() == [{"text": "storemon: 2 incident(s) opened, 0 resolved\n"
                                              "• opened: down — Store w00 (w00) since 2023-01-23 10:00:00 UTC\n"
                                              "• opened: down — Store w01 (w01) since 2023-01-23 10:00:00 UTC"}]
    finally:
        receiver.stop()


def test_reminders_list_what_stays_open_at_most_as_often_as_asked(client, app, pg, made, fleet, settings):
    add(client, made["admin"], url="http://127.0.0.1:9/never", kinds=["down"], reminder_s=600)
    batch(client, made["ingest"], {"w00": "inactive"}, "10:00")
    run_alerts(app)
    soon = datetime.now(UTC) + timedelta(minutes=5)
    assert evaluation.remind(pg, soon) == []
    [reminder] = evaluation.remind(pg, soon + timedelta(minutes=6))
    assert evaluation.remind(pg, soon + timedelta(minutes=7)) == []
    body = json.loads(webhooks.delivery(pg, reminder).body)
    assert body["type"] == "incidents.reminder"
    assert [(i["store_id"], i["kind"]) for i in body["data"]["open"]] == [("w00", "down")]


@pytest.mark.slow
def test_a_receiver_down_slow_and_failing_then_healthy_gets_the_notification_once(client, pg, made, fleet, settings,
                                                                                  tmp_path):
    """A real worker (with RQ's scheduler) delivers: refused, then past the timeout, then 500,
    then delivered, waiting 1, 2, 4... s between attempts; the receiver accepts it once."""
    receiver = Receiver(slow_s=2.5)
    receiver.stop()
    made_endpoint = add(client, made["admin"], url=receiver.url)
    receiver.trust(made_endpoint["secret"])
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, "RQ_QUEUE": settings.queue_prefix,
           "WEBHOOK_BACKOFF": "1", "WEBHOOK_TIMEOUT": "1"}
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        batch(client, made["ingest"], {"w00": "inactive"}, "10:00")
        delivery = wait_for(lambda: webhooks.log(pg, made_endpoint["id"]), 60, "the notification")[0]
        wait_for(lambda: webhooks.delivery(pg, delivery.id).attempts >= 1, 60, "the first attempt")
        receiver.script = ["slow", "500"]
        receiver.start()
        wait_for(lambda: webhooks.delivery(pg, delivery.id).status == "delivered", 90, "the delivery")
        final = webhooks.delivery(pg, delivery.id)
        assert final.attempts >= 4 and final.last_status == 204
        assert len(receiver.bodies()) == 1 and receiver.requests == 3 and receiver.rejected == 0
        assert receiver.accepted[0][0]["webhook-id"] == final.message_id
        assert rows(pg, "SELECT count(*) FROM deliveries") == [(1,)]
    finally:
        worker.stop()
        receiver.stop()


def test_retention_takes_resolved_incidents_and_settled_notifications_only(client, app, pg, made, fleet):
    from storemon.reports.retention import apply

    add(client, made["admin"], url="http://127.0.0.1:9/never", kinds=["down"])
    batch(client, made["ingest"], {"w00": "inactive", "w01": "inactive"}, "10:00")
    run_alerts(app)  # (the delivery fails once and waits for its next attempt: pending)
    batch(client, made["ingest"], {"w00": "active", "w01": "inactive"}, "11:00")
    with pg.begin() as conn:  # the first notification given up on
        conn.execute(text("UPDATE deliveries SET status = 'failed' WHERE id = (SELECT min(id) FROM deliveries)"))
    run_alerts(app)
    assert rows(pg, "SELECT kind, resolved_us IS NULL FROM incidents i JOIN stores s ON s.id = i.store"
                    " ORDER BY s.store_id") == [("down", False), ("down", True)]
    apply(pg, report_days=1, poll_days=0)  # (resolved just now by the wall clock, if years ago by the data's)
    assert rows(pg, "SELECT count(*) FROM incidents WHERE store != 0") == [(2,)]
    apply(pg, report_days=1, poll_days=0, now=datetime.now(UTC) + timedelta(days=2))
    assert rows(pg, "SELECT s.store_id FROM incidents i JOIN stores s ON s.id = i.store") == [("w01",)]
    assert rows(pg, "SELECT status FROM deliveries") == [("pending",)]


def test_a_malformed_answer_fails_the_attempt_and_a_2xx_cut_short_delivers():
    """A receiver answering something that is not HTTP, or a 2xx whose body stops short."""
    import socket
    import threading

    from storemon.alerts.delivery import attempt

    def serve(answer: bytes) -> str:
        server = socket.create_server(("127.0.0.1", 0))

        def once():
            conn, _ = server.accept()
            conn.recv(65536)
            conn.sendall(answer)
            conn.close()
            server.close()

        threading.Thread(target=once, daemon=True).start()
        return f"http://127.0.0.1:{server.getsockname()[1]}/hook"

    secret = signing.new_secret()
    garbled = attempt(serve(b"NOT HTTP AT ALL\r\n\r\n"), secret, "msg_1", b"{}", 2)
    assert not garbled.delivered and garbled.error.startswith("a malformed answer")
    short = attempt(serve(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a little"), secret, "msg_1", b"{}", 2)
    assert short.delivered and short.status == 200


def test_a_reminder_waits_its_interval_after_a_new_incident_is_told(client, app, pg, made, fleet):
    add(client, made["admin"], url="http://127.0.0.1:9/never", kinds=["down"], reminder_s=600)
    with pg.begin() as conn:  # reminded long ago, of incidents since resolved
        conn.execute(text("UPDATE webhooks SET reminded_at = :at"), {"at": datetime.now(UTC) - timedelta(days=3)})
    batch(client, made["ingest"], {"w00": "inactive"}, "10:00")
    run_alerts(app)
    assert evaluation.remind(pg, datetime.now(UTC) + timedelta(minutes=5)) == []
    assert len(evaluation.remind(pg, datetime.now(UTC) + timedelta(minutes=11))) == 1


def test_the_console_shows_webhooks_and_their_deliveries_to_an_admin_only(client, app, pg, made, fleet):
    receiver = Receiver()
    try:
        made_endpoint = add(client, made["admin"], url=receiver.url, kinds=["down"], groups=["region:west"])
        receiver.trust(made_endpoint["secret"])
        batch(client, made["ingest"], {"w00": "inactive"}, "10:00")
        run_alerts(app)
        page = client.get("/console/webhooks", headers={"Accept": "text/html",
                                                       "Authorization": f"Bearer {made['admin']}"})
        text_of = page.get_data(as_text=True)
        assert page.status_code == 200 and receiver.url in text_of and "Hears of down, of region:west" in text_of
        assert text_of.count('data-status="delivered"') == 1
        assert '<a href="/console/webhooks">Webhooks</a>' in text_of  # (in an admin's menu only)
        assert "/console/webhooks\">Webhooks" not in client.get("/console/incidents", headers={"Accept": "text/html"}
                                                                ).get_data(as_text=True)
        refused = client.get("/console/webhooks", headers={"Authorization": f"Bearer {made['report']}"})
        assert refused.status_code == 403
        admin = {"Authorization": f"Bearer {made['admin']}"}
        log = client.get(f"/webhooks/{made_endpoint['id']}/deliveries?body=true", headers=admin).get_json()
        assert log["deliveries"][0]["body"]["type"] == "incidents.changed"
        assert "body" not in client.get(f"/webhooks/{made_endpoint['id']}/deliveries", headers=admin).get_json()[
            "deliveries"][0]
        assert client.get(f"/webhooks/{made_endpoint['id']}/deliveries?body=true&limit=21", headers=admin
                          ).status_code == 400
    finally:
        receiver.stop()


@pytest.mark.slow
def test_redis_stopped_during_an_evaluation_loses_and_doubles_nothing(client, pg, made, fleet, monkeypatch):
    """The evaluation commits its incidents and their notification while Redis is down, so its
    delivery cannot be queued; Redis comes back empty. The clock's watch queues the late
    delivery, which arrives once; evaluating again opens nothing twice."""
    from rq import Queue

    from storemon.alerts import jobs as alert_jobs
    from storemon.reports import jobs

    from .services import OwnRedis

    receiver, own = Receiver(), OwnRedis()
    try:
        made_endpoint = add(client, made["admin"], url=receiver.url, kinds=["down"])
        receiver.trust(made_endpoint["secret"])
        batch(client, made["ingest"], {"w00": "inactive", "w01": "inactive"}, "10:00")
        own.start()
        monkeypatch.setenv("REDIS_URL", own.url)
        jobs.reset_engine()
        own.stop()
        assert alert_jobs.evaluate_incidents()["opened"] >= 2
        assert rows(pg, "SELECT status FROM deliveries") == [("pending",)]
        own.start()
        with pg.begin() as conn:  # a minute on: the delivery is late
            conn.execute(text("UPDATE deliveries SET next_attempt_at = next_attempt_at - interval '2 minutes'"))
        assert alert_jobs.watch()["queued"] == 1
        redis = jobs.redis_client(own.url)
        SimpleWorker([Queue(q.decode().removeprefix("rq:queue:"), connection=redis)
                      for q in redis.smembers("rq:queues")], connection=redis).work(burst=True)
        assert len(receiver.bodies()) == 1 and rows(pg, "SELECT status FROM deliveries") == [("delivered",)]
        before = rows(pg, "SELECT id, kind, opened_us FROM incidents ORDER BY id")
        assert alert_jobs.evaluate_incidents()["opened"] == 0
        assert alert_jobs.watch()["queued"] == 0
        assert rows(pg, "SELECT id, kind, opened_us FROM incidents ORDER BY id") == before
        assert len(receiver.bodies()) == 1
    finally:
        receiver.stop()
        own.remove()
        jobs.reset_engine()
