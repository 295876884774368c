"""``create_app()``: the FastAPI application with its routers, limits and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.inputs import json_safe_errors
from api.metrics import registry_for
from api.routes import callbacks, health, jobs, plant, webhooks
from api.schemas import JobCreate
from api.service import Service
from api.ui import router as ui_router
from aps import __version__
from jobs.settings import Settings, get_settings


def _operation_id(route: APIRoute) -> str:
    """Stable ``{tag}-{name}`` operation ids for generated clients."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


async def _undecodable_body_is_422(request: Request, exc: Exception) -> Response:
    """A body FastAPI cannot decode (not UTF-8) is a 422 at ``body`` like broken JSON,
    not its undocumented 400 "There was an error parsing the body"."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        return JSONResponse(
            {
                "detail": [
                    {
                        "loc": ["body"],
                        "msg": f"the body is not UTF-8 JSON: {exc.__cause__.reason}",
                        "type": "json_invalid",
                    }
                ]
            },
            status_code=422,
        )
    return await http_exception_handler(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422, with inputs that JSON cannot hold (NaN, Infinity) shown as text:
    the default handler failed to encode them (a 500)."""
    assert isinstance(exc, RequestValidationError)
    detail = json_safe_errors(jsonable_encoder(exc.errors(), sqlalchemy_safe=True))
    return JSONResponse({"detail": detail}, status_code=422)


def tidy_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the generated schema say what the app does, where FastAPI's generator does not
    (found by Schemathesis, ``tests/service/test_schemathesis.py``):

    - an optional query or header parameter is sent by leaving it out; FastAPI also
      offers ``null``, which has no form on the wire (the text ``null`` is a 422);
    - errors are JSON on every route; FastAPI files them under the route's own media
      type (``text/html`` for the Gantt pages);
    - ``/metrics`` answers Prometheus text, not JSON;
    - every body can be too large: Starlette's 413, in plain text.
    """
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                options = parameter.get("schema", {}).get("anyOf")
                if parameter.get("in") in ("query", "header") and options:
                    kept = [o for o in options if o != {"type": "null"}]
                    if len(kept) == 1 and len(kept) < len(options):
                        parameter["schema"].pop("anyOf")
                        parameter["schema"].update(kept[0])
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if code[0] in "45" and "text/html" in content:
                    content.setdefault("application/json", content.pop("text/html"))
            if "requestBody" in operation:
                upload = "multipart/form-data" in operation["requestBody"].get("content", {})
                operation["responses"]["413"] = {
                    "description": "Request body over APS_MAX_BODY_BYTES (plain text)"
                    + (
                        ", or an upload unpacking past APS_MAX_UNPACKED_BYTES (JSON)"
                        if upload
                        else ""
                    )
                    + ".",
                    "content": {
                        "text/plain": {"schema": {"type": "string"}},
                        **(
                            {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Message"}
                                }
                            }
                            if upload
                            else {}
                        ),
                    },
                }
            if path == "/metrics":
                operation["responses"]["200"]["content"] = {
                    "text/plain": {"schema": {"type": "string"}}
                }
    return schema


def create_app(settings: Settings | None = None, *, background: bool = True) -> FastAPI:
    """Build the app; ``background=False`` runs no relay or pool (unit tests)."""
    settings = settings or get_settings()
    service = Service(settings, background=background)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="APS scheduling service",
        version=__version__,
        summary="Submit finite-capacity scheduling problems; poll or stream results.",
        description="Jobs are solved asynchronously by CP-SAT workers. Authenticate with "
        "the `X-API-Key` header. Statuses: queued, running, succeeded, infeasible, failed, "
        "cancelled (retrying between attempts after a lost worker); they never move back.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        max_body_size=settings.max_body_bytes,
    )
    app.state.service = service
    app.add_exception_handler(StarletteHTTPException, _undecodable_body_is_422)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(plant.router)
    app.include_router(callbacks.router)
    app.include_router(webhooks.router)
    app.include_router(ui_router)  # the planner page
    Instrumentator(registry=registry_for(service), excluded_handlers=["/metrics"]).instrument(
        app
    ).expose(app, endpoint="/metrics", include_in_schema=True, tags=["health"])

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            extra = JobCreate.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in extra.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components["JobCreate"] = extra
            app.openapi_schema = tidy_openapi(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
