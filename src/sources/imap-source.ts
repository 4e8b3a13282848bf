// Mailroom's IMAP intake as the daemon sees it: one watcher for every configured folder of every
// configured account, started together and closed together.
import type { SourceDeps } from './imap-rounds.js';
import { watchFolder, type FolderWatcher } from './imap-watcher.js';

/** Every configured folder of every configured account. */
export interface ImapSources {
  readonly watchers: readonly FolderWatcher[];
  close(): Promise<void>;
}

export function startImapSources(app: SourceDeps): ImapSources {
  const watchers = app.config.imap.flatMap((account) => account.folders.map((folder) => watchFolder(app, account, folder)));
  return {
    watchers,
    async close() {
      await Promise.all(watchers.map((w) => w.close()));
    },
  };
}
