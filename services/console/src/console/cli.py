"""`python -m console [--port N] [--gateway-url URL]`: serve the operator console on 127.0.0.1."""

from __future__ import annotations

import argparse

import uvicorn

from console.config import Settings
from console.main import create_app
from incidents_common.settings import SERVER_KEEP_ALIVE_SECONDS


def main(argv: list[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="python -m console", description="Serve the operator console")
    parser.add_argument("--host", default=defaults.host, help="interface to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=defaults.port, help="HTTP port (default %(default)s)")
    parser.add_argument("--gateway-url", default=defaults.gateway_url, help="the api-gateway (default %(default)s)")
    args = parser.parse_args(argv)
    settings = defaults.model_copy(update={"host": args.host, "port": args.port, "gateway_url": args.gateway_url})
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        timeout_keep_alive=SERVER_KEEP_ALIVE_SECONDS,
    )
    return 0
