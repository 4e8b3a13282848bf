import { afterAll, describe, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HistoryStore } from '../../src/history/history-store.js';
import { sqliteHistoryFile } from '../../src/history/open-history-store.js';
import { openPostgresHistoryStore } from '../../src/history/postgres-history-store.js';
import { openSqliteHistoryStore } from '../../src/history/sqlite-history-store.js';
import { POSTGRES_SKIP, startTestPostgres, type TestPostgres } from './postgres.js';

/** One empty history store: the environment that points Mailroom at it, and a way to open it (as often as a test likes). */
export interface StorePlace {
  /** `DATABASE_URL` for PostgreSQL; nothing for SQLite (the file is in `MAILROOM_DATA_DIR`). */
  env: Record<string, string>;
  open(): Promise<HistoryStore>;
}

/** A kind of history store the same tests run against. */
export interface HistoryBackend {
  name: 'sqlite' | 'postgres';
  /** What the describe titles say: "a real SQLite file", "a real PostgreSQL". */
  label: string;
  /** Why it cannot run on this machine (outside CI only), or null. */
  skip: string | null;
  /** A new empty store; for SQLite `history.sqlite` in `dataDir` (a temp dir when absent), as Mailroom would put it. */
  place(dataDir?: string): Promise<StorePlace>;
  /** Stops what `place` started (the PostgreSQL cluster) and removes temp dirs. */
  close(): Promise<void>;
}

function sqliteBackend(): HistoryBackend {
  const dirs: string[] = [];
  return {
    name: 'sqlite',
    label: 'a real SQLite file',
    skip: null,
    async place(dataDir) {
      const dir = dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'mailroom-history-'));
      if (!dataDir) dirs.push(dir);
      return { env: {}, open: async () => openSqliteHistoryStore(sqliteHistoryFile(dir)) };
    },
    async close() {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** PostgreSQL: one private cluster per test file (started at the first `place`), a database per place. */
function postgresBackend(): HistoryBackend {
  let cluster: Promise<TestPostgres> | undefined;
  return {
    name: 'postgres',
    label: 'a real PostgreSQL',
    skip: POSTGRES_SKIP,
    async place() {
      cluster ??= startTestPostgres();
      const url = await (await cluster).createDatabase();
      return { env: { DATABASE_URL: url }, open: () => openPostgresHistoryStore(url) };
    },
    async close() {
      const c = cluster;
      cluster = undefined;
      await (await c?.catch(() => undefined))?.close();
    },
  };
}

/** Both stores, for `describe.each`: every history test runs against each. */
export function historyBackends(): HistoryBackend[] {
  return [sqliteBackend(), postgresBackend()];
}

/**
 * `describe.each` over both stores: `body` declares the tests of one backend, which is closed
 * after them. A backend this machine cannot run (outside CI) shows as one skipped test naming why.
 */
export function describeEachBackend(title: string, body: (backend: HistoryBackend) => void): void {
  describe.each(historyBackends())(`${title} ($label)`, (backend) => {
    if (backend.skip !== null) {
      // Only outside CI (no PostgreSQL binaries here); the test's name is the reason. In CI `skip` is null.
      it.skip(backend.skip, () => undefined);
      return;
    }
    afterAll(() => backend.close());
    body(backend);
  });
}
