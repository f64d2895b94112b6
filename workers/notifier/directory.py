"""Which webhooks each session has: a live copy of the sw-sessions bucket, kept by a KV watch.

The notifier needs a session's webhooks for every event; reading KV per event would cost a
round trip each, so the directory listens to the process's watch of the bucket instead
(`apply`, subscribed to its `SessionWatcher`). A deleted session's webhooks are
kept for `grace_s`, because its last events (`session_closed` above all) are published after the
record is gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from shared.eventconfig import Webhook
from shared.sessions import SessionRecord, SessionStore


@dataclass(frozen=True, slots=True)
class Entry:
    webhooks: tuple[Webhook, ...]
    deleted_at: float | None = None


class WebhookDirectory:
    """sid -> webhooks, from the session records (and recently deleted ones)."""

    def __init__(self, store: SessionStore, grace_s: float) -> None:
        self.store = store
        self.grace_s = grace_s
        self.entries: dict[str, Entry] = {}

    def webhooks(self, sid: str) -> tuple[Webhook, ...] | None:
        """The session's webhooks; None when the session is unknown (not seen yet, or long gone)."""
        entry = self.entries.get(sid)
        return entry.webhooks if entry is not None else None

    def apply(self, sid: str, record: SessionRecord | None) -> None:
        now = time.monotonic()
        if record is not None:
            self.entries[sid] = Entry(tuple(record.config.webhooks))
        elif sid in self.entries:
            self.entries[sid] = Entry(self.entries[sid].webhooks, deleted_at=now)
        self._expire(now)

    def _expire(self, now: float) -> None:
        gone = [s for s, e in self.entries.items() if e.deleted_at is not None and now - e.deleted_at > self.grace_s]
        for sid in gone:
            del self.entries[sid]

    async def refresh(self, sid: str) -> tuple[Webhook, ...] | None:
        """Read one record now (an event of a session the watch has not delivered yet)."""
        found = await self.store.get(sid)
        if found is not None:
            self.apply(sid, found[0])
        return self.webhooks(sid)
