// What the ledger needs of a database: a way to run its statements, and the few places where
// SQLite and PostgreSQL speak differently. Every statement is written once, in ledger.ts, with
// `?` placeholders; an adapter (sqlite.ts, postgres.ts) runs it in its own dialect.
//
// Plain shared SQL rather than a query builder: the two databases already agree on nearly all
// of it (ON CONFLICT upserts, RETURNING, UPDATE … FROM, FILTER, row values), the statements stay
// readable and greppable as the SQL that runs, and the differences fit in one small interface.

/** Runs statements; `?` marks each parameter, in order. */
export interface Db {
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a statement; resolves with the number of rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

/** The statements of one transaction. */
export interface Transaction extends Db {
  /**
   * Runs a statement whose answer the transaction does not read, in order with the others. On
   * PostgreSQL it goes to the server with the statements after it, and the COMMIT, without waiting
   * for its answer, so that the writes that end a transaction share one round trip, and a failure
   * is thrown by the next statement awaited, or by the commit. On SQLite it runs at once and
   * throws at once. Either way the failure fails the transaction.
   */
  send(sql: string, params?: readonly unknown[]): void;
}

/** The SQL that differs between the two databases. */
export interface Dialect {
  /** The database's clock in epoch milliseconds: the one clock every lease is measured on. */
  readonly now: string;
  /** A table from one parameter holding a JSON array of objects, with these typed columns. */
  rows(columns: Columns): string;
  /** A table of one row with these typed columns, each a parameter of its own, in their order. */
  row(columns: Columns): string;
  /** `column` is one of the values of one parameter holding a JSON array of integers. */
  inList(column: string): string;
  greatest(a: string, b: string): string;
  least(a: string, b: string): string;
  /**
   * Whether an update rewrites every index holding a column it sets, even to the value it held
   * (SQLite). PostgreSQL compares the values, and leaves an index whose columns keep theirs.
   */
  readonly rewritesUnchangedIndexes: boolean;
  /** Locks the rows a SELECT reads until commit (SQLite needs none: its one writer runs alone). */
  readonly forUpdate: string;
  /** Locks the rows of `table` a SELECT reads, passing over rows another transaction holds. */
  skipLocked(table: string): string;
}

export interface Adapter {
  readonly dialect: Dialect;
  /** Statements outside any transaction. */
  readonly db: Db;
  /**
   * Runs work in one write transaction, and again when the database asks for a retry. With
   * `durable: false` the commit does not wait for the disk: a crash of the machine (SQLite) or
   * of the database server (PostgreSQL) may lose it, and any later durable commit makes it
   * durable too. Only for records a sync can redo: its results and lease releases; never an
   * event, nor a claim where `claimsNeedDisk`.
   */
  write<T>(work: (db: Transaction) => Promise<T>, options?: { durable?: boolean }): Promise<T>;
  /**
   * Whether a claim must wait for the disk. A fencing token must never go back while a process
   * holding it lives: PostgreSQL's server can crash and lose a commit while its clients go on.
   * A SQLite file loses a commit only when its host goes down, and every process using it with it.
   */
  readonly claimsNeedDisk: boolean;
  /** Whether a failure is the database asking for the transaction to run again. */
  retryable(error: unknown): boolean;
  /**
   * Whether a failure is the database being out of reach or out of resources (connection lost,
   * disk full, locked too long), not a refusal of what a statement asked.
   */
  isOutage(error: unknown): boolean;
  /** Runs reads on one consistent snapshot. */
  read<T>(work: (db: Db) => Promise<T>): Promise<T>;
  /**
   * Makes the statements after it wait for the other writers of one OG group, so that the group's
   * sequence numbers grow in commit order (SQLite: its single writer already does).
   */
  lockGroupWriters(db: Transaction, ogId: number): void;
  /** A sequence number newer than every event, taken from the events' own counter. */
  nextSeq(db: Db): Promise<number>;
  /** Creates or updates the schema; the versions applied now. */
  migrate(): Promise<number[]>;
  close(): Promise<void>;
}

/** The typed columns of a table of rows given as parameters. */
export type Columns = Readonly<Record<string, 'int' | 'text'>>;

/** A JSON array parameter for `Dialect.rows` and `Dialect.inList`. */
export const json = (value: unknown): string => JSON.stringify(value);

/**
 * The table of `count` rows a statement reads: one row (an event at a time, the common case) as
 * parameters of its own, more as one JSON array, a statement whatever their number. Written and
 * read as JSON, one row cost SQLite about 2 µs more per statement.
 */
export function tableOf(d: Dialect, columns: Columns, count: number): string {
  return count === 1 ? d.row(columns) : d.rows(columns);
}

/** The parameters of `tableOf` for these rows; an absent field is NULL. */
export function tableParams(columns: Columns, rows: readonly object[]): unknown[] {
  if (rows.length !== 1) return [json(rows)];
  const row = rows[0] as Record<string, unknown>;
  return Object.keys(columns).map((column) => row[column] ?? null);
}
