import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/**
 * Paths that may hold secrets or email text. Logs carry ids, never content: these are redacted
 * even if a caller passes them by mistake.
 */
const REDACT = [
  'password',
  '*.password',
  'apiKey',
  '*.apiKey',
  'authorization',
  '*.authorization',
  'text',
  '*.text',
  'html',
  '*.html',
  'body',
  '*.body',
  'subject',
  '*.subject',
  'raw',
  '*.raw',
  'pass',
  '*.pass',
  'accessToken',
  '*.accessToken',
  'auth',
  '*.auth',
  'refreshToken',
  '*.refreshToken',
  'clientSecret',
  '*.clientSecret',
  'oauth2',
  '*.oauth2',
  'databaseUrl',
  '*.databaseUrl',
  'imap[*].auth',
  '*.imap[*].auth',
];

/** The one root logger; components take `logger.child({ component })`. */
export function createLogger(options: { level: string; destination?: pino.DestinationStream }): Logger {
  const opts = {
    level: options.level,
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { app: 'mailroom' },
    serializers: { err: pino.stdSerializers.err },
  };
  // Logs go to stderr so that stdout stays clean for `--json` output.
  return options.destination ? pino(opts, options.destination) : pino(opts, pino.destination(2));
}

const LEVEL_METHODS: ReadonlySet<string> = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const noop = (): void => {};

/**
 * `parent.child(bindings)`, made only when something is logged through it at an enabled level
 * (or anything but its level is asked of it). A worker takes a child per job and per step; with
 * redaction on, making one cost more than a step's own bookkeeping, and on the happy path at the
 * usual levels nothing is logged through it. A call at a disabled level is a no-op, as it is on a
 * real child; a child of a lazy child is lazy too.
 */
export function lazyChild(parent: Logger, bindings: pino.Bindings): Logger {
  let made: Logger | undefined;
  const real = (): Logger => (made ??= parent.child(bindings));
  // Until it is made, the child's level is the one it would be made with: its parent's.
  const parentLevels = levelsOf(parent);
  const levels = (): Logger => made ?? parentLevels();
  return new Proxy(parent, {
    get(_target, prop) {
      if (prop === LEVELS) return levels;
      if (!made) {
        if (typeof prop === 'string' && LEVEL_METHODS.has(prop) && !levels().isLevelEnabled(prop)) return noop;
        if (prop === 'isLevelEnabled') return (level: string) => levels().isLevelEnabled(level);
        if (prop === 'level') return levels().level;
      }
      const target = real();
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set(_target, prop, value) {
      return Reflect.set(real(), prop, value);
    },
  });
}

/** Asked of a lazy child: the logger that holds its level now (itself once made), so asking does not make it. */
const LEVELS = Symbol('mailroom.lazyChild.levels');

function levelsOf(logger: Logger): () => Logger {
  // Only a lazy child answers LEVELS (its proxy's trap); a pino logger has no such property.
  const lazy: unknown = Reflect.get(logger, LEVELS);
  if (typeof lazy !== 'function') return () => logger;
  return (): Logger => {
    const current: unknown = lazy();
    return isLogger(current) ? current : logger;
  };
}

function isLogger(value: unknown): value is Logger {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'isLevelEnabled') === 'function';
}
