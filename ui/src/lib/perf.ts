// What the user waits for, measured where they see it: how long text takes from reaching
// Flint's Rust side to being painted, how long frames take while an answer streams, when
// a turn's last line is painted, and how long opening a session takes. The figures are
// kept in a few bounded arrays (nothing is sent anywhere) and read by the benchmark suite
// through `window.__flintPerf` (tests/bench/app.mjs).

/** Frames longer than this are janky: at 60 Hz a frame is ~16.7 ms. */
export const LONG_FRAME_MS = 50;
const MAX_SAMPLES = 100_000;

export interface PerfRecord {
  /** Milliseconds from the first paint's navigation start; null until painted. */
  firstPaintMs: number | null;
  /** `performance.now()` when the latest turn was sent, and when its last text was painted. */
  turnSentAt: number | null;
  turnPaintedAt: number | null;
  /** Per painted frame of the latest turn: ms from its oldest text reaching Rust to paint. */
  lags: number[];
  /** Per frame while the latest turn streamed: ms since the previous frame. */
  frames: number[];
  /** Per text event of the latest turn: ms from its oldest text reaching Rust to the event
   *  reaching the page (the engine's batching and the IPC; the rest of a lag is the page's). */
  transport: number[];
  /** `performance.now()` when the latest session was asked for, and when it was painted. */
  sessionAskedAt: number | null;
  sessionPaintedAt: number | null;
}

export const perf: PerfRecord = {
  firstPaintMs: null,
  turnSentAt: null,
  turnPaintedAt: null,
  lags: [],
  frames: [],
  transport: [],
  sessionAskedAt: null,
  sessionPaintedAt: null,
};

let streaming = false;

function push(list: number[], v: number): void {
  if (list.length < MAX_SAMPLES) list.push(v);
}

/** Unix milliseconds, comparable to the `arrived_ms` Rust stamps on text. */
export function unixNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Runs `cb` once what the current frame changed has been painted. Called from inside a
 * requestAnimationFrame callback, a task queued now runs after that frame's paint. */
export function afterPaint(cb: () => void, inFrame = false): void {
  if (inFrame) setTimeout(cb, 0);
  else frame(() => setTimeout(cb, 0));
}

function frame(cb: (t: number) => void): void {
  if (typeof requestAnimationFrame === "function") requestAnimationFrame(cb);
  else setTimeout(() => cb(performance.now()), 16);
}

export function turnSent(): void {
  perf.turnSentAt = performance.now();
  perf.turnPaintedAt = null;
  perf.lags = [];
  perf.frames = [];
  perf.transport = [];
  if (streaming) return;
  streaming = true;
  let last = performance.now();
  const tick = (t: number) => {
    push(perf.frames, t - last);
    last = t;
    if (streaming) frame(tick);
  };
  frame((t) => {
    last = t;
    frame(tick);
  });
}

/** Text that reached Rust at `arrivedMs` (Unix ms) just reached the page. */
export function textArrived(arrivedMs: number): void {
  if (arrivedMs > 0) push(perf.transport, unixNow() - arrivedMs);
}

/** Text that reached Rust at `arrivedMs` (Unix ms) was just put in the DOM. */
export function textShown(arrivedMs: number, inFrame: boolean): void {
  if (arrivedMs > 0) afterPaint(() => push(perf.lags, unixNow() - arrivedMs), inFrame);
}

export function turnEnded(): void {
  afterPaint(() => {
    perf.turnPaintedAt = performance.now();
    streaming = false;
  });
}

export function sessionAsked(): void {
  perf.sessionAskedAt = performance.now();
  perf.sessionPaintedAt = null;
}

export function sessionShown(): void {
  if (perf.sessionAskedAt !== null && perf.sessionPaintedAt === null)
    afterPaint(() => (perf.sessionPaintedAt = performance.now()));
}

/** Calls `report` with the time of the app's first paint, once. */
export function onFirstPaint(report: (ms: number) => void): void {
  afterPaint(() => {
    perf.firstPaintMs = performance.now();
    report(perf.firstPaintMs);
  });
}

declare global {
  interface Window {
    __flintPerf?: PerfRecord;
  }
}
if (typeof window !== "undefined") window.__flintPerf = perf;
