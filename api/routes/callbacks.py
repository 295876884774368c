"""The tenant's callback URLs: register, list, rotate a secret, delete.

Each URL receives signed ``schedule.published``, ``order.late`` and ``job.*`` POSTs
(:mod:`jobs.callbacks`).
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Response, status

from api.deps import ERRORS, ServiceDep, TenantDep, clean_body
from api.inputs import check_callback_url
from api.schemas import (
    CallbackCreate,
    CallbackCreated,
    CallbackPublic,
    CallbackSecret,
    Message,
)
from jobs import callbacks as deliveries

router = APIRouter(prefix="/v1/callbacks", tags=["callbacks"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CallbackCreated,
    responses=ERRORS,
    dependencies=[Depends(clean_body)],
)
def create_callback(
    body: CallbackCreate, tenant: TenantDep, service: ServiceDep
) -> CallbackCreated:
    """Register a URL for signed ``schedule.published``, ``job.*`` and ``order.late`` POSTs.

    Each URL gets its own signing secret, returned once in this answer."""
    url = str(body.url)
    check_callback_url(url, service.settings, ["body", "url"])
    with service.db.write() as session:
        sub = deliveries.add_subscription(session, tenant, url, sorted(set(body.events)))
        return CallbackCreated.model_validate(sub, from_attributes=True)


@router.post(
    "/{callback_id}/secret",
    response_model=CallbackSecret,
    responses={**ERRORS, 404: {"model": Message, "description": "No such callback."}},
)
def rotate_callback_secret(
    callback_id: UUID, tenant: TenantDep, service: ServiceDep
) -> CallbackSecret:
    """A new signing secret for the URL (a lost or leaked one is replaced, not shown)."""
    with service.db.write() as session:
        secret = deliveries.rotate_secret(session, tenant, str(callback_id))
    if secret is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such callback")
    return CallbackSecret(id=str(callback_id), secret=secret)


@router.get("", response_model=list[CallbackPublic], responses=ERRORS)
def read_callbacks(tenant: TenantDep, service: ServiceDep) -> list[CallbackPublic]:
    """The tenant's callback URLs (a 410 from a receiver disables its URL)."""
    with service.db.read() as session:
        return [
            CallbackPublic.model_validate(s, from_attributes=True)
            for s in deliveries.subscriptions(session, tenant)
        ]


@router.delete(
    "/{callback_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**ERRORS, 404: {"model": Message, "description": "No such callback."}},
)
def delete_callback(callback_id: UUID, tenant: TenantDep, service: ServiceDep) -> Response:
    with service.db.write() as session:
        for sub in deliveries.subscriptions(session, tenant):
            if sub.id == str(callback_id):
                session.delete(sub)
                return Response(status_code=status.HTTP_204_NO_CONTENT)
    raise HTTPException(status.HTTP_404_NOT_FOUND, "no such callback")
