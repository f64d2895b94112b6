// The sources a person can choose, in the order the form lists them. Adding a
// source is one module that exports its descriptor as `source`, plus its import
// and its place in the list here. (Static imports on purpose: with a dynamic
// import() the page's load event would fire before the page is ready.)
//
// A descriptor: {kind (the radio's value and `?source=`), label, fields (HTML of
// its own inputs, shown while it is chosen; optional), fromLink(params) (fills
// those inputs from a deep link; optional), create() -> a source}.
//
// A source: start(ctx), stop(), setFps(analysisFps), refresh(), stats().
// - start(ctx) opens the session (ctx.openSession(source spec), or
//   ctx.joinSession) and puts its picture on ctx.stage (show, useView/setView);
//   it reports through ctx.onState / ctx.onMessage; ctx.align is the "align"
//   checkbox. It throws a message a person can act on; stop() follows then.
// - stop() is safe at any point, also when start failed half-way.
// - setFps(analysisFps): the session's analysis rate (`fps_limit`) changed;
//   refresh(): any setting changed (a still image is sent again).
// - stats() -> {skipped (frames this page did not send), reconnects?, video?}.

import { source as camera } from "./camera.js";
import { source as file } from "./files.js";
import { source as webcam } from "./webcam.js";

export const SOURCES = [webcam, camera, file];
