"""Verified model download: a model file is either exactly the pinned one, or absent.

The body is streamed to a temporary file beside the destination while its
sha256 is computed; only a matching file is renamed into place (atomic on one
file system), so a crash, a truncated transfer or a tampered mirror never
leaves a file that a worker would load. The standard library's urllib is
enough for one GET and keeps the worker image free of an HTTP client.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from tqdm import tqdm

CHUNK = 256 * 1024


class DownloadError(RuntimeError):
    """The file could not be fetched, or it is not the pinned file."""


def mirrored(url: str, mirror: str | None) -> str:
    """Replace the scheme and host of `url` by `mirror` (which may carry a path prefix)."""
    if not mirror:
        return url
    return mirror.rstrip("/") + urlsplit(url).path


def _check_scheme(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"refusing to download from a non-http(s) URL: {url}")


def _stream(url: str, out: IO[bytes], timeout_s: float, desc: str) -> str:
    """Copy the body of `url` into the binary file `out`; return its sha256 hex digest."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "sightwire-models"})  # noqa: S310 - scheme checked
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - scheme checked
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=None) as bar:
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
    return digest.hexdigest()


def fetch_verified(url: str, sha256: str, dest: Path, *, timeout_s: float = 60.0) -> Path:
    """Download `url` to `dest` if and only if its sha256 equals `sha256`."""
    _check_scheme(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            actual = _stream(url, out, timeout_s, dest.name)
        if actual != sha256.lower():
            raise DownloadError(f"{dest.name}: sha256 {actual} does not match the pinned {sha256}; file refused")
        os.replace(tmp, dest)
    except (OSError, http.client.HTTPException) as exc:  # URLError/HTTPError are OSErrors
        raise DownloadError(f"{dest.name}: download from {url} failed: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dest
