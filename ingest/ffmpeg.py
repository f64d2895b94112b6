"""Process-wide FFmpeg/OpenCV configuration, applied once by `run()` before any capture opens.

OpenCV reads these environment variables lazily, at each capture's open, so
setting them at start-up (never at import) is enough:
- `protocol_whitelist`: network cameras may only use the network protocols
  below. `file:`, `concat:`, `subfile:`, `pipe:`, `data:` and friends are
  unreachable, also from inside a playlist a remote server returns (FFmpeg
  passes the whitelist down to nested opens). Local files never go through
  FFmpeg's `file` protocol at all: ingest opens them itself and hands OpenCV
  a stream object (see `capture.py`), so one whitelist serves every source.
- `max_redirects;0`: FFmpeg's HTTP client follows up to 8 redirects by
  default, to any host, without asking us: a camera URL that passed
  `shared.urls.check_url` could answer 302 to a metadata or loopback address
  (SSRF). A camera that redirects fails to open instead (OpenCV exposes no
  per-hop callback that would let us re-check each hop); give ingest the
  final URL.
- `rtsp_transport;tcp`: OpenCV's own default, lost once we set the variable;
  TCP survives NAT and loss better than UDP for camera pulls.
- `analyzeduration`: FFmpeg probes a live stream for 5 s by default before the
  first frame; a camera's codec parameters are known after the first key
  frame, so 1 s cuts an RTSP camera's (re)connect from ~3 s to ~1 s.
- FFmpeg's own log lines are not redacted (a URL with a password can appear in
  them), so they are silenced unless the operator raises `ffmpeg_log_level`.
- `OPENCV_FFMPEG_IS_THREAD_SAFE`: without it OpenCV serialises every open
  behind one lock, so a dead camera waiting out its open timeout would stall
  every other camera's (re)connect. FFmpeg >= 4 is thread safe here.
"""

from __future__ import annotations

import os

import cv2

NETWORK_PROTOCOLS = ("tcp", "udp", "rtp", "srtp", "rtsp", "rtsps", "tls", "http", "https", "httpproxy", "crypto")


def capture_options(analyze_s: float) -> str:
    """The value of OPENCV_FFMPEG_CAPTURE_OPTIONS: `key;value` pairs joined by `|`."""
    return "|".join(
        [
            "rtsp_transport;tcp",
            "max_redirects;0",
            f"analyzeduration;{int(analyze_s * 1_000_000)}",
            f"protocol_whitelist;{','.join(NETWORK_PROTOCOLS)}",
        ]
    )


def configure_ffmpeg(ffmpeg_log_level: int, analyze_s: float) -> None:
    """Set the capture environment for this process (call before the first VideoCapture)."""
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = capture_options(analyze_s)
    os.environ["OPENCV_FFMPEG_LOGLEVEL"] = str(ffmpeg_log_level)
    os.environ["OPENCV_FFMPEG_IS_THREAD_SAFE"] = "1"
    if ffmpeg_log_level < 16:  # below AV_LOG_ERROR: OpenCV's own capture warnings go too
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
