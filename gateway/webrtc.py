"""WebRTC signalling route (`POST /stream/sessions/{client_id}/webrtc`). Placeholder."""

from fastapi import APIRouter

router = APIRouter()
