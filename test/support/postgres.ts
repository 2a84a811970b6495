// PostgreSQL for tests: each store gets a fresh schema in the test database, dropped afterwards.
// The database must be there (CI machines have it): when it is not, tests fail saying so.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describeDatabaseUrl, PostgresStore } from '../../src/ledger/postgres.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** Runs one statement on a connection of its own; a database that does not answer is a clear failure. */
async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${describeDatabaseUrl(TEST_DATABASE_URL)} (${(error as Error).message}). ` +
        'The PostgreSQL store tests need it: start PostgreSQL, or set TEST_DATABASE_URL to a database they may create schemas in.',
    );
  }
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface TestSchema {
  schema: string;
  /** TEST_DATABASE_URL with the schema as search_path: every connection of a store on it lands there. */
  url: string;
  drop(): Promise<void>;
}

export async function createTestSchema(): Promise<TestSchema> {
  const schema = `og_test_${randomBytes(6).toString('hex')}`;
  await admin(`CREATE SCHEMA ${schema}`);
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { schema, url: url.toString(), drop: () => admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`) };
}

/** A migrated PostgresStore on a fresh schema. */
export async function openPostgresTempStore() {
  const schema = await createTestSchema();
  const store = new PostgresStore(schema.url);
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    await schema.drop();
    throw error;
  }
  return {
    store,
    schema,
    async dispose() {
      await store.close();
      await schema.drop();
    },
  };
}
