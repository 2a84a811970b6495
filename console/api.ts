// The operator API as the console calls it. The token lives in sessionStorage only: it is gone
// when the tab closes, and never sits in a URL, a cookie or localStorage.

const TOKEN_KEY = 'og-civicrm-sync.admin-token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string): void => sessionStorage.setItem(TOKEN_KEY, value),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

/** Fired when the stored token is refused (ADMIN_TOKEN changed on the server): the tab signs out. */
export const REFUSED_EVENT = 'og-sync-token-refused';

/** Calls the operator API; rejects with the problem document's detail on any error answer. */
export async function api<T>(method: 'GET' | 'POST', path: string, bearer = token.get()): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${bearer ?? ''}`, accept: 'application/json' },
  });
  const body = (await response.json().catch(() => ({}))) as { detail?: string; title?: string };
  if (response.status === 401 && bearer === token.get()) dispatchEvent(new Event(REFUSED_EVENT));
  if (!response.ok) throw new ApiError(response.status, body.detail ?? body.title ?? `HTTP ${response.status}`);
  return body as T;
}

export interface Status {
  version: string;
  database: string;
  startedAt: string;
  uptimeSeconds: number;
  accepting: boolean;
  pending: number;
  retrying: number;
  dead: number;
  done: number;
  work: { groups: Counts; members: Counts };
  store: { available: boolean; since: string | null; lastError: string | null };
  civicrm: { reachable: boolean | null; lastContactAt: string | null; version: string | null; lastError: string | null };
}
export interface Counts {
  total: number;
  dirty: number;
  dead: number;
}
export interface Minute {
  at: string;
  accepted: number;
  backlog: number | null;
}
export type SyncState = 'clean' | 'dirty' | 'dead';
export interface Group {
  ogId: number;
  title?: string;
  deleted: boolean;
  syncState: SyncState;
  attempts: number;
  lastError?: string;
  syncedAt?: number;
  /** An administrator by ownership, whatever their membership says. */
  ownerUid?: number;
  civi?: { memberGroupId?: number; aclGroupId?: number; roleId?: number; roleValue?: number };
}
export interface Member {
  uid: number;
  state: string;
  isAdmin: boolean;
  syncState: SyncState;
  attempts: number;
  lastError?: string;
  civiMemberStatus?: string;
  civiAclStatus?: string;
}
export interface EventSummary {
  id: string;
  source: string;
  type: string;
  status: string;
  received_at: string;
  attempts: number;
  last_error: string | null;
}
export interface ReconcileReport {
  memberGroupId: number | null;
  aclGroupId: number | null;
  groupChanges: string[];
  missing: Array<{ uid: number; contactId: number; group: string; wanted: string }>;
  wrongStatus: Array<{ uid: number; contactId: number; group: string; actual: string; wanted: string }>;
  extra: Array<{ contactId: number; group: string; actual: string }>;
  withoutContact: number[];
}
