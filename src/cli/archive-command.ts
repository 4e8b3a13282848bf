import { Duration, durationSeconds, type Config } from '../config/config.js';
import { createContext } from '../app/context.js';
import { MailroomError } from '../kernel/errors.js';
import { archiveRested, type ArchiveResult } from '../history/archive.js';
import { applyRetention, type RetentionResult } from '../history/retention.js';
import type { Logger } from '../kernel/logger.js';

/**
 * `mailroom archive [--older-than DURATION]`: moves the history of every email at rest for longer
 * than the duration (unset: the config's `retention.archiveAfter`, as the daemon's sweep) out of
 * Redis into the history store, then applies retention (as the daemon does daily). Progress goes
 * to `progress` (stderr) after each batch; the counts are returned.
 */
export async function runArchive(config: Config, logger: Logger, olderThan: string | undefined, progress: (line: string) => void): Promise<ArchiveResult & RetentionResult> {
  const d = olderThan === undefined ? null : Duration.safeParse(olderThan);
  if (d && !d.success) throw new MailroomError('CONFIG_INVALID', `--older-than: "${olderThan}" is not a duration such as 0s, 90m, 48h or 14d`);
  const olderThanSeconds = d ? durationSeconds(d.data) : config.retention.archiveAfterSeconds;
  const app = await createContext(config, logger, { attachToRunning: true });
  try {
    const deps = { redis: app.redis, keys: app.keys, store: app.history };
    const now = app.clock();
    const archived = await archiveRested(deps, { olderThanMs: olderThanSeconds * 1000, now, onProgress: (r) => progress(`archived ${r.archived}, left ${r.skipped}`) });
    return { ...archived, ...(await applyRetention(deps, { historySeconds: config.retention.historySeconds, contentTtlSeconds: config.contentTtlSeconds }, now)) };
  } finally {
    await app.close();
  }
}
