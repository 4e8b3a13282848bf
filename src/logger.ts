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
