"""The API process's long-lived parts: database, relay and either the embedded pool or
the Celery publisher. Built in the app's lifespan, reachable through ``app.state``."""

from __future__ import annotations

import logging

from api.isolate import Isolated
from api.keys import ActiveCounts, KeyCache
from api.ratelimit import limiter_for
from jobs import migrate, repo
from jobs.broker import CeleryPublisher
from jobs.db import Database
from jobs.embedded import EmbeddedPool
from jobs.relay import Relay
from jobs.settings import DEV_API_KEY, Settings

log = logging.getLogger(__name__)


class Service:
    """Everything a request handler needs besides the request."""

    def __init__(self, settings: Settings, *, background: bool = True) -> None:
        self.settings = settings
        self.db = Database(settings.database_url, settings.db_pool_size, settings.db_max_overflow)
        self.limiter = limiter_for(
            settings.broker_url, settings.rate_limit_per_minute, settings.rate_limit_burst
        )
        #: API key lookups, reused for a second or so (a revocation waits that long)
        self.keys = KeyCache(settings.key_cache_seconds)
        #: active jobs per tenant, for the APS_MAX_ACTIVE_JOBS cap (recounted every second)
        self.active = ActiveCounts()
        #: uploads are compiled in child processes, under CPU-time and memory limits
        self.compiler = Isolated(
            settings.compile_processes,
            settings.compile_cpu_seconds,
            settings.compile_memory_bytes,
            preload=["api.uploads"],
        )
        self.background = background
        self.relay: Relay | None = None
        self._pool: object | None = None
        self._publisher: object | None = None

    def start(self) -> None:
        """Migrate, install bootstrap keys, start the relay (and the embedded pool)."""
        if self.settings.bootstrap:
            self.bootstrap()
        self._start_background()

    def bootstrap(self) -> None:
        """Migrate and install the configured keys (once per start; with several API
        processes the parent does it before they start)."""
        if self.settings.auto_migrate:
            migrate.upgrade(self.settings.database_url)
        with self.db.write() as session:
            if not self.settings.dev_key_allowed:
                # a database once started in development must not keep the public dev key
                # (production, PostgreSQL, or a broker: a shared service needs real keys)
                repo.revoke_key(session, DEV_API_KEY)
            configured = self.settings.bootstrap_keys()
            for tenant, key in configured:
                repo.ensure_key(session, tenant, key, label=repo.BOOTSTRAP)
                if repo.tenant_for_key(session, key) is None:
                    log.warning("APS_API_KEYS: tenant %r has a revoked key; it is refused", tenant)
            retired = repo.retire_bootstrap_keys(session, [key for _, key in configured])
            if retired:
                log.warning("revoked %d API key(s) no longer in APS_API_KEYS", retired)

    def _start_background(self) -> None:
        if not self.background:
            return
        if self.settings.embedded:
            pool = EmbeddedPool(self.db, self.settings)
            pool.warm_up()
            pool.recover()
            self._pool = pool
            self.relay = Relay(self.db, self.settings, pool.publish)
        elif self.settings.relay_in_api:
            publisher = CeleryPublisher(self.settings)
            self._publisher = publisher
            self.relay = Relay(self.db, self.settings, publisher.publish)
        if self.relay is not None:
            self.relay.start()

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    def stop(self) -> None:
        self.compiler.close()  # a compile in flight ends now, not when it is done
        if self.relay is not None:
            self.relay.stop()

        if isinstance(self._pool, EmbeddedPool):
            self._pool.shutdown(wait=True)

        if isinstance(self._publisher, CeleryPublisher):
            self._publisher.close()
        self.db.dispose()
