"""Gateway: the public API. REST sessions, SSE and WebSocket results, uploads, web UI."""
