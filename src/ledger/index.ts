// Opens the store a configuration names.
import type { Config } from '../config.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export async function openStore(database: Config['database']): Promise<Store> {
  if (database.kind === 'postgres') {
    throw new Error('DATABASE_URL: the PostgreSQL store is not available in this version; use sqlite:<path>');
  }
  return new SqliteStore(database.path);
}
