"""Ingest: sources (cameras, browsers) -> JPEG frames on `sw.frames.<sid>`."""
