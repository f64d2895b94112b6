"""The composition root: `create_app(settings)` builds the FastAPI app.

No module-level app and nothing at import time: the runtime (NATS connection,
hubs, janitor) is built in the lifespan from the settings passed in, so tests
and `sightwire gateway` create as many independent apps as they need. Routers
are included in a fixed order and the web UI is mounted at `/` last, so that
it never shadows an API route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from gateway import preview, webrtc
from gateway.bodies import BodyLimit, upload_body_cap
from gateway.errors import document_errors, install_error_handlers
from gateway.limits import SessionQuota
from gateway.origin import OriginGuard
from gateway.routes import events, observability, sessions, streams, uploads
from gateway.runtime import GatewayRuntime
from gateway.settings import GatewaySettings
from gateway.webrtc import video as camera_video

STATIC_DIR = Path(__file__).parent / "static"
DESCRIPTION = """Real-time detection and distance for camera and browser streams.

Create a session, push frames (or name a camera), read results over SSE or
WebSocket. Session endpoints need the session token: `Authorization: Bearer
<token>` or `?token=<token>`. Errors always have the shape
`{"type": "error", "error", "error_code", "frame_id", "timestamp"}`.
"""


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with GatewayRuntime(settings) as runtime:
            app.state.runtime = runtime
            try:
                yield
            finally:
                app.state.runtime = None

    app = FastAPI(title="Sightwire", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.runtime = None
    install_error_handlers(app)
    app.state.session_quota = SessionQuota(
        settings.sessions_per_address_per_min,
        settings.sessions_per_api_key_per_min,
        settings.sessions_total_per_min,
        settings.limiter_max_clients,
    )
    app.add_middleware(
        OriginGuard,
        allowed=settings.cors_origins,
        public_base_url=settings.public_base_url,
        hostnames=settings.public_hostnames,
    )
    app.add_middleware(
        BodyLimit, request_cap=settings.max_request_bytes, upload_cap=upload_body_cap(settings.max_upload_bytes)
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "Last-Event-ID", "X-Frame-Id"],
        )
    for router in (
        sessions.router,
        uploads.router,
        observability.router,
        streams.router,
        webrtc.router,
        camera_video.router,
        preview.router,
        events.router,
    ):
        app.include_router(router)
    if STATIC_DIR.is_dir():
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    document_errors(app)
    return app
