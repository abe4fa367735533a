"""The web console at ``/`` and the API docs at ``/docs``, both from files: the console's
own (``serve_app/console/``, plain JavaScript, no third-party code) and Swagger UI 5's
from the ``swagger-ui-py`` package (pinned in pyproject), so neither needs a CDN.

Every page carries a Content-Security-Policy that allows scripts from this origin only
(no inline script anywhere); the console talks to the same API with the same auth rules
(its admin token lives in the tab's sessionStorage, never in a cookie or a URL).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from serve_app.errors import NotStored

CONSOLE_DIR = Path(__file__).resolve().parent / "console"
CONSOLE_FILES = {"console.js", "console.css", "docs-init.js"}
SWAGGER_FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
# Swagger UI sets style attributes from its scripts: styles may be inline there, scripts not
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
SECURITY = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

router = APIRouter(include_in_schema=False)


def _page(path: Path, csp: str) -> FileResponse:
    return FileResponse(path, media_type="text/html",
                        headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache",
                                 **SECURITY})


def swagger_dir() -> Path:
    """Where swagger-ui-py keeps Swagger UI's files, found without importing the package
    (its ``__init__`` loads jinja2 and PyYAML, which the ingress has no use for)."""
    import importlib.util

    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise NotStored("the API docs' files are not installed (swagger-ui-py)")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "static"


@router.get("/")
def console_page():
    return _page(CONSOLE_DIR / "index.html", CSP)


@router.get("/console/{name}")
def console_asset(name: str):
    if name not in CONSOLE_FILES:
        raise NotStored("no such console file")
    return FileResponse(CONSOLE_DIR / name, headers={"Cache-Control": "no-cache", **SECURITY})


@router.get("/docs")
def docs_page():
    return _page(CONSOLE_DIR / "docs.html", DOCS_CSP)


@router.get("/docs-assets/{name}")
def docs_asset(name: str):
    if name not in SWAGGER_FILES:
        raise NotStored("no such docs file")
    return FileResponse(swagger_dir() / name,
                        headers={"Cache-Control": "public, max-age=86400", **SECURITY})
