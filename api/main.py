"""``create_app()``: the FastAPI application with its routers, limits and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from prometheus_fastapi_instrumentator import Instrumentator

from api.metrics import registry_for
from api.routes import health, jobs, plant, webhooks
from api.schemas import JobCreate
from api.service import Service
from api.ui import router as ui_router
from aps import __version__
from jobs.settings import Settings, get_settings


def _operation_id(route: APIRoute) -> str:
    """Stable ``{tag}-{name}`` operation ids for generated clients."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


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
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(plant.router)  # live plant (issue 6)
    app.include_router(plant.callbacks)
    app.include_router(webhooks.router)
    app.include_router(ui_router)  # the planner page (issue 9)
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
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
