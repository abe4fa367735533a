"""Bearer-token auth: the admin token for everything that changes state; the optional
read token (``PHAROS_READ_TOKEN``) for every read route when it is set (the admin token
is accepted there too). Tokens are compared in constant time, and both are always
compared, so the time does not tell which one a guess was near."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serve_app.errors import IngestionDisabled, Unauthorized

bearer = HTTPBearer(auto_error=False, description="PHAROS_ADMIN_TOKEN (writes); "
                                                  "PHAROS_READ_TOKEN or it (reads, when set)")
UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="pharos"'}


def _given(creds: HTTPAuthorizationCredentials | None) -> bytes:
    return (creds.credentials if creds and creds.scheme.lower() == "bearer" else "").encode()


async def require_admin(request: Request,
                        creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    # async on purpose: pure CPU, no I/O, so FastAPI runs it on the event loop instead of
    # paying a thread-pool hop per request (under Ray Serve, each hop costs ms at 200 req/s)
    settings = request.app.state.settings
    expected = settings.admin_token
    if not expected:
        if settings.insecure_local:
            return
        raise IngestionDisabled("ingestion is disabled: PHAROS_ADMIN_TOKEN is not "
                                "configured on the server")
    if not hmac.compare_digest(_given(creds), expected.encode()):
        raise Unauthorized("invalid or missing bearer token", UNAUTHORIZED)


async def require_read(request: Request,
                       creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    """Open unless ``PHAROS_READ_TOKEN`` is set; then the read token or the admin token."""
    settings = request.app.state.settings
    if not settings.read_token:
        return
    given = _given(creds)
    ok_read = hmac.compare_digest(given, settings.read_token.encode())
    ok_admin = bool(settings.admin_token) and hmac.compare_digest(
        given, settings.admin_token.encode())
    if not (ok_read or ok_admin):
        raise Unauthorized("this ingress needs a read token: send "
                           "Authorization: Bearer <PHAROS_READ_TOKEN>", UNAUTHORIZED)
