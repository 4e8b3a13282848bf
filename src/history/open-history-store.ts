import path from 'node:path';
import type { Config } from '../config/config.js';
import type { HistoryStore } from './history-store.js';
import { openPostgresHistoryStore } from './postgres-history-store.js';
import { openSqliteHistoryStore } from './sqlite-history-store.js';

/** The file of the SQLite history store in a data dir. */
export function sqliteHistoryFile(dataDir: string): string {
  return path.join(dataDir, 'history.sqlite');
}

/**
 * The configured history store: PostgreSQL when `DATABASE_URL` is set (one store for several
 * hosts), else the SQLite file in the data dir. Either is migrated and ready when this resolves.
 */
export async function openHistoryStore(config: Pick<Config, 'dataDir' | 'databaseUrl'>): Promise<HistoryStore> {
  return config.databaseUrl ? openPostgresHistoryStore(config.databaseUrl) : openSqliteHistoryStore(sqliteHistoryFile(config.dataDir));
}
