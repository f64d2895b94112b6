"""HTTP and WebSocket routers of the gateway, one module per concern."""
