"""MJPEG preview of the frames the models saw (`GET /stream/sessions/{client_id}/preview.mjpg`). Placeholder."""

from fastapi import APIRouter

router = APIRouter()
