"""WebRTC signalling routes (`POST|GET /stream/sessions/{client_id}/webrtc`); see `routes`."""

from gateway.webrtc.routes import router

__all__ = ["router"]
