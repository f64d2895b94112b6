"""What a session asks the scene stage to watch: zones, lines, the anchor point, webhooks (DESIGN §8).

These are fields of the session config, written by API clients, so every list and string
is bounded and every number range-checked here, at the edge: a bad config is a 422 naming
the field, never a failure later in the scene stage or the notifier. Checks that need the
network (a webhook host's resolved addresses) are `shared.webhooks.police_webhook_url`,
which the gateway applies when a config is written and the notifier again before each send.

A webhook `secret` is write-only: it is stored in the session record (`SessionRecord.to_bytes`
reveals it with the `REVEAL_SECRETS` serialisation context) and shown as `null` in every other
JSON rendering, so no API response, log line or config echo carries it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)

MAX_ZONES = 32
MAX_LINES = 32
MAX_WEBHOOKS = 8
MAX_POLYGON_POINTS = 64
MAX_DWELL_S = 86_400.0
REVEAL_SECRETS: dict[str, Any] = {"reveal_secrets": True}
EVENT_KINDS = (
    "zone_enter",
    "zone_exit",
    "dwell",
    "line_cross",
    "source_lost",
    "source_restored",
    "source_unreachable",
    "session_closed",
)
EventKind = Literal[
    "zone_enter",
    "zone_exit",
    "dwell",
    "line_cross",
    "source_lost",
    "source_restored",
    "source_unreachable",
    "session_closed",
]
Anchor = Literal["bottom_center", "center"]

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Point = Annotated[tuple[Unit, Unit], Field(description="[x, y] as fractions 0..1 of the frame")]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
ClassNames = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=80)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Zone(_Strict):
    """A polygon of the frame (self-intersecting is allowed: even-odd membership)."""

    name: Name
    polygon: list[Point] = Field(min_length=3, max_length=MAX_POLYGON_POINTS)
    classes: ClassNames | None = Field(None, description="Only these labels count; null = all.")
    dwell_s: float | None = Field(None, gt=0, le=MAX_DWELL_S, description="A `dwell` event after this long inside.")


class Line(_Strict):
    """A segment from `a` to `b`; crossing it left-to-right of a->b is `in`, the other way `out`."""

    name: Name
    a: Point
    b: Point
    classes: ClassNames | None = Field(None, description="Only these labels count; null = all.")

    @model_validator(mode="after")
    def _not_a_point(self) -> Line:
        if abs(self.a[0] - self.b[0]) + abs(self.a[1] - self.b[1]) < 1e-6:
            raise ValueError("a and b must differ")
        return self


class Webhook(_Strict):
    """Where the notifier POSTs events; `secret` signs them and is never returned."""

    url: str = Field(min_length=1, max_length=2048)
    secret: SecretStr | None = Field(None, description="HMAC-SHA256 key (write-only; shown as null).")
    kinds: list[EventKind] | None = Field(None, max_length=len(EVENT_KINDS), description="null = every kind.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        """Offline checks; the address policy (DNS) is `shared.webhooks.police_webhook_url`."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ValueError(f"malformed URL: {exc}") from exc
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("a webhook URL must be http(s)://host/...")
        if parts.username is not None or parts.password is not None:
            raise ValueError("credentials in a webhook URL are refused (use `secret`)")
        return url

    @field_validator("secret")
    @classmethod
    def _bounded_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and not 1 <= len(secret.get_secret_value()) <= 256:
            raise ValueError("secret must be 1..256 characters")
        return secret

    @field_serializer("secret", when_used="json")
    def _hide_secret(self, secret: SecretStr | None, info: FieldSerializationInfo) -> str | None:
        if secret is not None and isinstance(info.context, dict) and info.context.get("reveal_secrets"):
            return secret.get_secret_value()
        return None


def _unique_names(items: list[Any]) -> list[Any]:
    names = [i.name for i in items]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate names: {', '.join(duplicates)}")
    return items


def _none_is_empty(value: Any) -> Any:
    """`"zones": null` in a PATCH clears the list, like `[]`."""
    return [] if value is None else value


Zones = Annotated[
    list[Zone], BeforeValidator(_none_is_empty), Field(max_length=MAX_ZONES), AfterValidator(_unique_names)
]
Lines = Annotated[
    list[Line], BeforeValidator(_none_is_empty), Field(max_length=MAX_LINES), AfterValidator(_unique_names)
]
Webhooks = Annotated[list[Webhook], BeforeValidator(_none_is_empty), Field(max_length=MAX_WEBHOOKS)]
