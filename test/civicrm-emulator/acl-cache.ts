/**
 * CiviCRM's ACL cache (table civicrm_acl_cache): the ACLs that apply to a contact, worked out
 * the first time the contact's access is checked and then kept (CRM_ACL_BAO_Cache::build,
 * CRM/ACL/BAO/Cache.php) until something resets it (CRM_ACL_BAO_Cache::resetCache). All of it
 * read in CRM/ACL/BAO/Cache.php, CRM/ACL/BAO/ACL.php and CRM/ACL/BAO/ACLEntityRole.php at 5.69
 * and 6.14:
 *
 * - deleting an ACL (CRM_ACL_BAO_ACL::self_hook_civicrm_pre, on `delete` only); creating or
 *   editing one through the API does not;
 * - nothing in CRM_ACL_BAO_ACLEntityRole: AclRole writes never reset it (only the admin form
 *   CRM/ACL/Form/EntityRole.php does, 5.69 and 6.14);
 * - a GroupContact add or remove, through CRM_Contact_BAO_Contact_Utils::clearContactCaches →
 *   CRM_ACL_BAO_Cache::opportunisticCacheFlush, only while the setting `acl_cache_refresh_mode`
 *   is `opportunistic` (its default; settings/Core.setting.php, added in 5.37: absent at 5.36,
 *   present at 5.37); before 5.37 clearContactCaches called resetCache unconditionally (5.36);
 * - Job.acl_cache_flush (api/v3/Job.php, from 5.37: absent at 5.36, present at 5.37).
 *
 * resetCache keeps rows younger than smartGroupCacheTimeout (getCacheInvalidDateTime, 5.69);
 * the emulator drops them all. Which ACLs apply follows CRM_ACL_BAO_ACL::getGroupACLRoles (5.69,
 * 6.14): the contact is Added to a group, an active entity role gives that group an active
 * acl_role option value, and an active ACL of that role grants the access.
 */
import type { EmulatorDb } from './db.js';

export type AclCacheRefreshMode = 'opportunistic' | 'deterministic';

export class AclCache {
  private readonly cached = new Map<number, number[]>();

  constructor(private readonly db: EmulatorDb) {}

  /**
   * The group ids a contact may edit, from the cache when there is an entry. Narrower than
   * CRM_ACL_BAO_ACL::loadPermittedIDs (5.69): only `Edit` rows naming one group count; CiviCRM also
   * lets `All` match, reads object_id 0 as every group, and lets a deny row take groups away.
   */
  editableGroups(contactId: number): number[] {
    let aclIds = this.cached.get(contactId);
    if (!aclIds) {
      aclIds = this.applyingAcls(contactId);
      this.cached.set(contactId, aclIds);
    }
    const groups = aclIds.flatMap((id) => {
      const acl = this.db.acls.get(id);
      const onGroups = acl?.object_table === 'civicrm_group' || acl?.object_table === 'civicrm_saved_search';
      return acl && onGroups && acl.operation === 'Edit' && acl.object_id !== null ? [acl.object_id] : [];
    });
    return [...new Set(groups)].sort((a, b) => a - b);
  }

  /** CRM_ACL_BAO_Cache::resetCache (5.69, 6.14) */
  reset(): void {
    this.cached.clear();
  }

  private applyingAcls(contactId: number): number[] {
    const db = this.db;
    const activeRoles = new Set(db.optionValuesOf('acl_role').filter((v) => v.is_active).map((v) => Number(v.value)));
    const roles = new Set<number>();
    for (const gc of db.by.contactMemberships.get(String(contactId))) {
      if (gc.status !== 'Added') continue;
      for (const er of db.by.aclEntityRoleTarget.get(`civicrm_group:${gc.group_id}`)) {
        if (er.is_active && activeRoles.has(er.acl_role_id)) roles.add(er.acl_role_id);
      }
    }
    return db.acls
      .filter((a) => a.is_active && !a.deny && a.entity_table === 'civicrm_acl_role' && a.entity_id !== null && roles.has(a.entity_id))
      .map((a) => a.id);
  }
}
