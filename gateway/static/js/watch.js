// Watching a session someone else created (deep link `/?session=<id>&token=<t>`,
// a wall display): its picture and its results, without owning the session
// (Stop leaves it running). A camera session shows its camera's picture
// (camera.js); any other session its MJPEG preview.

import { CameraPicture } from "./camera.js";
import { MjpegSource } from "./mjpeg.js";

const CAMERA_TYPES = ["rtsp", "http", "file", "usb"];

export class WatchSource extends CameraPicture {
  constructor(sid, token) {
    super();
    Object.assign(this, { sid, token });
  }

  async start(ctx) {
    this.ctx = ctx;
    try {
      const session = await ctx.joinSession(this.sid, this.token);
      if (CAMERA_TYPES.includes(session.source?.type)) await super.start(ctx);
      else await this.show(new MjpegSource());
    } catch (err) {
      throw new Error(`Cannot watch this session: ${err.message}`);
    }
  }
}
