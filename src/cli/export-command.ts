import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Config } from '../config/config.js';
import { createContext } from '../app/context.js';
import { MailroomError } from '../kernel/errors.js';
import { CSV_HEADER, EXPORT_FORMATS, exportEmails, formatExported, parseSince } from '../history/export.js';
import type { Logger } from '../kernel/logger.js';

/**
 * `mailroom export --since DATE [--format jsonl|csv]`: every email taken in since the date, from
 * Redis and the history store, to `out` (stdout), one line an email; waits for `out` to drain
 * rather than holding the export in memory. Returns how many emails were written.
 */
export async function runExport(config: Config, logger: Logger, options: { since: string; format: string; out: Writable }): Promise<number> {
  const format = EXPORT_FORMATS.find((f) => f === options.format);
  if (!format) throw new MailroomError('CONFIG_INVALID', `--format: "${options.format}" is not one of ${EXPORT_FORMATS.join(', ')}`);
  const now = new Date();
  const since = parseSince(options.since, now);
  const app = await createContext(config, logger, { attachToRunning: true });
  try {
    const write = async (line: string) => {
      if (!options.out.write(line)) await once(options.out, 'drain');
    };
    if (format === 'csv') await write(CSV_HEADER);
    let n = 0;
    for await (const email of exportEmails({ redis: app.redis, keys: app.keys, ledger: app.ledger, store: app.history }, since, now)) {
      await write(formatExported(email, format));
      n++;
    }
    return n;
  } finally {
    await app.close();
  }
}
