// Reads the emulator's tables the way an operator would look at CiviCRM after a sync.
import type { CiviEmulator } from '../civicrm-emulator/index.js';

export function ogGroups(emulator: CiviEmulator, ogId: number) {
  const db = emulator.db;
  const member = db.groupBySource(`OG Sync Group :${ogId}:`);
  const acl = db.groupBySource(`OG Sync Group ACL :${ogId}:`);
  const role = db.optionValuesOf('acl_role').find((r) => r.description === `OG Sync Group ACL :${ogId}:`);
  const entityRoles = role ? db.aclEntityRoles.all().filter((r) => r.acl_role_id === Number(role.value)) : [];
  const acls = role ? db.acls.all().filter((a) => a.entity_table === 'civicrm_acl_role' && a.entity_id === Number(role.value)) : [];
  return { member, acl, role, entityRoles, acls };
}

/** The contact linked to a Drupal user, through UFMatch. */
export function contactOf(emulator: CiviEmulator, uid: number): number | undefined {
  return emulator.db.ufMatchByUfId(uid)?.contact_id;
}

/** GroupContact status of a Drupal user in the member and ACL groups of an OG. */
export function statusesOf(emulator: CiviEmulator, ogId: number, uid: number) {
  const { member, acl } = ogGroups(emulator, ogId);
  const contactId = contactOf(emulator, uid);
  const at = (groupId: number | undefined) =>
    groupId === undefined || contactId === undefined ? undefined : emulator.db.groupContactStatus(groupId, contactId);
  return { member: at(member?.id), acl: at(acl?.id) };
}
