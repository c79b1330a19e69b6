"""GET /docs (Swagger UI) from bundled assets: no CDN, so it works offline. The JS/CSS ship as
package data of ``fastapi-offline`` (swagger-ui-dist 5) and are served under /docs-assets; the
page itself is FastAPI's own HTML pointing at them. No /redoc: ReDoc's bundle fetches its logo
from its vendor's CDN, which an offline page must not do (the document is at /openapi.json)."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_PATH = "/docs-assets"

router = APIRouter(tags=["docs"], include_in_schema=False)


def _prefix(request: Request) -> str:
    """The app's mount point behind a proxy (root_path), so asset URLs resolve there too."""
    return request.scope.get("root_path", "").rstrip("/")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _prefix(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API docs",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
    )


def install_docs(app: FastAPI) -> None:
    """The page and its static assets (the app is built with docs_url=None, redoc_url=None)."""
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
