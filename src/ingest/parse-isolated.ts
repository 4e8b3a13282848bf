/**
 * Parsing off the event loop. mailparser and our own scans are synchronous for long stretches on
 * a large message; on the main thread that would stop BullMQ lock renewal, IMAP and /healthz for
 * every job in the process. Here each parse runs in a worker thread with a time budget and a heap
 * ceiling: a message that exceeds either is quarantined with the limit named, and the thread is
 * thrown away.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { ParsedEmail, ParseLimits } from './parse-email.js';

/** One request to the parse thread. */
export const ParseRequest = z.object({ id: z.number().int(), raw: z.instanceof(Uint8Array), limits: ParseLimits }).strict();
export type ParseRequest = z.infer<typeof ParseRequest>;

/** The parse thread's answer: the parsed email, or the quarantine reason. */
export const ParseReply = z.discriminatedUnion('ok', [
  z.object({ id: z.number().int(), ok: z.literal(true), parsed: ParsedEmail }).strict(),
  z.object({ id: z.number().int(), ok: z.literal(false), code: z.enum(['EMAIL_MALFORMED', 'EMAIL_TOO_LARGE', 'INTERNAL']), message: z.string().max(500) }).strict(),
]);
export type ParseReply = z.infer<typeof ParseReply>;

/** What the thread posts once it has loaded and can take requests. */
export const ThreadReady = z.object({ ready: z.literal(true) }).strict();
export type ThreadReady = z.infer<typeof ThreadReady>;

export interface IsolationLimits {
  /** Longest a parse may take before its thread is terminated. @defaultValue 20000 ms */
  timeoutMs: number;
  /** Heap ceiling of the parse thread (V8 old generation), in MB. @defaultValue 256 */
  maxHeapMb: number;
  /**
   * A parse running longer than this is a slow one (ordinary mail takes a few ms): while it runs,
   * parses waiting behind it may start another thread (see {@link MAX_THREADS}). @defaultValue 500 ms
   */
  slowParseMs?: number;
}

/** Default of {@link IsolationLimits.slowParseMs}. */
const SLOW_PARSE_MS = 500;

export const DEFAULT_ISOLATION: IsolationLimits = { timeoutMs: 20_000, maxHeapMb: 256, slowParseMs: SLOW_PARSE_MS };

/**
 * Parse threads kept loaded while idle. Each is a V8 isolate of its own with mailparser, zod and
 * tsx loaded, about 40 MB of RSS whether it parses or waits. One thread parses several hundred
 * ordinary emails a second (about 1.2 ms of CPU each, measured with bench/backlog.ts's corpus):
 * more than the rest of the pipeline takes on, so a backlog needs no second one.
 */
const WARM_THREADS = 1;
/**
 * Parse threads at once in this process. Beyond the warm one, a thread starts only while a parse
 * has been running longer than its `slowParseMs` (a large or hostile message) and others wait
 * behind it: one slow message, or a stream of them, must not hold up every email's ingest. Such a
 * thread stops once it is idle while another is warm. More threads than cores would only make
 * every parse slower.
 */
const MAX_THREADS = Math.max(1, Math.min(4, os.availableParallelism()));
/**
 * Young generation of a parse thread, in MB. A parse allocates short-lived strings and objects;
 * a larger young generation only raises the thread's resident memory (V8 keeps it committed),
 * while big strings of a large message go to the old generation anyway. Measured: 8 MB parses
 * the ordinary corpus and the 25 MiB cases of bench/pathological-mime.ts as fast as 32 MB.
 */
const YOUNG_GENERATION_MB = 8;
/** Loading a thread (tsx compiles our sources) may take seconds on a busy machine; longer means it is broken. */
const STARTUP_TIMEOUT_MS = 60_000;

/** The thread's entry: it registers tsx in the thread, then loads parse-thread.ts. */
const THREAD_ENTRY = new URL('./parse-thread-boot.mjs', import.meta.url);

interface Thread {
  worker: Worker;
  /** The heap ceiling it was started with: a parse under another ceiling needs a thread of its own. */
  maxHeapMb: number;
  /** Resolves once the thread has loaded. */
  ready: Promise<void>;
  /** Settles the request in flight, if any, when the thread fails. */
  fail: ((err: MailroomError) => void) | null;
}

const idle: Thread[] = [];
/** Parses holding a thread (loading, or parsing). */
let running = 0;
/** Of those, parses that have run longer than their `slowParseMs`: each lets one more thread start. */
let slow = 0;
const waiting: Array<() => void> = [];
let nextId = 1;

function capacity(): number {
  return Math.min(MAX_THREADS, WARM_THREADS + slow);
}

/** Lets waiting parses start while there is room (a slot is counted in `running` before it is handed over). */
function admit(): void {
  while (running < capacity()) {
    const next = waiting.shift();
    if (!next) return;
    running += 1;
    next();
  }
}

/** A parse's hold on a thread. `clock` starts its slow-parse timer once the thread is ready. */
interface Slot {
  clock(slowParseMs: number): void;
  release(): void;
}

async function acquireSlot(): Promise<Slot> {
  if (running < capacity()) running += 1;
  else await new Promise<void>((resolve) => waiting.push(resolve));
  let timer: NodeJS.Timeout | undefined;
  let counted = false;
  return {
    clock(slowParseMs) {
      // Loading a thread is not the message's slowness: only the parse itself is timed.
      timer = setTimeout(() => {
        counted = true;
        slow += 1;
        admit();
      }, slowParseMs);
      timer.unref();
    },
    release() {
      clearTimeout(timer);
      if (counted) slow -= 1;
      running -= 1;
      admit();
    },
  };
}

let threadsStarted = 0;

/** Parse threads this process has started so far (each costs a module load): for tests and the bench. */
export function parseThreadsStarted(): number {
  return threadsStarted;
}

function spawnThread(maxHeapMb: number): Thread {
  threadsStarted += 1;
  const worker = new Worker(THREAD_ENTRY, {
    resourceLimits: { maxOldGenerationSizeMb: maxHeapMb, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    stdout: false,
    stderr: false,
  });
  let started: () => void = () => {};
  let broken: (err: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    started = resolve;
    broken = reject;
  });
  // Never an unhandled rejection: whoever awaits `ready` sees the failure.
  ready.catch(() => undefined);
  const thread: Thread = { worker, maxHeapMb, ready, fail: null };
  worker.on('message', (message: unknown) => {
    if (ThreadReady.safeParse(message).success) started();
  });
  worker.on('error', (err: Error) => {
    broken(err);
    const oom = 'code' in err && err.code === 'ERR_WORKER_OUT_OF_MEMORY';
    thread.fail?.(
      oom
        ? new MailroomError('EMAIL_TOO_LARGE', `parsing needed more memory than the limit of ${maxHeapMb} MB`)
        : new MailroomError('EMAIL_MALFORMED', `MIME parse failed (the parse thread stopped: ${err.name})`, { cause: err }),
    );
  });
  worker.on('exit', () => {
    broken(new Error('the parse thread exited'));
    const at = idle.indexOf(thread);
    if (at >= 0) idle.splice(at, 1);
    thread.fail?.(new MailroomError('EMAIL_MALFORMED', 'MIME parse failed (the parse thread exited)'));
  });
  return thread;
}

/**
 * Parses a raw message like {@link parseEmail}, in a worker thread, under `limits` and a time and
 * memory budget. Throws MailroomError EMAIL_MALFORMED / EMAIL_TOO_LARGE with a reason that names
 * the limit (never the mail's text). The event loop of the caller only copies the message out and
 * the (capped) result back.
 */
export async function parseEmailIsolated(raw: Buffer, limits: ParseLimits, isolation: IsolationLimits = DEFAULT_ISOLATION): Promise<ParsedEmail> {
  if (raw.length > limits.maxMessageBytes) {
    throw new MailroomError('EMAIL_TOO_LARGE', `message is ${raw.length} bytes, over the limit of ${limits.maxMessageBytes}`);
  }
  const slot = await acquireSlot();
  try {
    return await parseInThread(raw, limits, isolation, slot);
  } finally {
    slot.release();
  }
}

async function parseInThread(raw: Buffer, limits: ParseLimits, isolation: IsolationLimits, slot: Slot): Promise<ParsedEmail> {
  const at = idle.findIndex((t) => t.maxHeapMb === isolation.maxHeapMb);
  const thread = (at >= 0 ? idle.splice(at, 1)[0] : undefined) ?? spawnThread(isolation.maxHeapMb);
  thread.worker.ref();
  let timer: NodeJS.Timeout | undefined;
  /** Set when the thread answered: a refusal is an answer, and the thread is fit to reuse. */
  let answered = false;
  try {
    // Start-up is our cost, not the message's: a thread that does not load is a retryable failure.
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no ready signal within ${STARTUP_TIMEOUT_MS} ms`)), STARTUP_TIMEOUT_MS);
      thread.ready.then(resolve, reject);
    }).catch((err: unknown) => {
      throw new MailroomError('INTERNAL', 'the parse thread did not start', { cause: err, retryable: true });
    });
    clearTimeout(timer);
    slot.clock(isolation.slowParseMs ?? SLOW_PARSE_MS);
    const id = nextId++;
    // A copy of our own: its buffer moves to the thread, and the caller keeps `raw`.
    const copy = new Uint8Array(raw);
    const parsed = await new Promise<ParsedEmail>((resolve, reject) => {
      thread.fail = reject;
      timer = setTimeout(() => {
        reject(new MailroomError('EMAIL_MALFORMED', `parsing took longer than the limit of ${isolation.timeoutMs} ms`));
      }, isolation.timeoutMs);
      thread.worker.on('message', function onMessage(message: unknown) {
        const reply = ParseReply.safeParse(message);
        if (!reply.success || reply.data.id !== id) return;
        thread.worker.off('message', onMessage);
        answered = true;
        if (reply.data.ok) resolve(reply.data.parsed);
        else reject(new MailroomError(reply.data.code, reply.data.message));
      });
      thread.worker.postMessage({ id, raw: copy, limits } satisfies ParseRequest, [copy.buffer]);
    }).finally(() => {
      thread.fail = null;
    });
    await keepOrStop(thread);
    return parsed;
  } catch (err) {
    // A thread that refused a message answered in time and is as good as new: starting a fresh
    // one costs seconds, which a stream of malformed mail would pay per message. A thread that
    // overran, crashed or did not start may be mid-parse or broken: never reuse it.
    if (answered) await keepOrStop(thread);
    else await thread.worker.terminate();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Keeps a thread that answered warm for the next parse, or stops it when enough are warm. */
async function keepOrStop(thread: Thread): Promise<void> {
  // Kept warm, but an idle thread must not keep the process alive.
  thread.worker.unref();
  if (idle.length < WARM_THREADS) idle.push(thread);
  else await thread.worker.terminate();
}

/** How many loaded parse threads wait for work (tests and metrics). */
export function warmParseThreads(): number {
  return idle.length;
}

/** Stops the warm parse threads (tests and shutdown); the next parse starts a fresh one. */
export async function closeParseThreads(): Promise<void> {
  const all = idle.splice(0);
  await Promise.all(all.map((t) => t.worker.terminate()));
}
