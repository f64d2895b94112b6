// The gateway's REST API as used by the page. Every session-scoped call sends
// the session token as a Bearer header; errors come back in the one error shape
// of the API ({error, error_code}) and are thrown as ApiError so callers can
// decide by code (retry on WEBRTC_UNAVAILABLE, give up on INVALID_SDP, ...).

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error_code || "HTTP_" + status;
  }
}

async function call(method, path, { token, json, body, headers = {}, signal, keepalive = false } = {}) {
  const init = { method, headers: { ...headers }, signal, keepalive };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

const sessionPath = (sid, rest = "") => `/stream/sessions/${encodeURIComponent(sid)}${rest}`;

export const api = {
  models: () => call("GET", "/stream/models"),
  createSession: (source, config) => call("POST", "/stream/sessions", { json: { source, config } }),
  stats: (s) => call("GET", sessionPath(s.sid, "/stats"), { token: s.token }),
  patchConfig: (s, changes) => call("PATCH", sessionPath(s.sid, "/config"), { token: s.token, json: changes }),
  events: (s, query) => call("GET", sessionPath(s.sid, `/events?${query}`), { token: s.token }),
  counts: (s) => call("GET", sessionPath(s.sid, "/counts"), { token: s.token }),
  // keepalive: the request survives the page being closed (Stop on pagehide).
  deleteSession: (s) => call("DELETE", sessionPath(s.sid), { token: s.token, keepalive: true }),
  iceConfig: (s) => call("GET", sessionPath(s.sid, "/webrtc"), { token: s.token }),
  offer: (s, sdp, signal) =>
    call("POST", sessionPath(s.sid, "/webrtc"), { token: s.token, json: { sdp, type: "offer" }, signal }),
  video: (s, sdp, signal) =>
    call("POST", sessionPath(s.sid, "/video"), { token: s.token, json: { sdp, type: "offer" }, signal }),
  upload: (s, blob, frameId, timestampS) => {
    const query = new URLSearchParams({ frame_id: frameId, timestamp: String(timestampS) });
    return call("POST", `/stream/process/${encodeURIComponent(s.sid)}?${query}`, {
      token: s.token,
      body: blob,
      headers: { "Content-Type": "image/jpeg" },
    });
  },
};

/** URLs that cannot carry headers (EventSource, <img>, fetch of a stream we hand around) carry ?token=. */
export const eventsUrl = (s) => `/stream/events/${encodeURIComponent(s.sid)}?token=${encodeURIComponent(s.token)}`;
export const previewUrl = (s) => `${sessionPath(s.sid, "/preview.mjpg")}?token=${encodeURIComponent(s.token)}`;
