"""An H.264 RTSP camera for tests, run by Debian's /usr/bin/python3 (it has gi + GstRtspServer).

Not imported by the test suite (the venv's Python has no `gi`): `rtsp_server.py`
starts it as a subprocess. It serves a folder of JPEG frames (real photos, see
`clips.py`) as a live camera at `rtsp://127.0.0.1:<port>/<mount>`, encoded with
x264 (zero latency, a key frame every second so a reconnecting client resumes
quickly). Port 0 picks a free port. Prints `READY <port>` once listening, or
`BIND_FAILED` and exits 3 if the port is taken (the caller retries).
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_line(pattern: str, fps: int) -> str:
    return (
        f"( multifilesrc location={pattern} loop=true caps=image/jpeg,framerate={fps}/1 "
        "! jpegdec ! videoconvert ! video/x-raw,format=I420 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bitrate=1024 "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--frames", required=True, help="multifilesrc pattern, e.g. /dir/frame_%%04d.jpg")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--mount", default="/cam")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.frames, args.fps))
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print("BIND_FAILED", flush=True)
        return 3
    print(f"READY {server.get_bound_port()}", flush=True)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
