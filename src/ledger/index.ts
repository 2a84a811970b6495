// Opens the store a configuration names.
import type { Config } from '../config.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

/** For PostgreSQL, rejects at once (one line, no credentials) when the database does not answer. */
export async function openStore(database: Config['database']): Promise<Store> {
  if (database.kind === 'postgres') return PostgresStore.open(database.url);
  return new SqliteStore(database.path);
}
