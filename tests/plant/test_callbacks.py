"""Tenant callback URLs: signed schedule.published / order.late / job.* deliveries,
410 disables the URL, private targets are refused unless configured."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.plant.conftest import ClientFactory
from tests.plant.support import plant_state, post_event
from tests.plant.test_webhooks import event, load, small_problem
from tests.service.support import Receiver, headers, wait_until

OUT = "whsec_" + base64.b64encode(b"outbound-plant-secret-0123456789").decode()


def _bodies(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    out = []
    for hdrs, body, _ in list(receiver.calls):
        Webhook(secret).verify(body, hdrs)  # signed with the URL's own secret
        out.append(json.loads(body))
    return out


def test_callbacks_to_registered_urls(client_factory: ClientFactory) -> None:
    client = client_factory(allow_private_callbacks=True, webhook_secret=OUT)
    receiver = Receiver([200])
    gone = Receiver([410])
    try:
        made = client.post(
            "/v1/callbacks",
            json={"url": receiver.url, "events": ["schedule.published", "job.succeeded"]},
            headers=headers(),
        )
        assert made.status_code == 201, made.text
        secret = made.json()["secret"]
        assert (
            client.post("/v1/callbacks", json={"url": gone.url}, headers=headers()).status_code
            == 201
        )
        bad = client.post(
            "/v1/callbacks", json={"url": receiver.url, "events": ["nope"]}, headers=headers()
        )
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["body", "events"]
        load(client)
        wait_until(
            lambda: {"types": [b["type"] for b in _bodies(receiver, secret)]},
            lambda s: {"schedule.published", "job.succeeded"} <= set(s["types"]),
        )
        published = next(b for b in _bodies(receiver, secret) if b["type"] == "schedule.published")
        assert published["data"]["version"] == 1
        # an ordinary job's end reaches the tenant's URL too
        job = client.post(
            "/v1/jobs",
            json={"problem": small_problem(), "options": {"time_limit": 1}},
            headers=headers(),
        )
        assert job.status_code == 202
        job_id = job.json()["id"]
        wait_until(
            lambda: {"ids": [b["data"].get("id") for b in _bodies(receiver, secret)]},
            lambda s: job_id in s["ids"],
        )
        # 410 Gone disabled the second URL after its first delivery
        listed = client.get("/v1/callbacks", headers=headers()).json()
        disabled = [c for c in listed if c["url"] == gone.url]
        assert disabled[0]["disabled_at"] is not None
        # the first publication staged two events for it at once; both may be in flight
        sent = len(gone.calls)
        assert 1 <= sent <= 2
        assert (
            post_event(client, event("machine.down", machine="M1", **{"from": 1})).status_code
            == 202
        )
        wait_until(
            lambda: {"versions": [b["data"].get("version") for b in _bodies(receiver, secret)]},
            lambda s: 2 in s["versions"],
        )
        assert len(gone.calls) == sent  # nothing after the 410
        assert plant_state(client)["version"] >= 2
        # an order made late by an update is announced to a URL that wants order.late
        late = Receiver([200])
        try:
            sub = {"url": late.url, "events": ["order.late"]}
            assert client.post("/v1/callbacks", json=sub, headers=headers()).status_code == 201
            update = event("order.updated", order="O0", due=1)
            assert post_event(client, update).status_code == 202
            wait_until(lambda: {"calls": len(late.calls)}, lambda s: s["calls"] >= 1)
            body = json.loads(late.calls[0][1])
            assert body["type"] == "order.late"
            assert (body["data"]["order"], body["data"]["due"]) == ("O0", 1)
            assert body["data"]["completion"] > 1
        finally:
            late.close()
    finally:
        receiver.close()
        gone.close()


def test_private_callback_urls_refused(client_factory: ClientFactory) -> None:
    client = client_factory()
    answer = client.post(
        "/v1/callbacks", json={"url": "http://127.0.0.1:9/hook"}, headers=headers()
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "url"]


def test_each_url_has_its_own_signing_secret(client_factory: ClientFactory) -> None:
    """Tests that a registered URL gets its own whsec_ secret, returned once, which signs
    its deliveries (verified with the standardwebhooks library) and no other URL's, and
    that a rotated secret signs the next deliveries while the old one fails."""
    client = client_factory(allow_private_callbacks=True)  # no global APS_WEBHOOK_SECRET
    first, second = Receiver([200] * 20), Receiver([200] * 20)
    try:
        want = {"events": ["schedule.published"]}
        made = [
            client.post("/v1/callbacks", json={"url": r.url, **want}, headers=headers())
            for r in (first, second)
        ]
        assert [m.status_code for m in made] == [201, 201], [m.text for m in made]
        keys = [m.json()["secret"] for m in made]
        assert all(k.startswith("whsec_") for k in keys) and keys[0] != keys[1]
        listed = client.get("/v1/callbacks", headers=headers()).json()
        assert listed and all("secret" not in c for c in listed), "a secret is shown once"
        load(client)
        wait_until(
            lambda: {"calls": [len(first.calls), len(second.calls)]},
            lambda s: min(s["calls"]) >= 1,
        )
        for receiver, own, other in ((first, keys[0], keys[1]), (second, keys[1], keys[0])):
            hdrs, body, _ = receiver.calls[0]
            assert Webhook(own).verify(body, hdrs)["type"] == "schedule.published"
            with pytest.raises(WebhookVerificationError):
                Webhook(other).verify(body, hdrs)

        rotated = client.post(f"/v1/callbacks/{made[0].json()['id']}/secret", headers=headers())
        assert rotated.status_code == 200, rotated.text
        fresh = rotated.json()["secret"]
        assert fresh not in keys
        seen = len(first.calls)
        assert (
            post_event(client, event("machine.down", machine="M1", **{"from": 1})).status_code
            == 202
        )
        wait_until(lambda: {"calls": len(first.calls)}, lambda s: s["calls"] > seen)
        hdrs, body, _ = first.calls[-1]
        Webhook(fresh).verify(body, hdrs)
        with pytest.raises(WebhookVerificationError):
            Webhook(keys[0]).verify(body, hdrs)
        other_tenant = client.post(
            f"/v1/callbacks/{made[0].json()['id']}/secret", headers=headers("beta")
        )
        assert other_tenant.status_code == 404
    finally:
        first.close()
        second.close()
