"""Inbound ERP/MES events: ``POST /v1/webhooks/erp``, Standard Webhooks.

Order of checks, so that nothing of a rejected request is stored: API key (401), the
signature over ``id.timestamp.raw_body`` with each configured secret (401; 300 s
tolerance and constant-time comparison are ``standardwebhooks.Webhook.verify``'s), a
replayed ``webhook-id`` (the first response again, no second effect), the payload
(422 naming the field), the plant (404 when none is loaded) and its consistency (422).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from api.deps import ServiceDep, TenantDep
from api.inputs import check_json_text
from api.schemas import Message, Problem422
from api.service import Service
from aps.live.events import Invalid, Rejected, parse_event
from jobs.plant import store
from jobs.plant.options import inbound_secrets

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _verify(secrets: list[str], raw: bytes, headers: dict[str, str]) -> None:
    """Accept when any secret verifies (two during a rotation); else 401."""
    from standardwebhooks import Webhook

    if not secrets:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "no inbound webhook secret configured (APS_WEBHOOK_SECRETS or the plant's "
            "options.webhook_secrets): cannot verify the signature",
        )
    for secret in secrets:
        try:
            Webhook(secret).verify(raw, headers)
            return
        except Exception:  # WebhookVerificationError; a bad header format too
            continue
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "webhook signature verification failed (webhook-id, webhook-timestamp within "
        "300 s, webhook-signature)",
    )


def _handle(
    service: Service, tenant: str, webhook_id: str, raw: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any], bool]:
    with service.db.read() as session:
        plant = store.get_plant(session, tenant)
        secrets = inbound_secrets(plant)
    _verify(secrets, raw, headers)
    with service.db.read() as session:
        seen = store.find_event(session, tenant, webhook_id)
        if seen is not None:
            return seen.status_code, dict(seen.response), True
    check_json_text(raw, ["body"])
    try:
        envelope, data = parse_event(raw)
    except Invalid as exc:
        raise RequestValidationError(
            [{"loc": r.loc, "msg": r.msg, "type": "value_error"} for r in exc.items]
        ) from None
    if plant is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no plant loaded for this tenant")
    try:
        with service.db.write() as session:
            current = store.get_plant(session, tenant)
            if current is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no plant loaded for this tenant")
            code, body = store.accept_event(session, current, webhook_id, envelope, data)
            return code, body, False
    except Rejected as exc:
        raise RequestValidationError(
            [{"loc": exc.loc, "msg": exc.msg, "type": "value_error"}]
        ) from None
    except IntegrityError:  # the same webhook-id raced in: answer as the winner did
        with service.db.read() as session:
            seen = store.find_event(session, tenant, webhook_id)
        if seen is None:
            raise
        return seen.status_code, dict(seen.response), True


@router.post(
    "/erp",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        202: {
            "description": "Accepted (applied by the next reschedule); a replayed webhook-id "
            "gets its first answer again, with `Webhook-Replayed: true`.",
            "headers": {
                "Webhook-Replayed": {
                    "description": "`true` when this is the first answer to a replayed "
                    "webhook-id (no second effect).",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            },
        },
        200: {
            "description": "A stale event (older than a known one; not applied), or its "
            "replay, with `Webhook-Replayed: true`."
        },
        401: {"model": Message, "description": "Bad API key or webhook signature."},
        404: {"model": Message, "description": "No plant loaded for this tenant."},
        422: {"model": Problem422, "description": "Malformed or inconsistent event."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "example": {
                        "type": "machine.down",
                        "timestamp": "2026-03-03T08:00:00+01:00",
                        "data": {"machine": "CNC-1", "from": "2026-03-03T08:00:00+01:00"},
                    }
                }
            },
        }
    },
)
async def erp_webhook(
    request: Request,
    tenant: TenantDep,
    service: ServiceDep,
    webhook_id: Annotated[str | None, Header(alias="webhook-id", max_length=255)] = None,
    webhook_timestamp: Annotated[
        str | None, Header(alias="webhook-timestamp", max_length=20)
    ] = None,
    webhook_signature: Annotated[
        str | None, Header(alias="webhook-signature", max_length=2000)
    ] = None,
) -> JSONResponse:
    """One ERP/MES event (``type``, ``timestamp`` = when it occurred, ``data``).

    Types: machine.down, machine.up, operation.started, operation.completed,
    order.created, order.updated, order.cancelled, material.received, calendar.changed.
    Accepted events are applied by the next (coalesced) reschedule.
    """
    if not (webhook_id and webhook_timestamp and webhook_signature):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unsigned request: webhook-id, webhook-timestamp and webhook-signature are required",
        )
    raw = await request.body()
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": webhook_timestamp,
        "webhook-signature": webhook_signature,
    }
    code, body, replayed = await run_in_threadpool(
        _handle, service, tenant, webhook_id, raw, headers
    )
    if code == 202 and not replayed:
        service.wake_relay()
    return JSONResponse(
        body, status_code=code, headers={"Webhook-Replayed": "true"} if replayed else None
    )
