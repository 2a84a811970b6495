import type { EntityDef } from '../kernel.js';
import { aclEntity, aclRoleEntity } from './acl.js';
import { contactEntity } from './contact.js';
import { emailEntity } from './email.js';
import { groupEntity } from './group.js';
import { groupContactEntity } from './groupContact.js';
import { jobEntity } from './job.js';
import { optionValueEntity } from './optionValue.js';
import { systemEntity } from './system.js';
import { ufMatchEntity } from './ufMatch.js';

/** Every entity the emulator serves (API v3 has no ACLEntityRole: api/v3/ holds Acl.php and AclRole.php only, 5.69 and 6.14; that name is API4's). */
export const ENTITIES: readonly EntityDef[] = [
  groupEntity,
  groupContactEntity,
  contactEntity,
  emailEntity,
  ufMatchEntity,
  optionValueEntity,
  aclEntity,
  aclRoleEntity,
  systemEntity,
  jobEntity,
];
