"""A small typed async client of the Sightwire API (httpx), for scripts, benchmarks and tests.

    async with SightwireClient("http://127.0.0.1:8080") as sw:
        session = await sw.create_session(source={"type": "rtsp", "url": "rtsp://cam/stream"},
                                          lines=[{"name": "gate", "a": [0.5, 0], "b": [0.5, 1]}])
        async for message in session.stream():          # results and events; resumes by itself
            if message.data.get("type") == "event":
                print(message.data["event"]["kind"])

`stream()` reconnects after a dropped connection with `Last-Event-ID`, so nothing retained is
missed; `events()` pages through the durable event log (`after=<event id>`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx


class SightwireError(Exception):
    """An API error: HTTP status plus the body's `error_code` and `error`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One SSE message: its `id:` (the resume point), `event:` name and JSON data."""

    id: str | None
    event: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[dict[str, Any]]
    next: str | None
    has_more: bool


@dataclass
class Session:
    """A created session: its id, token and endpoints, and the calls that need them."""

    http: httpx.AsyncClient
    client_id: str
    token: str
    info: dict[str, Any] = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.info.get("config", {}))

    async def patch_config(self, **changes: Any) -> dict[str, Any]:
        """Change config fields (zones, lines, webhooks replace their lists); returns the new config."""
        body = await _json(await self.http.patch(self._path("config"), json=changes, headers=self.headers))
        self.info["config"] = body["config"]
        return dict(body["config"])

    async def upload(self, jpeg: bytes, frame_id: str | None = None) -> dict[str, Any]:
        headers = {**self.headers, "Content-Type": "image/jpeg", **({"X-Frame-Id": frame_id} if frame_id else {})}
        return await _json(await self.http.post(f"/stream/process/{self.client_id}", content=jpeg, headers=headers))

    async def events(self, *, after: str | None = None, kinds: list[str] | None = None, limit: int = 100) -> EventPage:
        """One page of the session's events, oldest first."""
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        if kinds:
            params["kinds"] = ",".join(kinds)
        body = await _json(await self.http.get(self._path("events"), params=params, headers=self.headers))
        return EventPage(list(body["events"]), body.get("next"), bool(body.get("has_more")))

    async def all_events(
        self, *, after: str | None = None, kinds: list[str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every retained event after `after`, page by page."""
        while True:
            page = await self.events(after=after, kinds=kinds, limit=500)
            for event in page.events:
                yield event
            if not page.has_more or page.next is None:
                return
            after = page.next

    async def counts(self) -> dict[str, Any]:
        return await _json(await self.http.get(self._path("counts"), headers=self.headers))

    async def stats(self) -> dict[str, Any]:
        return await _json(await self.http.get(self._path("stats"), headers=self.headers))

    async def stream(
        self, *, last_event_id: str | None = None, retries: int = 5, retry_delay_s: float = 1.0
    ) -> AsyncIterator[StreamMessage]:
        """Results and events as they come; after a dropped connection, resume with `Last-Event-ID`.

        Gives up after `retries` reconnects in a row without a message (raises the last error).
        """
        failures = 0
        while True:
            headers = {**self.headers, "Accept": "text/event-stream"}
            if last_event_id is not None:
                headers["Last-Event-ID"] = last_event_id
            try:
                async with self.http.stream("GET", f"/stream/events/{self.client_id}", headers=headers) as response:
                    if response.status_code != 200:
                        await response.aread()
                        await _json(response)
                    async for message in parse_sse(response.aiter_lines()):
                        failures = 0
                        last_event_id = message.id if message.id is not None else last_event_id
                        yield message
                        if message.event == "session_closed":
                            return
            except (httpx.TransportError, httpx.RemoteProtocolError):
                pass
            failures += 1
            if failures > retries:
                raise SightwireError(0, "UNAVAILABLE", "event stream lost and not resumed")
            await asyncio.sleep(retry_delay_s)

    async def close(self) -> None:
        """Delete the session everywhere."""
        response = await self.http.delete(f"/stream/sessions/{self.client_id}", headers=self.headers)
        if response.status_code not in (204, 404):
            await _json(response)

    def _path(self, what: str) -> str:
        return f"/stream/sessions/{self.client_id}/{what}"


class SightwireClient:
    """Entry point: `async with SightwireClient(url) as sw: session = await sw.create_session()`."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        timeout = httpx.Timeout(timeout_s, read=None)  # an SSE stream is idle between messages
        self.http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, transport=transport)

    async def create_session(self, *, source: dict[str, Any] | None = None, **config: Any) -> Session:
        """`POST /stream/sessions` with config fields (fps_limit, zones, lines, webhooks, ...)."""
        body = {**config, **({"source": source} if source else {})}
        info = await _json(await self.http.post("/stream/sessions", json=body))
        return Session(self.http, info["client_id"], info["token"], info)

    async def session(self, client_id: str, token: str) -> Session:
        """An existing session (e.g. from a deep link)."""
        session = Session(self.http, client_id, token, {})
        session.info = await session.stats()
        return session

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> SightwireClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def parse_sse(lines: AsyncIterator[str]) -> AsyncIterator[StreamMessage]:
    """Server-sent events (the subset Sightwire sends) -> messages with JSON data; comments skipped."""
    event, msg_id = "message", None
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            message = _message(msg_id, event, data)
            if message is not None:
                yield message
            event, data, msg_id = "message", [], None
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            msg_id = value


def _message(msg_id: str | None, event: str, data: list[str]) -> StreamMessage | None:
    if not data:
        return None
    try:
        return StreamMessage(msg_id, event, json.loads("\n".join(data)))
    except ValueError:  # not JSON: not a Sightwire message
        return None


async def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        raise SightwireError(response.status_code, str(body.get("error_code", "")), str(body.get("error", "")))
    return body if isinstance(body, dict) else {"items": body}
