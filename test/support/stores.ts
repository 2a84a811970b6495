// Both stores for tests and the bench, each with a connection of its own beside the store's, for
// what a test does behind the store's back (another process's claim, a million seeded events).
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Store } from '../../src/ledger/store.js';
import { openTempStore } from './app.js';
import { openPostgresTempStore } from './postgres.js';

export interface TempStore {
  store: Store;
  dispose(): Promise<void>;
  /** Runs SQL with `?` placeholders on a connection of its own. */
  exec(sql: string, params?: unknown[]): Promise<void>;
}

export type StoreKind = 'sqlite' | 'postgres';

async function sqlite(): Promise<TempStore> {
  const temp = await openTempStore();
  return {
    ...temp,
    async exec(sql, params = []) {
      const db = new Database(temp.path);
      db.pragma('busy_timeout = 5000');
      if (params.length === 0) db.exec(sql);
      else db.prepare(sql).run(...params);
      db.close();
    },
  };
}

async function postgres(): Promise<TempStore> {
  const temp = await openPostgresTempStore();
  return {
    ...temp,
    async exec(sql, params = []) {
      const client = new pg.Client({ connectionString: temp.schema.url });
      await client.connect();
      let n = 0;
      await client.query(sql.replace(/\?/g, () => `$${++n}`), params);
      await client.end();
    },
  };
}

export const TEMP_STORES: Array<[name: 'SQLite' | 'PostgreSQL', open: () => Promise<TempStore>, kind: StoreKind]> = [
  ['SQLite', sqlite, 'sqlite'],
  ['PostgreSQL', postgres, 'postgres'],
];
