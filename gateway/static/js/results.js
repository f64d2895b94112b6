// Results over Server-Sent Events. The gateway sends results and errors as
// unnamed events (so `onmessage` gets them, as in the seed API's example
// client; the JSON's `type` tells them apart) and ends a stream with a named
// `session_closed` event. EventSource reconnects by itself and resumes with
// Last-Event-ID, so a network blip loses no result.

import { eventsUrl } from "./api.js";

export function openResults(session, { onResult, onError, onState, onClosed, onEvent }) {
  const source = new EventSource(eventsUrl(session));
  source.onopen = () => onState("open");
  source.onerror = () => onState(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
  source.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "detection_result") onResult(message.data, Date.now());
    else if (message.type === "error") onError(message);
    else if (message.type === "event") onEvent?.(message.event);
  };
  source.addEventListener("event", (event) => onEvent?.(JSON.parse(event.data).event));  // named variant
  source.addEventListener("session_closed", (event) => {
    source.close();
    onState("closed");
    onClosed(JSON.parse(event.data));
  });
  return { close: () => source.close() };
}
