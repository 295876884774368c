"""One signed callback POST (Standard Webhooks 1.0 delivery) and its retry schedule.

:mod:`jobs.callbacks` sends every callback through :func:`send`: a job's end-of-job POST
(signed with ``APS_WEBHOOK_SECRET``) and the deliveries to a tenant's subscriptions
(signed with each URL's own secret), with the headers ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature``; the id is stable across retries so the
receiver can de-duplicate. Failures are retried from the outbox with growing, jittered
delays; 410 Gone stops at once; ``Retry-After`` on 429/502/503/504 is honoured. The
host is resolved again at send time, private addresses are refused (SSRF), and the
connection goes to the address that was checked (no DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpcore
import httpx

from jobs.settings import Settings

log = logging.getLogger(__name__)

THROTTLED = {429, 502, 503, 504}


class RefusedAddress(ValueError):
    """The callback host resolves to a loopback, private or link-local address."""


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


#: NAT64 (RFC 6052's well-known prefix and RFC 8215's local-use one): the IPv4 address is
#: the last 32 bits, and a NAT64 gateway connects to it.
NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to after translation: IPv4-mapped,
    NAT64, 6to4 (2002::/16) and Teredo (2001::/32, its server and client)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if any(address in net for net in NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def is_public(address: Address) -> bool:
    """Globally routable, also after translation: an IPv6 address that embeds an IPv4
    one (mapped, NAT64, 6to4, Teredo) is judged by every IPv4 address it leads to."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner:
            return all(a.is_global for a in inner)
    return address.is_global


def check_credentials(url: str) -> None:
    """Refuse ``user:pass@`` in a callback URL: credentials would sit in the database and
    in logs, and a receiver authenticates our POSTs by their signature instead."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise RefusedAddress(
            "callback URLs must not carry credentials (user:pass@); the receiver checks "
            "the webhook-signature header instead"
        )


def resolve(url: str, *, allow_private: bool = False) -> Address:
    """Resolve the callback host once; every answer must be public (unless allowed).

    Returns the address to connect to, so the check and the connection see the same
    answer (a second lookup could be rebound to an internal host: DNS rebinding).
    """
    check_credentials(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError) as exc:
        raise RefusedAddress(f"callback host {host!r} does not resolve: {exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise RefusedAddress(f"callback host {host!r} does not resolve")
    for address in addresses:
        if not allow_private and not is_public(address):
            raise RefusedAddress(
                f"callback host {host!r} resolves to the non-public address {address}"
            )
    return addresses[0]


def check_public(url: str) -> None:
    resolve(url)


class _PinnedBackend(httpcore.SyncBackend):
    """Connects to one fixed address whatever the URL's host (no second lookup)."""

    def __init__(self, address: Address) -> None:
        self.address = str(address)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return super().connect_tcp(self.address, port, timeout, local_address, socket_options)


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's transport on a connection pool that only reaches ``address``; the URL
    still gives the Host header and the TLS server name (SNI, certificate check)."""

    def __init__(self, address: Address) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_PinnedBackend(address),
        )


def post(
    url: str, *, content: str, headers: dict[str, str], timeout: float, allow_private: bool
) -> httpx.Response:
    """POST a callback to the address the host resolved to when it was checked.

    Raises ``RefusedAddress`` for non-public hosts (unless ``allow_private``). No proxy
    from the environment and no redirects: either could lead somewhere unchecked.
    """
    address = resolve(url, allow_private=allow_private)
    transport = _PinnedTransport(address)
    with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client:
        return client.post(url, content=content, headers=headers)


def sign(secret: str | None, msg_id: str, body: str) -> dict[str, str]:
    """The Standard Webhooks headers (no signature header without a secret)."""
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
    }
    if secret:
        from standardwebhooks import Webhook

        headers["webhook-signature"] = Webhook(secret).sign(msg_id, now, body)
    return headers


def retry_delay(settings: Settings, attempt: int, retry_after: str | None) -> float | None:
    """Seconds before attempt ``attempt + 1``; None when the schedule is exhausted."""
    if attempt > len(settings.callback_backoff_seconds):
        return None
    base = settings.callback_backoff_seconds[attempt - 1]
    if retry_after is not None and retry_after.isdigit():
        # honoured, up to a cap: a receiver must not park a delivery for years
        return max(base, min(float(retry_after), settings.callback_max_retry_after_seconds))
    return base * random.uniform(0.8, 1.2)


def send(
    settings: Settings, url: str, secret: str | None, msg_id: str, body: str
) -> tuple[int, str, str | None]:
    """One signed POST to a callback target: (status code or 0, outcome, Retry-After).

    The outcome is ``delivered``, ``http_<code>``, ``refused`` (a non-public address) or
    ``error_<exception>``; the caller records it and schedules any retry.
    """
    try:
        response = post(
            url,
            content=body,
            headers=sign(secret, msg_id, body),
            timeout=settings.callback_timeout_seconds,
            allow_private=settings.allow_private_callbacks,
        )
    except RefusedAddress as exc:
        log.warning("callback %s to %s refused: %s", msg_id, url, exc)
        return 0, "refused", None
    except httpx.HTTPError as exc:
        return 0, f"error_{type(exc).__name__}", None
    code = response.status_code
    retry_after = response.headers.get("retry-after") if code in THROTTLED else None
    return code, "delivered" if 200 <= code < 300 else f"http_{code}", retry_after
