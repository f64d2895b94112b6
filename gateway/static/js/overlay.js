// Drawing boxes over the picture. The picture is shown with `object-fit:
// contain`, so boxes (box.js: pixels of the frame as ingested) are mapped
// through the rectangle the picture actually occupies in the stage; the canvas
// is kept at device-pixel resolution so labels stay sharp.

import { boxOnCanvas } from "./box.js";

/** A stable, well-spread colour per class: the golden angle around the hue wheel. */
export function classColour(classId) {
  return `hsl(${Math.round((classId * 137.508) % 360)} 85% 58%)`;
}

/** Where a `mediaW x mediaH` picture lands inside a `boxW x boxH` element with object-fit: contain. */
export function containRect(boxW, boxH, mediaW, mediaH) {
  if (!mediaW || !mediaH) return { x: 0, y: 0, w: boxW, h: boxH };
  const scale = Math.min(boxW / mediaW, boxH / mediaH);
  const w = mediaW * scale;
  const h = mediaH * scale;
  return { x: (boxW - w) / 2, y: (boxH - h) / 2, w, h };
}

/** Match the canvas backing store to its CSS size; returns the device pixel ratio used. */
export function fitCanvas(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(canvas.clientWidth * dpr);
  const h = Math.round(canvas.clientHeight * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  return dpr;
}

export function labelOf(d) {
  const parts = [`${d.label} ${Math.round(d.confidence * 100)}%`];
  if (d.distance_m != null) parts.push(`${d.distance_m.toFixed(1)} m`);
  if (d.track_id != null) parts.push(`#${d.track_id}`);
  return parts.join(" · ");
}

/**
 * Draw `result` (a detection_result's data) over a picture of `mediaW x mediaH`.
 * Returns what was drawn, {label, class_id, track_id, x, y, w, h} in canvas pixels, for the page's inspectable state.
 */
export function drawOverlay(canvas, result, mediaW, mediaH, { stale = false } = {}) {
  const dpr = fitCanvas(canvas);
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!result) return [];
  const rect = containRect(canvas.width, canvas.height, mediaW || result.width, mediaH || result.height);
  ctx.lineWidth = 2 * Math.max(1, Math.round(dpr));
  ctx.font = `${Math.round(13 * dpr)}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  ctx.setLineDash(stale ? [6 * dpr, 4 * dpr] : []);
  return result.detections.map((d) => {
    const box = boxOnCanvas(d.bbox, result.width, result.height, rect);
    drawBox(ctx, d, box, dpr);
    return { label: d.label, class_id: d.class_id, track_id: d.track_id, ...box };
  });
}

function drawBox(ctx, d, box, dpr) {
  const colour = classColour(d.class_id);
  ctx.strokeStyle = colour;
  ctx.strokeRect(box.x, box.y, box.w, box.h);
  const text = labelOf(d);
  const pad = 3 * dpr;
  const height = 17 * dpr;
  const width = ctx.measureText(text).width + 2 * pad;
  const top = box.y >= height ? box.y - height : box.y;
  ctx.fillStyle = colour;
  ctx.fillRect(box.x, top, width, height);
  ctx.fillStyle = "#000";
  ctx.fillText(text, box.x + pad, top + 2 * dpr);
}
