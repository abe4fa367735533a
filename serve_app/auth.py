"""Bearer-token auth for everything that changes state."""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

bearer = HTTPBearer(auto_error=False, description="PHAROS_ADMIN_TOKEN")


async def require_admin(request: Request,
                        creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    # async on purpose: pure CPU, no I/O, so FastAPI runs it on the event loop instead of
    # paying a thread-pool hop per request (under Ray Serve, each hop costs ms at 200 req/s)
    settings = request.app.state.settings
    expected = settings.admin_token
    if not expected:
        if settings.insecure_local:
            return
        raise HTTPException(503, detail="ingestion is disabled: PHAROS_ADMIN_TOKEN is not "
                                        "configured on the server")
    given = creds.credentials if creds and creds.scheme.lower() == "bearer" else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, detail="invalid or missing bearer token",
                            headers={"WWW-Authenticate": 'Bearer realm="pharos"'})
