"""API keys, tenants and scopes.

With ``MICRO_AUTH=on`` every ``/v1/*`` and ``/get_reward`` request carries
``Authorization: Bearer <key>``. The service stores only the SHA-256 of each key (hex), with
the key's tenant and scopes, read from ``MICRO_API_KEYS`` and/or the file ``MICRO_API_KEYS_FILE``
in either format:

    acme:read+write:<sha256 hex>,acme-ro:read:<sha256 hex>          (entries by "," or newlines)
    [{"tenant": "acme", "scopes": ["read", "write"], "sha256": "<hex>"}, ...]      (JSON)

Scopes: ``read`` (score, get_reward, GET user, next-query, model card), ``write`` (feedback,
PUT context, DELETE user). A user id is namespaced by its caller's tenant before it reaches the
store (``<tenant>/<user>``; user ids cannot contain "/"), so one tenant can neither read, change
nor erase another's users. Health, metrics, the playground page and the API docs stay open.
Keys are never logged.

Header-less clients (OpenRLHF's HTTP client): with ``MICRO_URL_KEYS=true`` (and auth on),
``POST /k/<key>/get_reward`` takes the key from the path, read-only keys only: a URL is copied
into proxy and access logs, process arguments and experiment trackers, so a key that can change
users' state is refused there (403). Our own logs write the path as ``/k/<redacted>/...``
(service/core/logs.py). The alternative, which keeps keys out of URLs: a reverse proxy that adds
``Authorization: Bearer <key>``, reachable only from the training cluster (docs/integrations.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from service.core.config import Settings
from service.core.errors import Forbidden, Unauthorized

SCOPES = ("read", "write")
TENANT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_bearer = HTTPBearer(auto_error=False, description="An API key (MICRO_AUTH=on); see docs/api.md#authentication")


class AuthConfigError(ValueError):
    """MICRO_AUTH=on with missing or malformed keys; the message says what to set."""


@dataclass(frozen=True)
class Caller:
    tenant: str | None  # None: auth is off, user ids are used as they are
    scopes: frozenset[str]

    def user_key(self, user_id: str) -> str:
        """The id under which the store keeps this caller's user (namespaced by tenant)."""
        return user_id if self.tenant is None else f"{self.tenant}/{user_id}"


ANONYMOUS = Caller(None, frozenset(SCOPES))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_keys(text: str, source: str) -> dict[str, Caller]:
    """``text`` (either format above) -> {sha256 hex: caller}; AuthConfigError on a bad entry."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("["):
        try:
            items = json.loads(text)
            entries = [(i["tenant"], list(i["scopes"]), i["sha256"]) for i in items]
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthConfigError(f"{source}: expected a JSON list of {{tenant, scopes, sha256}}: {exc}") from None
    else:
        entries = []
        for n, raw in enumerate(re.split(r"[,\n]", text)):
            if not raw.strip() or raw.strip().startswith("#"):
                continue
            parts = raw.strip().split(":")
            if len(parts) != 3:
                raise AuthConfigError(f"{source}: entry {n + 1} is not tenant:scope[+scope]:sha256hex")
            entries.append((parts[0], parts[1].split("+"), parts[2]))
    keys: dict[str, Caller] = {}
    for tenant, scopes, digest in entries:
        if not isinstance(tenant, str) or not TENANT.match(tenant):
            raise AuthConfigError(f"{source}: tenant names are 1-64 of A-Z a-z 0-9 . _ -")
        if not scopes or any(s not in SCOPES for s in scopes):
            raise AuthConfigError(f"{source}: scopes of tenant {tenant} must be among {', '.join(SCOPES)}")
        if not isinstance(digest, str) or not SHA256_HEX.match(digest):
            raise AuthConfigError(
                f"{source}: tenant {tenant}: give the SHA-256 of the key as 64 hex digits, never the key itself "
                "(printf %s KEY | sha256sum)"
            )
        keys[digest.lower()] = Caller(tenant, frozenset(scopes))
    return keys


def load_keys(settings: Settings) -> dict[str, Caller] | None:
    """The key table, or None when auth is off. Fails fast when auth is on without keys."""
    if settings.url_keys and settings.auth == "off":
        raise AuthConfigError("MICRO_URL_KEYS=true takes keys from URLs, which needs MICRO_AUTH=on and MICRO_API_KEYS")
    if settings.auth == "off":
        return None
    keys: dict[str, Caller] = {}
    if settings.api_keys is not None:
        keys.update(parse_keys(settings.api_keys.get_secret_value(), "MICRO_API_KEYS"))
    if settings.api_keys_file is not None:
        try:
            text = Path(settings.api_keys_file).read_text()
        except OSError as exc:
            raise AuthConfigError(f"MICRO_API_KEYS_FILE={settings.api_keys_file}: cannot read it: {exc}") from None
        keys.update(parse_keys(text, "MICRO_API_KEYS_FILE"))
    if not keys:
        raise AuthConfigError(
            "MICRO_AUTH=on but no API keys are configured: set MICRO_API_KEYS (tenant:read+write:<sha256 of the "
            "key>, ...) or MICRO_API_KEYS_FILE, or MICRO_AUTH=off for local development"
        )
    return keys


def bearer_caller(keys: dict[str, Caller], authorization: str | None) -> Caller:
    """The caller of an ``Authorization: Bearer <key>`` header value; 401 when missing or unknown.
    The one key lookup of the header: the middleware calls it before any body is read, the
    route dependency again for the scope."""
    scheme, key = get_authorization_scheme_param(authorization)
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("missing API key: send Authorization: Bearer <key>")
    found = keys.get(hash_key(key))
    if found is None:
        raise Unauthorized("unknown API key")
    return found


def authorize(scope: str):
    """A dependency: the caller of this request, who must hold ``scope`` (401 / 403 otherwise)."""

    async def caller(  # async: no thread-pool hop (service/api/deps.py)
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Caller:
        keys: dict[str, Caller] | None = request.app.state.api_keys
        if keys is None:
            return ANONYMOUS
        found = bearer_caller(keys, request.headers.get("authorization"))  # credentials: for the OpenAPI scheme
        if scope not in found.scopes:
            raise Forbidden(f"this API key lacks the {scope!r} scope")
        return found

    return caller


URL_WRITE_REFUSED = (
    "an API key with the 'write' scope is refused in a URL: URLs are copied into proxy and access logs, process "
    "arguments and experiment trackers. Use a read-only key (tenant:read:<sha256>) in /k/<key>/get_reward, or send "
    "the key as Authorization: Bearer <key>"
)


async def url_key_caller(
    request: Request, api_key: Annotated[str, PathParam(description="A read-only API key (MICRO_URL_KEYS=true)")]
) -> Caller:
    """The caller of /k/{api_key}/...: a known key (401) with the read scope and without the write
    scope (403). Only routed when MICRO_URL_KEYS=true, which needs auth on."""
    return url_key_check(request.app.state.api_keys, api_key)


def url_key_check(keys: dict[str, Caller] | None, api_key: str) -> Caller:
    """The caller of a key in a URL (the middleware calls it before any body is read): 401 / 403 as above."""
    found = keys.get(hash_key(api_key)) if keys else None
    if found is None:
        raise Unauthorized("unknown API key in the URL")
    if "write" in found.scopes:
        raise Forbidden(URL_WRITE_REFUSED)
    if "read" not in found.scopes:
        raise Forbidden("this API key lacks the 'read' scope")
    return found


Reader = Annotated[Caller, Depends(authorize("read"))]
UrlKeyReader = Annotated[Caller, Depends(url_key_caller)]  # the read-only key in the path (header-less clients)
Writer = Annotated[Caller, Depends(authorize("write"))]
