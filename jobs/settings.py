"""Service settings, read from ``APS_*`` environment variables (pydantic-settings).

One class serves the API, the workers and the relay so that values that must agree
(lease, time limits, broker visibility timeout) cannot drift apart.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import make_url

#: The development key used when no keys are configured in embedded development mode.
DEV_TENANT = "dev"
DEV_API_KEY = "aps-dev-key"

#: What the repository's own examples put where a secret belongs (docker/.env.example,
#: the READMEs): refused in production, whoever copied them.
PLACEHOLDER = re.compile(r"replace-with|change-?me|placeholder|your-(api-)?key|<random", re.I)


class Settings(BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="APS_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./aps.db"
    broker_url: str | None = Field(
        default=None, description="Redis URL; unset means the embedded in-process pool."
    )
    api_keys: str = Field(
        default="", description='Bootstrap keys as "tenant:key,tenant:key" (hashes are stored).'
    )
    auto_migrate: bool = True
    bootstrap: bool = Field(
        default=True,
        description="Migrate and install APS_API_KEYS at start (aps serve --workers N does "
        "it once in its parent and turns it off for the API processes).",
    )

    # The API processes.
    api_workers: int = Field(
        default=1, ge=1, le=64, description="API processes of `aps serve` (broker mode)."
    )
    db_pool_size: int = Field(default=20, ge=1, le=500, description="Connections per process.")
    db_max_overflow: int = Field(default=20, ge=0, le=500)
    key_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How long an API key lookup is reused; a revocation takes effect "
        "within this time.",
    )
    shutdown_grace_seconds: float = Field(
        default=3.0, gt=0, le=300, description="In-flight requests' time to finish on SIGTERM."
    )

    # Worker behaviour.
    embedded_workers: int = Field(default=1, ge=1, le=64)
    worker_concurrency: int = Field(default=1, ge=1, le=64)
    lease_seconds: float = Field(default=30.0, gt=0)
    heartbeat_seconds: float = Field(default=1.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    relay_interval_seconds: float = Field(default=0.2, gt=0)
    relay_in_api: bool = Field(
        default=False,
        description="Broker mode: run the outbox relay in the API process too (`aps relay` "
        "is its own process; the embedded default always runs it in the API).",
    )
    relay_in_worker: bool = Field(
        default=False, description="Run the outbox relay in each Celery worker's main process."
    )
    reaper_interval_seconds: float = Field(default=5.0, gt=0)
    requeue_after_seconds: float = Field(
        default=600.0, gt=0, description="Re-publish a job still queued this long after."
    )

    # Limits.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_operations: int = Field(
        default=50_000,
        ge=1,
        description="Operations per job or plant (a 450-order plant has about 5,000).",
    )
    max_horizon_ticks: int = Field(
        default=2_000_000,
        ge=1,
        description="Ticks from plan start to horizon end (about 3.8 years of minutes).",
    )
    max_unpacked_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="What an uploaded .zip/.xlsx may unpack to."
    )
    compile_processes: int = Field(
        default=2, ge=1, le=64, description="Uploads compiled at once (child processes)."
    )
    compile_cpu_seconds: float = Field(default=60.0, gt=0, description="CPU per compile.")
    compile_memory_bytes: int = Field(
        default=2 * 1024**3, ge=64 * 1024**2, description="Memory per compile."
    )
    max_time_limit: float = Field(default=300.0, gt=0)
    max_solver_workers: int = Field(default=8, ge=1)
    soft_time_limit_margin: float = Field(
        default=30.0, gt=0, description="Celery's soft limit: a job's time_limit plus this."
    )
    hard_time_limit_margin: float = Field(
        default=60.0, gt=0, description="Celery's hard limit (process killed): plus this."
    )
    default_time_limit: float = Field(default=10.0, gt=0)
    rate_limit_per_minute: int = Field(default=120, ge=1)
    rate_limit_burst: int = Field(default=30, ge=1)
    max_active_jobs: int = Field(default=100, ge=1)
    max_running_jobs: int = Field(default=4, ge=1)
    idempotency_ttl_seconds: float = Field(default=24 * 3600.0, gt=0)
    allow_private_callbacks: bool = False

    # Outbound end-of-job callbacks (Standard Webhooks signing when a secret is set).
    webhook_secret: str | None = Field(
        default=None, description="whsec_<base64> secret that signs callbacks."
    )
    callback_timeout_seconds: float = Field(default=15.0, gt=0)
    callback_backoff_seconds: list[float] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
        description="Delays before retries 2, 3, ... (jittered ±20 %); then give up.",
    )
    callback_max_retry_after_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="A receiver's Retry-After is honoured up to this many seconds.",
    )

    # The live plant: inbound ERP/MES webhooks and the reschedules they cause.
    webhook_secrets: str = Field(
        default="",
        description="Comma-separated whsec_ secrets that sign inbound ERP/MES webhooks; "
        "two during a rotation.",
    )
    plant_coalesce_seconds: float = Field(
        default=0.5,
        ge=0,
        le=60,
        description="Events arriving within this window are applied by one reschedule "
        "(a machine.down does not wait for it).",
    )

    @model_validator(mode="after")
    def _production_needs_real_keys(self) -> Settings:
        if self.environment == "production":
            pairs = parse_api_keys(self.api_keys)
            if not pairs:
                raise ValueError("APS_API_KEYS must be set when APS_ENVIRONMENT=production")
            if any(key == DEV_API_KEY or len(key) < 16 for _, key in pairs):
                raise ValueError(
                    "APS_API_KEYS holds the development key or a key shorter than 16 "
                    "characters; use `aps apikey create` or a random key in production"
                )
            if any(PLACEHOLDER.search(key) for _, key in pairs):
                raise ValueError(
                    "APS_API_KEYS holds a placeholder from the examples (e.g. "
                    "docker/.env.example); use `aps apikey create` or a random key"
                )
            password = make_url(self.database_url).password
            if password and PLACEHOLDER.search(str(password)):
                raise ValueError(
                    "APS_DATABASE_URL holds a placeholder password from the examples "
                    "(POSTGRES_PASSWORD in docker/.env.example); set a real one"
                )
        if self.hard_time_limit_margin <= self.soft_time_limit_margin:
            raise ValueError(
                "APS_HARD_TIME_LIMIT_MARGIN must exceed APS_SOFT_TIME_LIMIT_MARGIN: "
                "the soft limit lets the job fail cleanly before the process is killed"
            )
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError("APS_HEARTBEAT_SECONDS must be at most half of APS_LEASE_SECONDS")
        return self

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: the API process also runs the solves."""
        return not self.broker_url

    @property
    def dev_key_allowed(self) -> bool:
        """The development key works only in development, on the embedded SQLite default
        (``aps serve`` also binds it to loopback only). With PostgreSQL or Redis the
        service is shared: it needs real keys."""
        sqlite = make_url(self.database_url).get_backend_name() == "sqlite"
        return self.environment == "development" and sqlite and self.embedded

    @property
    def hard_time_limit(self) -> float:
        """Celery's hard limit for the longest allowed solve (the solver stops first)."""
        return self.max_time_limit + self.hard_time_limit_margin

    @property
    def visibility_timeout(self) -> int:
        """Redis redelivery timeout, above every hard limit; our reaper recovers first."""
        return int(max(3600.0, self.hard_time_limit + 300.0))

    def bootstrap_keys(self) -> list[tuple[str, str]]:
        """The configured ``(tenant, key)`` pairs, or the dev key in embedded development."""
        pairs = parse_api_keys(self.api_keys)
        if not pairs and self.dev_key_allowed:
            return [(DEV_TENANT, DEV_API_KEY)]
        return pairs


def parse_api_keys(text: str) -> list[tuple[str, str]]:
    """Parse ``"tenant:key,tenant:key"``; blank entries are ignored."""
    pairs: list[tuple[str, str]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        tenant, sep, key = item.partition(":")
        if not sep or not tenant.strip() or not key.strip():
            raise ValueError(f"APS_API_KEYS entry {item!r} is not of the form tenant:key")
        pairs.append((tenant.strip(), key.strip()))
    return pairs


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own ``Settings``)."""
    return Settings()


def current_settings() -> Settings:
    """The settings as the environment holds them now (not cached).

    For values looked up per request rather than per process (the live plant's inbound
    secrets and coalescing window): a changed environment applies without a new service.
    """
    return Settings()


# -- secrets in logs ------------------------------------------------------------------------

_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.I)
_WHSEC = re.compile(r"whsec_[A-Za-z0-9+/=]{8,}")


def mask(text: str) -> str:
    """``text`` with URL passwords and ``whsec_`` secrets replaced by ``***``."""
    return _WHSEC.sub("whsec_***", _URL_PASSWORD.sub(r"\1***@", text))


def mask_url(url: str) -> str:
    """A database or broker URL fit for a log line (its password hidden)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class MaskSecrets(logging.Filter):
    """A logging filter that masks URL passwords and webhook secrets in every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_secrets_in_logs() -> None:
    """Install :class:`MaskSecrets` on the root logger's handlers (and future records)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, MaskSecrets) for f in handler.filters):
            handler.addFilter(MaskSecrets())
