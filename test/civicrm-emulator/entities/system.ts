/**
 * System (api/v3/System.php): only `get`, which reports the version. civicrm_api3_system_get (5.69,
 * 6.14) answers one record under key 0 with `version` (CRM_Utils_System::version()), `uf` (the
 * CIVICRM_UF constant) and `civi.version`, among many more fields the emulator leaves out.
 * `Drupal8` is the CIVICRM_UF of a Drupal 8 or later site: the installer writes its cms name
 * there (templates/CRM/common/civicrm.settings.php.template; setup/src/Setup/Model.php lists
 * 'Backdrop', 'Drupal', 'Drupal8', 'Joomla', 'WordPress'; both read at 5.69).
 */
import { success } from '../envelope.js';
import type { EntityDef } from '../kernel.js';

export const systemEntity: EntityDef = {
  name: 'System',
  idAlias: false,
  actions: {
    // One record under key 0, which PHP encodes as a JSON list even without `sequential`.
    get: {
      run: (params, ctx) =>
        success([[0, { version: ctx.version, uf: 'Drupal8', civi: { version: ctx.version } }]], { ...params, sequential: 1 }),
    },
  },
};
