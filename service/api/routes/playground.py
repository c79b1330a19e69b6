"""GET /: the playground page; GET /static/{name}: its assets (service/api/static/, served as they
are: no build step, no CDN). The page only calls the public API (/v1/model, /v1/score,
/v1/feedback, /v1/users), so it shows exactly what a client gets."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
}
ASSET_NAME = re.compile(r"^[a-z0-9_-]{1,64}\.(html|js|css|svg)$")  # one flat name: no path can escape STATIC_DIR
HEADERS = {
    "Cache-Control": "no-cache",  # revalidate: a new image's page never runs an old script
    "X-Content-Type-Options": "nosniff",
    # own origin only: no inline script, no third party (the page calls this service's API)
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}

router = APIRouter(tags=["playground"], include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    """The playground: score two responses, say which you prefer, watch your weights move."""
    return asset_response("index.html")


@router.get("/static/{name}")
async def asset(name: str) -> FileResponse:
    return asset_response(name)


def asset_response(name: str) -> FileResponse:
    """The file ``name`` of service/api/static/ with its media type; 404 for anything else."""
    match = ASSET_NAME.match(name)
    path = STATIC_DIR / name
    if match is None or not path.is_file():
        raise HTTPException(404, f"no asset {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES[match.group(1)], headers=HEADERS)
