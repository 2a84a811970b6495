// The shared store: the ledger on PostgreSQL through a pg Pool, for several replicas on one
// database. Every transaction runs at READ COMMITTED: single-statement upserts re-check their
// WHERE against the newest row version, and the lock order of ledger.ts orders what spans
// several statements. Reads of a sync batch share one REPEATABLE READ snapshot.
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { CustomTypesConfig, PoolClient } from 'pg';
import { Ledger } from './ledger.js';
import { migrations } from './migrations.js';
import type { Adapter, Db, Dialect, Transaction } from './sql.js';

const POSTGRES: Dialect = {
  now: '(extract(epoch FROM clock_timestamp()) * 1000)::bigint',
  rows: (columns) =>
    `(SELECT * FROM jsonb_to_recordset(CAST(? AS jsonb)) AS x(${Object.entries(columns)
      .map(([name, type]) => `${name} ${type === 'int' ? 'bigint' : 'text'}`)
      .join(', ')}))`,
  row: (columns) => `(SELECT ${Object.entries(columns).map(([c, type]) => `CAST(? AS ${type === 'int' ? 'bigint' : 'text'}) AS ${c}`).join(', ')})`,
  inList: (column) => `${column} = ANY(ARRAY(SELECT CAST(jsonb_array_elements_text(CAST(? AS jsonb)) AS bigint)))`,
  greatest: (a, b) => `GREATEST(${a}, ${b})`,
  least: (a, b) => `LEAST(${a}, ${b})`,
  rewritesUnchangedIndexes: false,
  forUpdate: 'FOR UPDATE',
  // A row another replica is claiming right now is passed over, never waited for.
  skipLocked: (table) => `FOR UPDATE OF ${table} SKIP LOCKED`,
};

/** Advisory lock keys are 64-bit hashes of these names. */
const MIGRATE_LOCK = 'og-civicrm-sync:migrate';
const groupLock = (ogId: number) => `og-civicrm-sync:group:${ogId}`;

/** SQLSTATEs after which a whole transaction may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
const ATTEMPTS = 3;

/**
 * BIGINT comes back from pg as a string. Every BIGINT here (ids, sequence numbers, epoch
 * milliseconds, counts) is a safe integer, so it becomes a number; anything else is an error.
 */
function parseBigint(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`BIGINT ${text} is beyond Number.MAX_SAFE_INTEGER`);
  return value;
}

const types: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary'
      ? parseBigint
      : pg.types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

/** `?` placeholders, in order, as `$1`, `$2`…: the ledger's statements hold no other `?`. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Each statement's name and numbered text, by its text in the ledger. */
const statements = new Map<string, { name: string; text: string }>();

/**
 * A named statement: each connection parses it once, and PostgreSQL keeps its plan, where an
 * unnamed one is parsed and planned at every run. The ledger's statements are a fixed set: their
 * values are parameters, never part of the text.
 */
function statement(sql: string, params: readonly unknown[]): pg.QueryConfig {
  let known = statements.get(sql);
  if (!known) {
    known = { name: `og_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`, text: numbered(sql) };
    statements.set(sql, known);
  }
  return { ...known, values: [...params] };
}

function queries(pool: pg.Pool): Db {
  return {
    all: async <T>(sql: string, params: readonly unknown[] = []) => (await pool.query(statement(sql, params))).rows as T[],
    run: async (sql: string, params: readonly unknown[] = []) => (await pool.query(statement(sql, params))).rowCount ?? 0,
  };
}

/**
 * One transaction's statements on one connection in pipeline mode: every statement goes to the
 * server at once, behind those before it, and the server runs them in order. Only the answers the
 * transaction reads are waited for, and each of those waits for every answer before it too, so a
 * statement sent and failed is thrown by the next statement awaited, or by the commit.
 *
 * A COMMIT sent behind a failed statement rolls back, since the server failed the transaction.
 * That holds because every failure here is the server's: pg refuses a query before sending it
 * only for a malformed one (no text, a name reused for other text, values it cannot encode), and
 * statement() names each text by its hash, with values that are numbers, strings or null.
 */
class PipelinedTransaction implements Transaction {
  #unread: Array<Promise<unknown>> = [];

  constructor(private readonly client: PoolClient) {}

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return (await this.#answer(statement(sql, params))).rows as T[];
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return (await this.#answer(statement(sql, params))).rowCount ?? 0;
  }

  send(sql: string, params: readonly unknown[] = []): void {
    this.#unread.push(this.#query(statement(sql, params)));
  }

  /** Sends text as it is, never prepared: BEGIN, COMMIT, a migration's script of several statements. */
  sendText(text: string): void {
    this.#unread.push(this.#query(text));
  }

  /** Waits for every answer not yet read; throws the first failure among them. */
  async settled(): Promise<void> {
    const unread = this.#unread;
    this.#unread = [];
    await Promise.all(unread);
  }

  async #answer(query: pg.QueryConfig): Promise<pg.QueryResult> {
    const answer = this.#query(query);
    await this.settled();
    return answer;
  }

  /** A failure is kept for whoever reads the answer, never reported as unhandled on its own. */
  #query(query: pg.QueryConfig | string): Promise<pg.QueryResult> {
    const answer = this.client.query(query);
    answer.catch(() => {});
    return answer;
  }
}

/**
 * Whether a connection's prepared statements no longer fit the server: a column a statement reads
 * changed its type (a later release's migration), or a pooler in front mixed up the sessions.
 * The connection is given up and the work runs again on another, which prepares afresh.
 */
function staleStatements(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code === '26000' || code === '42P05') return true; // no such prepared statement; one already exists
  return code === '0A000' && typeof message === 'string' && message.includes('cached plan must not change result type');
}

/** Statements outside a transaction: the pool drops a connection that failed, so once more is on another. */
function againIfStale(db: Db): Db {
  const again = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (!staleStatements(error)) throw error;
      return run();
    }
  };
  return {
    all: (sql, params) => again(() => db.all(sql, params)),
    run: (sql, params) => again(() => db.run(sql, params)),
  };
}

export class PostgresAdapter implements Adapter {
  readonly dialect = POSTGRES;
  readonly claimsNeedDisk = true;
  readonly db: Db;
  readonly pool: pg.Pool;
  #closed = false;

  constructor(url: string) {
    this.pool = new pg.Pool({ connectionString: url, types, connectionTimeoutMillis: 10_000, pipeline: true });
    // A pooled idle connection that breaks (a database restart) is dropped by the pool; the
    // next query opens a new one or fails on its own. Without a listener the error would
    // crash the process.
    this.pool.on('error', () => {});
    // A connection lost while in use is reported by the failures of its queries, and by its
    // client too; the pool listens to the client only while it is idle, and an unheard report
    // would crash the process. Heard from the moment the client exists, even while it is being
    // handed out.
    this.pool.on('connect', (client) => client.on('error', () => {}));
    this.db = againIfStale(queries(this.pool));
  }

  write<T>(work: (db: Transaction) => Promise<T>, { durable = true } = {}): Promise<T> {
    return this.#transaction('BEGIN', (tx) => {
      if (!durable) tx.send('SET LOCAL synchronous_commit = off');
      return work(tx);
    });
  }

  read<T>(work: (db: Db) => Promise<T>): Promise<T> {
    return this.#transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', work);
  }

  retryable(error: unknown): boolean {
    const code = (error as { code?: string }).code;
    return (code !== undefined && RETRYABLE.has(code)) || staleStatements(error);
  }

  isOutage(error: unknown): boolean {
    const code = (error as { code?: unknown }).code;
    // A refusal carries a SQLSTATE; a lost or refused connection carries none (or a system
    // code such as ECONNREFUSED). Classes 08, 53, 57 and 58: connection, resources, shutdown, system.
    return typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || /^(08|53|57|58)/.test(code);
  }

  lockGroupWriters(db: Transaction, ogId: number): void {
    db.send('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [groupLock(ogId)]);
  }

  /**
   * From the events' own sequence, taken under the group's writers lock: every event of the
   * group that committed before has a smaller number, and every later one a larger one.
   */
  async nextSeq(db: Db): Promise<number> {
    const [row] = await db.all<{ seq: number }>("SELECT nextval(pg_get_serial_sequence('events', 'seq')) AS seq");
    return row!.seq;
  }

  migrate(): Promise<number[]> {
    return this.#transaction('BEGIN', async (db) => {
      // Replicas starting at once: the first migrates, the others wait here and find it done.
      await db.all('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [MIGRATE_LOCK]);
      await db.run('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      const done = new Set((await db.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version));
      const applied: number[] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        db.sendText(migration.sql.postgres);
        await db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
          migration.version,
          migration.name,
          new Date().toISOString(),
        ]);
        applied.push(migration.version);
      }
      return applied;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pool.end();
  }

  /**
   * Runs work in one transaction on one pooled connection; a deadlock or serialization
   * failure rolls back and runs it again, as often as ATTEMPTS allows, and so does a connection
   * whose prepared statements went stale, or that was lost, on another connection. BEGIN goes out
   * with the work's first statements, and COMMIT with its last: a COMMIT behind a failed statement
   * only rolls back.
   *
   * A lost connection (cut, the server restarting) is tried again because Drupal's webhooks
   * module never delivers twice: the work must not fail while another connection can do it. Had
   * the lost COMMIT been applied, the work finds itself done: its events are duplicates, and the
   * other writes (marks, results, leases) set again what they set.
   */
  async #transaction<T>(begin: string, work: (tx: PipelinedTransaction) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      const tx = new PipelinedTransaction(client);
      let broken: Error | undefined;
      try {
        tx.sendText(begin);
        const result = await work(tx);
        tx.sendText('COMMIT');
        await tx.settled();
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error; // the connection is lost: the pool discards it
        }
        const lost = broken !== undefined;
        if (staleStatements(error)) broken ??= error as Error;
        if (attempt >= ATTEMPTS || !(lost || this.retryable(error))) throw error;
      } finally {
        client.release(broken);
      }
    }
  }
}

export class PostgresStore extends Ledger {
  constructor(url: string) {
    super(new PostgresAdapter(url));
  }

  /**
   * A store whose database answered: start-up fails at once, with one clear line that names
   * the server but never the credentials, rather than at the first request.
   */
  static async open(url: string): Promise<PostgresStore> {
    let store: PostgresStore | undefined;
    try {
      store = new PostgresStore(url);
      await (store.adapter as PostgresAdapter).pool.query('SELECT 1');
      return store;
    } catch (error) {
      await store?.close().catch(() => {});
      let message = (error as Error).message || String(error);
      for (const secret of passwordsOf(url)) message = message.split(secret).join('***');
      throw new Error(`PostgreSQL at ${describeDatabaseUrl(url)} did not answer: ${message}`);
    }
  }
}

/** The URL without user, password or parameters: safe to print. */
export function describeDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return 'postgres://<unparsable URL>';
  }
}

/** The URL's password as written and decoded, to keep it out of any message. */
function passwordsOf(url: string): string[] {
  try {
    const { password } = new URL(url);
    return password === '' ? [] : [password, decodeURIComponent(password)];
  } catch {
    return [];
  }
}
