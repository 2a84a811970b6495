/**
 * In-memory tables with secondary indexes and an undo journal.
 *
 * Rows are immutable snapshots: an update replaces the stored object, so a row
 * read earlier keeps its old values. Ids come from an auto-increment counter that
 * a rollback does not rewind, as with InnoDB's AUTO_INCREMENT (MySQL's behaviour, not
 * read in its source here).
 */

export interface Row {
  readonly id: number;
}

type Undo = () => void;

/** Records how to undo each write while a transaction is open. */
export class Journal {
  private undo: Undo[] | null = null;

  get active(): boolean {
    return this.undo !== null;
  }

  record(step: Undo): void {
    this.undo?.push(step);
  }

  /**
   * Runs `work` atomically. A transaction already open is joined, as CiviCRM's
   * nested API calls reuse the outer transaction unless `is_transactional` is `nest`
   * (Civi/API/Subscriber/TransactionSubscriber.php isNested, 5.69 and 6.14); only the outermost
   * one rolls back.
   */
  atomically<T>(work: () => T): T {
    if (this.undo) return work();
    const undo: Undo[] = [];
    this.undo = undo;
    try {
      const result = work();
      this.undo = null;
      return result;
    } catch (err) {
      this.undo = null;
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
      throw err;
    }
  }
}

/** A secondary index: every key a row produces maps to the ids of such rows. */
export class Index<R extends Row> {
  private readonly map = new Map<string, Set<number>>();

  constructor(
    private readonly table: Table<R>,
    private readonly keysOf: (row: R) => readonly string[],
  ) {}

  /** Rows indexed under `key`, in id order. */
  get(key: string): R[] {
    const ids = this.map.get(key);
    if (!ids) return [];
    return [...ids].sort((a, b) => a - b).map((id) => this.table.get(id)!);
  }

  first(key: string): R | undefined {
    return this.get(key)[0];
  }

  /** @internal */
  add(row: R): void {
    for (const key of this.keysOf(row)) {
      let ids = this.map.get(key);
      if (!ids) this.map.set(key, (ids = new Set()));
      ids.add(row.id);
    }
  }

  /** @internal */
  remove(row: R): void {
    for (const key of this.keysOf(row)) {
      const ids = this.map.get(key);
      ids?.delete(row.id);
      if (ids?.size === 0) this.map.delete(key);
    }
  }
}

export type NewRow<R extends Row> = Omit<R, 'id'> & { id?: number };

/** Some columns of a row, for an update. */
export type Patch<R extends Row> = { -readonly [K in Exclude<keyof R, 'id'>]?: R[K] };

export class Table<R extends Row> implements Iterable<R> {
  private rows = new Map<number, R>();
  private readonly indexes: Index<R>[] = [];
  private nextId = 1;
  /** False once a row went into the map out of id order (explicit ids, rollbacks). */
  private inIdOrder = true;
  private tailId = 0;

  constructor(private readonly journal: Journal) {}

  /** Declares an index; `keysOf` returns the keys a row is found under (none, one or several). */
  index(keysOf: (row: R) => readonly string[]): Index<R> {
    const index = new Index(this, keysOf);
    for (const row of this.rows.values()) index.add(row);
    this.indexes.push(index);
    return index;
  }

  get size(): number {
    return this.rows.size;
  }

  get(id: number): R | undefined {
    return this.rows.get(id);
  }

  /** All rows in id order. */
  all(): R[] {
    if (!this.inIdOrder) {
      this.rows = new Map([...this.rows.entries()].sort(([a], [b]) => a - b));
      this.inIdOrder = true;
    }
    return [...this.rows.values()];
  }

  find(predicate: (row: R) => boolean): R | undefined {
    return this.all().find(predicate);
  }

  filter(predicate: (row: R) => boolean): R[] {
    return this.all().filter(predicate);
  }

  [Symbol.iterator](): Iterator<R> {
    return this.all()[Symbol.iterator]();
  }

  /** Peeks at the id the next insert will get (CiviCRM derives some names from it). */
  peekNextId(): number {
    return this.nextId;
  }

  insert(values: NewRow<R>): R {
    const id = values.id ?? this.nextId;
    if (this.rows.has(id)) throw new Error(`duplicate primary key ${id}`);
    this.nextId = Math.max(this.nextId, id + 1);
    const row = { ...values, id } as unknown as R;
    this.put(row);
    this.journal.record(() => this.drop(row));
    return row;
  }

  update(id: number, patch: Patch<R>): R {
    const old = this.rows.get(id);
    if (!old) throw new Error(`no row ${id}`);
    const row = { ...old, ...patch, id } as R;
    this.replace(old, row);
    this.journal.record(() => this.replace(row, old));
    return row;
  }

  delete(id: number): R | undefined {
    const old = this.rows.get(id);
    if (!old) return undefined;
    this.drop(old);
    this.journal.record(() => this.put(old));
    return old;
  }

  private put(row: R): void {
    if (row.id < this.tailId) this.inIdOrder = false;
    this.tailId = Math.max(this.tailId, row.id);
    this.rows.set(row.id, row);
    for (const index of this.indexes) index.add(row);
  }

  /** Swaps a row's stored version in place, keeping its position in id order. */
  private replace(old: R, row: R): void {
    for (const index of this.indexes) index.remove(old);
    this.rows.set(row.id, row);
    for (const index of this.indexes) index.add(row);
  }

  private drop(row: R): void {
    this.rows.delete(row.id);
    for (const index of this.indexes) index.remove(row);
  }
}
