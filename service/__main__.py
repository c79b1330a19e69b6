"""``python -m service``: serve the API with uvicorn, configured by MICRO_* environment variables."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from service.config import Settings
from service.logs import log_config, setup_logging


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"invalid MICRO_* setting (field name = env var without MICRO_):\n{exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    from service.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=log_config(settings.log_level),
        access_log=False,  # the middleware logs each request with its id
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
