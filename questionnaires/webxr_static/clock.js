// Offset between the page's clock (performance.now(), ms) and the pose server's shared
// monotonic clock (s), from WebSocket pings: each ping carries the page's send time, the
// pong the server's time; offset = server_s - midpoint of the round trip. Of the last
// `window` samples the one with the shortest round trip wins (its error is at most half
// of that round trip).
export class ClockOffset {
  constructor(window = 16) { this.window = window; this.samples = []; }

  /** Add a pong: clientSendMs and clientRecvMs (performance.now()), serverS (s). */
  add(clientSendMs, clientRecvMs, serverS) {
    const rtt = (clientRecvMs - clientSendMs) / 1000;
    this.samples.push({ rtt, offset: serverS - (clientSendMs + clientRecvMs) / 2000 });
    if (this.samples.length > this.window) this.samples.shift();
  }

  get ready() { return this.samples.length > 0; }

  best() {
    return this.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a), this.samples[0]);
  }

  /** Server seconds minus page seconds. */
  get offsetS() { return this.ready ? this.best().offset : 0; }
  get rttS() { return this.ready ? this.best().rtt : null; }

  /** A page time (ms, performance.now() base) on the server's clock (s). */
  toServer(pageMs) { return pageMs / 1000 + this.offsetS; }
  /** A server time (s) on the page's clock (ms). */
  toPage(serverS) { return (serverS - this.offsetS) * 1000; }
}
