// The embedded store: the ledger on one SQLite file in WAL mode, through better-sqlite3.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Ledger } from './ledger.js';
import { migrations } from './migrations.js';
import type { Adapter, Db, Dialect, Transaction } from './sql.js';

const SQLITE: Dialect = {
  // Every process sharing a SQLite file runs on the one host whose clock this reads.
  now: "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
  // LIMIT keeps SQLite from flattening the rows into a join, where it would scan the whole JSON
  // array once per row of the table it updates (quadratic): materialized, they drive the lookups.
  rows: (columns) => `(SELECT ${Object.keys(columns).map((c) => `json_extract(value, '$.${c}') AS ${c}`).join(', ')} FROM json_each(?) LIMIT -1)`,
  // better-sqlite3 binds every number as a REAL: cast, an int column compares and stores as it does from JSON.
  row: (columns) => `(SELECT ${Object.entries(columns).map(([c, type]) => `CAST(? AS ${type === 'int' ? 'INTEGER' : 'TEXT'}) AS ${c}`).join(', ')})`,
  inList: (column) => `${column} IN (SELECT value FROM json_each(?))`,
  greatest: (a, b) => `max(${a}, ${b})`,
  least: (a, b) => `min(${a}, ${b})`,
  rewritesUnchangedIndexes: true,
  forUpdate: '',
  skipLocked: () => '',
};

/**
 * better-sqlite3 runs each statement synchronously on one connection. The ledger's transactions
 * await between statements, so they take turns: one at a time, each from BEGIN to COMMIT, and
 * the statements outside them wait their turn too. Other processes on the file wait for the
 * writer's lock (busy_timeout).
 */
export class SqliteAdapter implements Adapter {
  readonly dialect = SQLITE;
  readonly claimsNeedDisk = false;
  readonly db: Db;
  readonly #sqlite: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  #turn: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#sqlite = new Database(path);
    this.#sqlite.pragma('journal_mode = WAL');
    // FULL makes each acknowledged event survive a power cut, not only a process crash.
    this.#sqlite.pragma('synchronous = FULL');
    this.#sqlite.pragma('busy_timeout = 5000');
    this.#sqlite.pragma('foreign_keys = ON');
    const direct = this.#direct();
    this.db = {
      all: (sql, params) => this.#inTurn(() => direct.all(sql, params)),
      run: (sql, params) => this.#inTurn(() => direct.run(sql, params)),
    };
  }

  write<T>(work: (db: Transaction) => Promise<T>, { durable = true } = {}): Promise<T> {
    // IMMEDIATE takes the write lock at once: no other process writes between our reads and writes.
    return this.#transaction('BEGIN IMMEDIATE', work, durable);
  }

  read<T>(work: (db: Db) => Promise<T>): Promise<T> {
    return this.#transaction('BEGIN', work);
  }

  isOutage(error: unknown): boolean {
    // The file is locked too long, the disk is full or failing, or the file cannot be written.
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED|IOERR|FULL|READONLY|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/.test(code);
  }

  retryable(): boolean {
    // A transaction that holds the write lock (IMMEDIATE) meets no one to wait for.
    return false;
  }

  lockGroupWriters(): void {
    // The one writer of the file runs alone already.
  }

  /**
   * Reserved in AUTOINCREMENT's counter, so the next event gets a higher one: were they equal,
   * a sync that read the mark would also count that event's change as synced.
   */
  async nextSeq(db: Db): Promise<number> {
    const [reserved] = await db.all<{ seq: number }>("UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'events' RETURNING seq");
    if (reserved) return reserved.seq;
    await db.run("INSERT INTO sqlite_sequence (name, seq) VALUES ('events', 1)");
    return 1;
  }

  migrate(): Promise<number[]> {
    return this.#inTurn(() => {
      this.#sqlite.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      const done = new Set(this.#sqlite.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
      const applied: number[] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        this.#sqlite.transaction(() => {
          this.#sqlite.exec(migration.sql.sqlite);
          this.#sqlite
            .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
            .run(migration.version, migration.name, new Date().toISOString());
        })();
        applied.push(migration.version);
      }
      return applied;
    });
  }

  async close(): Promise<void> {
    await this.#inTurn(() => {
      if (this.#sqlite.open) this.#sqlite.close();
    });
  }

  async #transaction<T>(begin: string, work: (db: Transaction) => Promise<T>, durable = true): Promise<T> {
    return this.#inTurn(async () => {
      // In WAL mode NORMAL commits without an fsync; the next FULL commit syncs its frames too.
      // A pragma acts when it is prepared, not when it runs: never from the statement cache.
      if (!durable) this.#sqlite.pragma('synchronous = NORMAL');
      try {
        this.#exec(begin);
        try {
          const result = await work(this.#direct());
          this.#exec('COMMIT');
          return result;
        } catch (error) {
          if (this.#sqlite.inTransaction) this.#exec('ROLLBACK');
          throw error;
        }
      } finally {
        if (!durable) this.#sqlite.pragma('synchronous = FULL');
      }
    });
  }

  /**
   * Statements run at once: only for whoever holds the turn. A statement sent fails at once too,
   * and with it the transaction's work.
   */
  #direct(): Transaction {
    return {
      all: async <T>(sql: string, params: readonly unknown[] = []) => this.#prepared(sql).all(...bindable(params)) as T[],
      run: async (sql: string, params: readonly unknown[] = []) => this.#prepared(sql).run(...bindable(params)).changes,
      send: (sql: string, params: readonly unknown[] = []) => void this.#prepared(sql).run(...bindable(params)),
    };
  }

  /** A statement without parameters or rows (BEGIN, COMMIT, ROLLBACK), prepared once. */
  #exec(sql: string): void {
    this.#prepared(sql).run();
  }

  #prepared(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#sqlite.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #inTurn<T>(work: () => T | Promise<T>): Promise<T> {
    const result = this.#turn.then(work);
    this.#turn = result.catch(() => undefined);
    return result;
  }
}

/** better-sqlite3 binds numbers, strings, null and buffers; undefined is NULL. */
function bindable(params: readonly unknown[]): unknown[] {
  return params.map((p) => (p === undefined ? null : p));
}

export class SqliteStore extends Ledger {
  constructor(path: string) {
    super(new SqliteAdapter(path));
  }
}
