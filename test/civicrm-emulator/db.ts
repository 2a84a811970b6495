/**
 * The emulator's database: the CiviCRM tables the sync touches, their indexes,
 * and helpers for tests to seed and inspect them synchronously.
 */
import { collationKey } from './collation.js';
import { Journal, Table, type Index, type Row } from './table.js';
import { AclCache, type AclCacheRefreshMode } from './acl-cache.js';

export type GroupContactStatus = 'Added' | 'Pending' | 'Removed';

export interface GroupRow extends Row {
  readonly name: string;
  readonly title: string;
  readonly description: string | null;
  readonly source: string | null;
  /** Option values of `group_type`: 1 Access Control, 2 Mailing List (sql/civicrm_data/civicrm_option_group/group_type.sqldata.php, 5.69). */
  readonly group_type: readonly number[];
  readonly is_active: boolean;
  readonly visibility: string;
  readonly is_hidden: boolean;
  readonly is_reserved: boolean;
  readonly created_id: number | null;
  readonly modified_id: number | null;
}

export interface GroupContactRow extends Row {
  readonly group_id: number;
  readonly contact_id: number;
  readonly status: GroupContactStatus;
  /**
   * Date and method of the subscription history entry (civicrm_subscription_history), which
   * CRM_Contact_BAO_GroupContact::getContactGroup joins in for GroupContact.get per contact (5.69).
   */
  readonly date: string;
  readonly method: string;
}

export interface ContactRow extends Row {
  readonly contact_type: string;
  readonly first_name: string | null;
  readonly last_name: string | null;
  readonly display_name: string | null;
  readonly sort_name: string | null;
  readonly is_deleted: boolean;
  readonly api_key: string | null;
}

export interface EmailRow extends Row {
  readonly contact_id: number;
  readonly email: string;
  readonly is_primary: boolean;
  readonly location_type_id: number;
}

export interface UFMatchRow extends Row {
  readonly domain_id: number;
  readonly uf_id: number;
  readonly uf_name: string;
  readonly contact_id: number;
}

export interface OptionGroupRow extends Row {
  readonly name: string;
  readonly title: string;
}

export interface OptionValueRow extends Row {
  readonly option_group_id: number;
  readonly label: string;
  readonly value: string;
  readonly name: string;
  readonly description: string | null;
  readonly weight: number;
  readonly is_active: boolean;
  readonly is_default: boolean;
  readonly is_reserved: boolean;
  readonly filter: number;
}

export interface AclRow extends Row {
  readonly name: string | null;
  readonly deny: boolean;
  readonly entity_table: string;
  readonly entity_id: number | null;
  readonly operation: string;
  readonly object_table: string;
  readonly object_id: number | null;
  readonly is_active: boolean;
  /**
   * Only exists from CiviCRM 5.64 on (FiveSixtyFour.php adds `priority int NOT NULL DEFAULT 0`;
   * absent from CRM/ACL/DAO/ACL.php at 5.63); the API hides it for older versions.
   */
  readonly priority: number;
}

export interface AclEntityRoleRow extends Row {
  readonly acl_role_id: number;
  readonly entity_table: string;
  readonly entity_id: number;
  readonly is_active: boolean;
}

export interface NewContact {
  email?: string;
  first_name?: string;
  last_name?: string;
  is_deleted?: boolean;
  contact_type?: string;
  api_key?: string;
}

export interface NewGroup {
  title: string;
  name?: string;
  source?: string;
  description?: string;
  group_type?: readonly number[];
  is_active?: boolean;
  visibility?: string;
}

/** The single CiviCRM domain the emulator models. */
export const DOMAIN_ID = 1;

/** A MySQL DATETIME for "now"; CiviCRM writes date('YmdHis') (CRM/Contact/BAO/GroupContact.php, 5.69). */
export function sqlNow(): string {
  return new Date().toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * display_name and sort_name as CRM_Contact_BAO_Individual::format builds them for an Individual
 * (CRM/Contact/BAO/Individual.php with the default display_name_format / sort_name_format of
 * settings/Core.setting.php, 5.69): `first last` and `last, first`, the primary email when both
 * are empty. Prefix and suffix are not modelled.
 */
export function contactNames(first: string | null, last: string | null, email: string | null): {
  display_name: string | null;
  sort_name: string | null;
} {
  const display = [first, last].filter((p) => p).join(' ');
  const sort = [last, first].filter((p) => p).join(', ');
  return { display_name: display || email, sort_name: sort || email };
}

export class EmulatorDb {
  readonly journal = new Journal();
  readonly aclCache = new AclCache(this);
  /** Settings of CiviCRM's own (civicrm_setting) that change what the API does. */
  readonly settings: { acl_cache_refresh_mode: AclCacheRefreshMode } = { acl_cache_refresh_mode: 'opportunistic' };

  readonly groups = new Table<GroupRow>(this.journal);
  readonly groupContacts = new Table<GroupContactRow>(this.journal);
  readonly contacts = new Table<ContactRow>(this.journal);
  readonly emails = new Table<EmailRow>(this.journal);
  readonly ufMatches = new Table<UFMatchRow>(this.journal);
  readonly optionGroups = new Table<OptionGroupRow>(this.journal);
  readonly optionValues = new Table<OptionValueRow>(this.journal);
  readonly acls = new Table<AclRow>(this.journal);
  readonly aclEntityRoles = new Table<AclEntityRoleRow>(this.journal);

  /** Lookups the API uses; keys of text columns are collation keys. */
  readonly by: {
    readonly groupName: Index<GroupRow>;
    readonly groupTitle: Index<GroupRow>;
    readonly groupSource: Index<GroupRow>;
    /** `${group_id}:${contact_id}` — one row per pair, as the UNIQUE key UI_contact_group demands (xml/schema/Contact/GroupContact.xml, 5.69). */
    readonly membership: Index<GroupContactRow>;
    readonly groupMembers: Index<GroupContactRow>;
    readonly contactMemberships: Index<GroupContactRow>;
    readonly emailAddress: Index<EmailRow>;
    readonly contactEmails: Index<EmailRow>;
    readonly contactApiKey: Index<ContactRow>;
    readonly ufId: Index<UFMatchRow>;
    readonly ufName: Index<UFMatchRow>;
    readonly ufContact: Index<UFMatchRow>;
    readonly optionGroupName: Index<OptionGroupRow>;
    readonly optionGroupValues: Index<OptionValueRow>;
    /** `${entity_table}:${entity_id}` */
    readonly aclEntityRoleTarget: Index<AclEntityRoleRow>;
  };

  constructor() {
    const text = (v: string | null): string[] => (v === null ? [] : [collationKey(v)]);
    this.by = {
      groupName: this.groups.index((g) => text(g.name)),
      groupTitle: this.groups.index((g) => text(g.title)),
      groupSource: this.groups.index((g) => text(g.source)),
      membership: this.groupContacts.index((gc) => [`${gc.group_id}:${gc.contact_id}`]),
      groupMembers: this.groupContacts.index((gc) => [String(gc.group_id)]),
      contactMemberships: this.groupContacts.index((gc) => [String(gc.contact_id)]),
      emailAddress: this.emails.index((e) => text(e.email)),
      contactEmails: this.emails.index((e) => [String(e.contact_id)]),
      contactApiKey: this.contacts.index((c) => (c.api_key === null ? [] : [c.api_key])),
      ufId: this.ufMatches.index((u) => [`${u.domain_id}:${u.uf_id}`]),
      ufName: this.ufMatches.index((u) => [`${u.domain_id}:${collationKey(u.uf_name)}`]),
      ufContact: this.ufMatches.index((u) => [`${u.domain_id}:${u.contact_id}`]),
      optionGroupName: this.optionGroups.index((og) => text(og.name)),
      optionGroupValues: this.optionValues.index((ov) => [String(ov.option_group_id)]),
      aclEntityRoleTarget: this.aclEntityRoles.index((r) => [`${r.entity_table}:${r.entity_id}`]),
    };
    this.seedStockData();
  }

  // ---- seeding ---------------------------------------------------------------

  addContact(contact: NewContact = {}): number {
    const first = contact.first_name ?? null;
    const last = contact.last_name ?? null;
    const email = contact.email ?? null;
    const row = this.contacts.insert({
      contact_type: contact.contact_type ?? 'Individual',
      first_name: first,
      last_name: last,
      ...contactNames(first, last, email),
      is_deleted: contact.is_deleted ?? false,
      api_key: contact.api_key ?? null,
    });
    if (email !== null) this.addEmail(row.id, email);
    return row.id;
  }

  /**
   * A merge as CiviCRM's dedupe makes it (CRM/Dedupe/Merger.php, checked at 5.69 and 6.14), `other`
   * into `main`: the main contact's own UFMatch goes and the other's moves to it (operationSql for
   * civicrm_uf_match), the other's group memberships move where the main contact has none and an
   * Added one upgrades the main contact's row (CRM_Contact_BAO_GroupContact::mergeGroupContact,
   * 5.69 and 6.14), and the other contact goes to the trash (Merger calls Contact.delete without
   * skip_undelete: is_deleted = 1). mergeGroupContact then deletes every group_contact row the other
   * contact still has; the emulator leaves those rows in place.
   */
  mergeContacts(main: number, other: number): void {
    for (const link of [...this.by.ufContact.get(`${DOMAIN_ID}:${main}`)]) this.ufMatches.delete(link.id);
    for (const link of [...this.by.ufContact.get(`${DOMAIN_ID}:${other}`)]) this.ufMatches.update(link.id, { contact_id: main });
    for (const gc of [...this.by.contactMemberships.get(String(other))]) {
      const mine = this.membership(gc.group_id, main);
      if (!mine) this.groupContacts.update(gc.id, { contact_id: main });
      else if (gc.status === 'Added' && mine.status !== 'Added') this.groupContacts.update(mine.id, { status: 'Added' });
    }
    this.contacts.update(other, { is_deleted: true });
  }

  /**
   * Adds an email; the contact's first one becomes primary. Location type 1: Contact.create gives a
   * new contact's email CRM_Core_BAO_LocationType::getDefault() (api/v3/Contact.php, 5.69), `Home`,
   * the first and default row of sql/civicrm_data/civicrm_location_type.sqldata.php (5.69).
   */
  addEmail(contactId: number, email: string): number {
    const isFirst = this.by.contactEmails.get(String(contactId)).length === 0;
    return this.emails.insert({ contact_id: contactId, email, is_primary: isFirst, location_type_id: 1 }).id;
  }

  addUFMatch(ufId: number, contactId: number, ufName: string): number {
    return this.ufMatches.insert({ domain_id: DOMAIN_ID, uf_id: ufId, uf_name: ufName, contact_id: contactId }).id;
  }

  /** Schema defaults (xml/schema/Contact/Group.xml, 5.69): active, visibility `User and User Admin Only`. */
  addGroup(group: NewGroup): number {
    const id = this.groups.peekNextId();
    return this.groups.insert({
      id,
      name: group.name ?? `group_${id}`,
      title: group.title,
      description: group.description ?? null,
      source: group.source ?? null,
      group_type: group.group_type ?? [],
      is_active: group.is_active ?? true,
      visibility: group.visibility ?? 'User and User Admin Only',
      is_hidden: false,
      is_reserved: false,
      created_id: null,
      modified_id: null,
    }).id;
  }

  /**
   * Puts a contact into a group with the given status, replacing any row for the pair. Method
   * `Admin` is addContactsToGroup's default (CRM/Contact/BAO/GroupContact.php, 5.69).
   */
  addGroupContact(groupId: number, contactId: number, status: GroupContactStatus = 'Added'): number {
    const old = this.membership(groupId, contactId);
    if (old) this.groupContacts.delete(old.id);
    return this.groupContacts.insert({ group_id: groupId, contact_id: contactId, status, date: sqlNow(), method: 'Admin' }).id;
  }

  // ---- inspection ------------------------------------------------------------

  groupByName(name: string): GroupRow | undefined {
    return this.by.groupName.first(collationKey(name));
  }

  groupsBySource(source: string): GroupRow[] {
    return this.by.groupSource.get(collationKey(source));
  }

  /** The group with this source; throws when several share it (a client bug worth seeing). */
  groupBySource(source: string): GroupRow | undefined {
    const found = this.groupsBySource(source);
    if (found.length > 1) throw new Error(`${found.length} groups have source ${source}`);
    return found[0];
  }

  membership(groupId: number, contactId: number): GroupContactRow | undefined {
    return this.by.membership.first(`${groupId}:${contactId}`);
  }

  groupContactStatus(groupId: number, contactId: number): GroupContactStatus | undefined {
    return this.membership(groupId, contactId)?.status;
  }

  /** Contact ids with this status in the group, ascending. */
  members(groupId: number, status: GroupContactStatus = 'Added'): number[] {
    return this.by.groupMembers
      .get(String(groupId))
      .filter((gc) => gc.status === status)
      .map((gc) => gc.contact_id)
      .sort((a, b) => a - b);
  }

  primaryEmail(contactId: number): EmailRow | undefined {
    return this.by.contactEmails.get(String(contactId)).find((e) => e.is_primary);
  }

  /** Contacts (deleted ones included) whose primary email matches, as MySQL would compare it. */
  contactsByEmail(email: string): ContactRow[] {
    return this.by.emailAddress
      .get(collationKey(email))
      .filter((e) => e.is_primary)
      .map((e) => this.contacts.get(e.contact_id)!);
  }

  ufMatchByUfId(ufId: number): UFMatchRow | undefined {
    return this.by.ufId.first(`${DOMAIN_ID}:${ufId}`);
  }

  optionGroupId(name: string): number | undefined {
    return this.by.optionGroupName.first(collationKey(name))?.id;
  }

  /** Option values of a named option group, e.g. `optionValuesOf('acl_role')`. */
  optionValuesOf(groupName: string): OptionValueRow[] {
    const groupId = this.optionGroupId(groupName);
    return groupId === undefined ? [] : this.by.optionGroupValues.get(String(groupId));
  }

  /**
   * Part of what a fresh CiviCRM install has that the sync can run into: the `acl_role` option group
   * with Administrator (1) and Authenticated (2). A 5.69 install has more
   * (sql/civicrm_data/civicrm_option_group/acl_role.sqldata.php: also `Everyone` (0, reserved), names
   * `Admin` and `Auth`, Authenticated reserved; xml/templates/civicrm_acl.tpl, which
   * setup/src/Setup/SchemaGenerator.php generateBasicData loads: group 1
   * `Administrators`, an `Edit All Contacts` ACL for role 1 on all groups, and that group's entity
   * role); the group's id 43 is the emulator's own.
   */
  private seedStockData(): void {
    const aclRole = this.optionGroups.insert({ id: 43, name: 'acl_role', title: 'ACL Role' });
    const roles = [
      { label: 'Administrator', value: '1' },
      { label: 'Authenticated', value: '2' },
    ];
    roles.forEach((role, i) =>
      this.optionValues.insert({
        option_group_id: aclRole.id,
        label: role.label,
        value: role.value,
        name: role.label,
        description: null,
        weight: i + 1,
        is_active: true,
        is_default: false,
        is_reserved: false,
        filter: 0,
      }),
    );
  }
}
