/**
 * An in-memory CiviCRM answering API v3 over REST, faithful to what a sync
 * client can trip on. Start one per test (or per suite):
 *
 *   const civi = await startEmulator();
 *   // point the client at civi.restUrl with civi.siteKey / civi.apiKey
 *   civi.db.groupBySource('OG Sync Group :42:');
 *   await civi.close();
 */
import { EmulatorDb } from './db.js';
import { ENTITIES } from './entities/index.js';
import { GROUP_ACL_TABLE_CHANGE } from './entities/acl.js';
import { Faults, type EmulatorFaults } from './faults.js';
import { Kernel, type ApiContext } from './kernel.js';
import { Rest, type CallRecord } from './rest.js';
import { LEGACY_PATH, REST_PATH, Transport } from './server.js';
import { compareVersions } from './version.js';

export type { CallRecord } from './rest.js';
export type { EmulatorFaults, FaultKind } from './faults.js';
export { EmulatorDb } from './db.js';
export type {
  AclEntityRoleRow,
  AclRow,
  ContactRow,
  EmailRow,
  GroupContactRow,
  GroupContactStatus,
  GroupRow,
  NewContact,
  NewGroup,
  OptionGroupRow,
  OptionValueRow,
  UFMatchRow,
} from './db.js';

export interface EmulatorOptions {
  /** CiviCRM version reported by System.get, default '5.69.0'. */
  version?: string;
  /** Default 'test-site-key'. */
  siteKey?: string;
  /** API key of the acting contact, default 'test-api-key'. */
  apiKey?: string;
  /** Default 0: a free port. */
  port?: number;
}

export interface CiviEmulator {
  /** http://127.0.0.1:PORT/civicrm/ajax/rest */
  readonly restUrl: string;
  /** http://127.0.0.1:PORT/sites/all/modules/civicrm/extern/rest.php */
  readonly legacyUrl: string;
  readonly siteKey: string;
  readonly apiKey: string;
  /**
   * The version the emulator plays; may change at runtime. Moving from before
   * 5.64 to 5.64 or later runs that upgrade's rewrite of group ACLs
   * (object_table civicrm_saved_search → civicrm_group:
   * CRM/Upgrade/Incremental/sql/5.64.alpha1.mysql.tpl, read at 5.64).
   */
  version: string;
  /** HTTP requests received (an api3 multi-call counts once). */
  readonly requests: number;
  /** Every API call received, including each call of an api3 multi-call (chained calls are not listed). */
  readonly calls: CallRecord[];
  /** Zeroes `requests` and empties `calls`. */
  resetLog(): void;
  faults: EmulatorFaults;
  /** Direct, synchronous access to the tables for seeding and assertions. */
  db: EmulatorDb;
  close(): Promise<void>;
}

class Emulator implements CiviEmulator {
  readonly db = new EmulatorDb();
  readonly faults = new Faults();
  readonly calls: CallRecord[] = [];
  readonly siteKey: string;
  readonly apiKey: string;
  private requestCount = 0;
  private currentVersion: string;
  private actingContactId: number;
  private readonly kernel: Kernel;
  private transport: Transport | undefined;

  constructor(opts: EmulatorOptions) {
    this.currentVersion = opts.version ?? '5.69.0';
    this.siteKey = opts.siteKey ?? 'test-site-key';
    this.apiKey = opts.apiKey ?? 'test-api-key';
    this.actingContactId = this.db.addContact({
      first_name: 'API',
      last_name: 'User',
      email: 'civicrm-api@example.invalid',
      api_key: this.apiKey,
    });
    this.kernel = new Kernel(ENTITIES, () => this.context());
  }

  private context(): ApiContext {
    return {
      db: this.db,
      version: this.currentVersion,
      actingContactId: this.actingContactId,
      rejectedEmail: (email) => this.faults.rejection(email),
      callFailure: (entity, action, checksPermissions) => this.faults.callFailure(entity, action, checksPermissions),
      call: (entity, action, params) => this.kernel.run(entity, action, { version: 3, ...params }),
    };
  }

  async listen(port: number): Promise<void> {
    const rest = new Rest({
      kernel: this.kernel,
      keys: {
        siteKey: this.siteKey,
        contactForApiKey: (key) => this.db.by.contactApiKey.first(key)?.id,
      },
      actAs: (contactId) => {
        this.actingContactId = contactId;
      },
      record: (call) => this.calls.push(call),
    });
    this.transport = await Transport.listen({
      port,
      faults: this.faults,
      onRequest: () => {
        this.requestCount++;
      },
      handle: (req) => rest.handle(req),
    });
  }

  private get origin(): string {
    return `http://127.0.0.1:${this.transport!.port}`;
  }

  get restUrl(): string {
    return this.origin + REST_PATH;
  }

  get legacyUrl(): string {
    return this.origin + LEGACY_PATH;
  }

  get requests(): number {
    return this.requestCount;
  }

  get version(): string {
    return this.currentVersion;
  }

  set version(next: string) {
    const crossing =
      compareVersions(this.currentVersion, GROUP_ACL_TABLE_CHANGE) < 0 && compareVersions(next, GROUP_ACL_TABLE_CHANGE) >= 0;
    // The object_table UPDATE of 5.64.alpha1.mysql.tpl. That script also sets priority = id and
    // deletes ACLs whose object_table is none of group, saved search, profile, custom group, event;
    // the emulator does neither.
    if (crossing) {
      for (const acl of this.db.acls.filter((a) => a.object_table === 'civicrm_saved_search')) {
        this.db.acls.update(acl.id, { object_table: 'civicrm_group' });
      }
    }
    this.currentVersion = next;
  }

  resetLog(): void {
    this.requestCount = 0;
    this.calls.length = 0;
  }

  async close(): Promise<void> {
    await this.transport?.close();
  }
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<CiviEmulator> {
  const emulator = new Emulator(opts);
  await emulator.listen(opts.port ?? 0);
  return emulator;
}
