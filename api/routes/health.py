"""Liveness and readiness probes (no API key)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import ServiceDep
from jobs.broker import broker_ping

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    database: str
    broker: str


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
def readyz(service: ServiceDep) -> JSONResponse:
    """The database (and the broker, unless embedded) answer."""
    try:
        with service.db.read() as session:
            session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:
        database = f"error: {type(exc).__name__}"
    if service.settings.embedded:
        broker = "embedded"
    else:
        problem = broker_ping(service.settings)
        broker = "ok" if problem is None else f"error: {problem}"
    ok = database == "ok" and broker in ("ok", "embedded")
    body = Ready(status="ok" if ok else "unavailable", database=database, broker=broker)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
