/** System (api/v3/System.php): only `get`, which reports the version. */
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
