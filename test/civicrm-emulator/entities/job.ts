/**
 * Job (api/v3/Job.php): only `acl_cache_flush`, which CiviCRM added in 5.37 (dev/core#2477,
 * release-notes/5.37.0.md; absent from api/v3/Job.php at 5.36, present at 5.37, unchanged at 5.69).
 * It calls CRM_ACL_BAO_Cache::resetCache() and answers
 * civicrm_api3_create_success() with no values: `count: 1, values: 1`. Before 5.37 the action
 * does not exist: Civi\API\Kernel::resolve answers "API (Job, acl_cache_flush) does not exist".
 * No `_spec`: it takes no parameters; its permission is the catch-all default `administer CiviCRM`
 * (CRM_Core_Permission::getEntityActionPermissions lists only process_batch_merge for Job, 5.69).
 */
import { successFlag } from '../envelope.js';
import { notImplemented } from '../errors.js';
import type { EntityDef } from '../kernel.js';
import { versionAtLeast } from '../version.js';

export const jobEntity: EntityDef = {
  name: 'Job',
  idAlias: false,
  actions: {
    acl_cache_flush: {
      run: (_params, ctx) => {
        if (!versionAtLeast(ctx.version, '5.37')) throw notImplemented('Job', 'acl_cache_flush');
        ctx.db.aclCache.reset();
        return successFlag(1);
      },
    },
  },
};
