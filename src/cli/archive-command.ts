import { Duration, durationSeconds, type Config } from '../config.js';
import { createContext } from '../context.js';
import { MailroomError } from '../errors.js';
import { archiveRested, type ArchiveResult } from '../history/archive.js';
import type { Logger } from '../logger.js';

/** The rest an email must have had before `mailroom archive` takes it, unless told. */
export const DEFAULT_ARCHIVE_AFTER = '14d';

/**
 * `mailroom archive [--older-than DURATION]`: moves the history of every email at rest for longer
 * than the duration out of Redis into the history store. Progress goes to `progress` (stderr)
 * after each batch; the summary line is returned.
 */
export async function runArchive(config: Config, logger: Logger, olderThan: string, progress: (line: string) => void): Promise<ArchiveResult> {
  const d = Duration.safeParse(olderThan);
  if (!d.success) throw new MailroomError('CONFIG_INVALID', `--older-than: "${olderThan}" is not a duration such as 0s, 90m, 48h or 14d`);
  const app = await createContext(config, logger, { attachToRunning: true });
  try {
    return await archiveRested(
      { redis: app.redis, keys: app.keys, store: app.history },
      { olderThanMs: durationSeconds(d.data) * 1000, now: app.clock(), onProgress: (r) => progress(`archived ${r.archived}, left ${r.skipped}`) },
    );
  } finally {
    await app.close();
  }
}
