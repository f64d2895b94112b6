"""With NATS gone, requests that need it answer 503 UNAVAILABLE with Retry-After, never 500 (issue 13)."""

from __future__ import annotations

from shared.natsserver import EmbeddedNatsServer
from tests.support.gateway_app import auth, gateway_settings, running_gateway


async def test_token_lookup_and_session_creation_answer_503_without_nats(nats_server: EmbeddedNatsServer) -> None:
    settings = gateway_settings(nats_server.url, drain_timeout_s=1)
    async with running_gateway(settings) as gw:
        session = await gw.create_session()
        assert nats_server.proc is not None
        nats_server.proc.kill()  # kill -9: no goodbye to the clients
        await nats_server.proc.wait()
        stats = await gw.client.get(f"/stream/sessions/{session['client_id']}/stats", headers=auth(session["token"]))
        created = await gw.client.post("/stream/sessions")
        for response in (stats, created):
            assert response.status_code == 503, response.text
            assert response.json()["error_code"] == "UNAVAILABLE"
            assert int(response.headers["Retry-After"]) >= 1
