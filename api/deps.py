"""Annotated dependencies: the service, and the tenant behind the API key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from api.inputs import check_json_text
from api.ratelimit import retry_after_header
from api.schemas import Message, Problem422
from api.service import Service
from jobs import repo

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A tenant's API key; only its SHA-256 is stored on the server.",
)


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def _lookup(service: Service, key: str) -> str | None:
    with service.db.read() as session:
        return repo.tenant_for_key(session, key)


async def current_tenant(
    service: ServiceDep, key: Annotated[str | None, Security(api_key_header)]
) -> str:
    """401 (not FastAPI's older 403) for a missing, unknown or revoked key.

    The lookup is cached for ``APS_KEY_CACHE_SECONDS``; a miss goes to the database in a
    worker thread, never on the event loop."""
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send it in the X-API-Key header",
            headers={"WWW-Authenticate": "APIKey"},
        )
    digest = repo.hash_key(key)
    hit, tenant = service.keys.get(digest)
    if not hit:
        tenant = await run_in_threadpool(_lookup, service, key)
        service.keys.put(digest, tenant)
    if tenant is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked API key",
            headers={"WWW-Authenticate": "APIKey"},
        )
    return tenant


TenantDep = Annotated[str, Depends(current_tenant)]


async def clean_body(request: Request, tenant: TenantDep) -> None:
    """Route dependency: NaN/Infinity or U+0000 in a body FastAPI parses itself is a 422
    naming the field (:func:`api.inputs.check_json_text`), after the key is checked."""
    check_json_text(await request.body(), ["body"])


def rate_limited(tenant: TenantDep, service: ServiceDep) -> str:
    """The tenant, after taking a token from its bucket: for requests that start a solve
    (a submission, a plant load, a reschedule, a what-if repair); 429 when it is empty."""
    wait = service.limiter.take(tenant)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {service.settings.rate_limit_per_minute} solve requests per "
            "minute exceeded (APS_RATE_LIMIT_PER_MINUTE)",
            headers={"Retry-After": retry_after_header(wait)},
        )
    return tenant


#: The tenant of a request that starts a solve (rate limited).
SolvingTenant = Annotated[str, Depends(rate_limited)]
THROTTLED = {"model": Message, "description": "Rate limit; see Retry-After."}
#: The error answers every authenticated route documents.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "Missing, unknown or revoked API key."},
    422: {"model": Problem422, "description": "Invalid input; `loc` names the field."},
}
