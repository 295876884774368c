"""How a plant is solved and repaired, and which secrets sign its inbound webhooks.

:class:`PlantOptions` is stored with the plant (``plants.options``) and is also what
``PUT /v1/plant`` accepts as ``options`` (the API checks the server maxima).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from standardwebhooks import Webhook

from jobs.settings import current_settings
from jobs.tables import Plant


class PlantOptions(BaseModel):
    """How the plant is solved and repaired (server maxima are checked by the API)."""

    model_config = ConfigDict(extra="forbid")

    time_limit: float = Field(default=3.0, gt=0, description="Seconds for the initial solve.")
    reschedule_time_limit: float = Field(
        default=3.0, gt=0, description="Seconds for one reschedule (greedy + CP-SAT)."
    )
    workers: int = Field(default=1, ge=1, le=64)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    webhook_secrets: list[str] | None = Field(
        default=None,
        max_length=2,
        description="whsec_ secrets for inbound webhooks of this tenant (overrides "
        "APS_WEBHOOK_SECRETS); never returned.",
    )

    @field_validator("webhook_secrets")
    @classmethod
    def _secrets(cls, value: list[str] | None) -> list[str] | None:
        for secret in value or ():
            try:
                Webhook(secret)
            except Exception as exc:  # the library raises plain Exceptions
                raise ValueError(f"not a whsec_<base64> secret: {exc}") from None
        return value


def stored_options(plant: Plant) -> PlantOptions:
    """The plant's options as stored (written through :class:`PlantOptions`)."""
    return PlantOptions.model_validate(plant.options)


def run_budget(options: PlantOptions) -> float:
    """Time limit announced to Celery (soft limit = this + 30 s): two solves and slack."""
    return 2 * options.time_limit + 2 * options.reschedule_time_limit


def inbound_secrets(plant: Plant | None) -> list[str]:
    """The tenant's own secrets (plant options) or ``APS_WEBHOOK_SECRETS``."""
    own = (plant.options or {}).get("webhook_secrets") if plant is not None else None
    if own:
        return [str(s) for s in own]
    return [s.strip() for s in current_settings().webhook_secrets.split(",") if s.strip()]
