// The page's one box shape: a detection's `bbox`, [x1, y1, x2, y2], exactly as
// it comes on the wire (DESIGN §4: pixels of the frame as ingested, whose size
// is the result's `width` x `height`). Boxes are moved (interpolated between
// results, predicted along a track: syncview.js) in that shape and become
// canvas pixels only when drawn (overlay.js). What the page records as drawn
// (`window.sightwire.drawn.boxes`) is what is on screen: canvas pixels.

/** The box a fraction `f` of the way from `a` to `b`; f > 1 carries on past `b` at the same velocity. */
export const lerpBox = (a, b, f) => a.map((v, i) => v + (b[i] - v) * f);

/**
 * Where `bbox` lands on a canvas that shows a `frameW x frameH` frame inside `rect` (canvas pixels):
 * {x, y, w, h} in whole pixels, so edges are crisp (an edge at a fractional position smears over two pixels).
 */
export function boxOnCanvas([x1, y1, x2, y2], frameW, frameH, rect) {
  const sx = rect.w / frameW;
  const sy = rect.h / frameH;
  const x = Math.round(rect.x + x1 * sx);
  const y = Math.round(rect.y + y1 * sy);
  return { x, y, w: Math.round(rect.x + x2 * sx) - x, h: Math.round(rect.y + y2 * sy) - y };
}
