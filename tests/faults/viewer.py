"""An SSE viewer in a thread that behaves like EventSource: it reconnects with Last-Event-ID."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Seen:
    at: float
    event_id: int | None
    body: dict[str, Any]


@dataclass
class SseViewer:
    base: str
    path: str
    events: list[Seen] = field(default_factory=list)
    connects: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    last_id: int | None = None

    def start(self) -> SseViewer:
        self.thread = threading.Thread(target=self._run, name="sse-viewer", daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(20)

    def _run(self) -> None:
        while not self.stop.is_set():
            headers = {"Last-Event-ID": str(self.last_id)} if self.last_id is not None else {}
            try:
                with (
                    httpx.Client(base_url=self.base, timeout=httpx.Timeout(10, read=6)) as client,
                    client.stream("GET", self.path, headers=headers) as response,
                ):
                    if response.status_code != 200:
                        raise httpx.HTTPError(f"status {response.status_code}")
                    self.connects += 1
                    self._read(response)
            except httpx.HTTPError:
                pass
            self.stop.wait(0.5)  # EventSource's retry delay

    def _read(self, response: httpx.Response) -> None:
        event_id: int | None = None
        data: list[str] = []
        try:
            for line in response.iter_lines():
                if self.stop.is_set():
                    return
                if line == "":
                    if data:
                        body = json.loads("\n".join(data))
                        self.events.append(Seen(time.monotonic(), event_id, body))
                        if event_id is not None:
                            self.last_id = event_id
                    event_id, data = None, []
                elif line.startswith("id:"):
                    event_id = int(line[3:].strip())
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
        except httpx.ReadTimeout:
            if not self.stop.is_set():
                raise

    def results(self) -> list[Seen]:
        return [e for e in self.events if e.body.get("type") == "detection_result"]

    def errors(self) -> list[Seen]:
        return [e for e in self.events if e.body.get("type") in ("error", "session_closed")]
