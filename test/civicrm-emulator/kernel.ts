/**
 * The API v3 kernel (civicrm_api3 → Civi\API\Kernel, Civi/API/Kernel.php): resolves entity and
 * action, applies aliases, defaults and mandatory checks from the entity specs, runs
 * create/delete atomically, runs chained calls (`api.Entity.action`), provides
 * the generic getsingle/getcount/getvalue, and formats failures. Each piece below names the file
 * it follows; all were read at 5.69 and 6.14 and are the same in both.
 */
import type { EmulatorDb } from './db.js';
import { errorResult, isErrorResult, isSuccessEnvelope, type ApiRecord, type Params } from './envelope.js';
import { ApiError, mandatoryMissing, notImplemented } from './errors.js';

export interface ApiContext {
  readonly db: EmulatorDb;
  /** The CiviCRM version the emulator currently plays. */
  readonly version: string;
  /** The contact whose API key authenticated the request. */
  readonly actingContactId: number;
  /** A validation failure configured for Contact.create with this email, if any. */
  rejectedEmail(email: string): string | undefined;
  /**
   * A failure configured for this call (see EmulatorFaults.failCalls and refuseCalls), if any. A
   * refusal needs `check_permissions`, which REST calls set and BAO code's own calls do not.
   */
  callFailure(entity: string, action: string, checksPermissions: boolean): ApiError | undefined;
  /** Runs another API call, as BAO code calls civicrm_api3 internally. */
  call(entity: string, action: string, params: Params): unknown;
}

export interface ActionSpec {
  /** `api.required` fields, checked when no `id` is given. */
  readonly required?: readonly string[];
  /** `api.default` values, applied when no `id` is given. */
  readonly defaults?: Readonly<Params>;
  /** `api.aliases`: alias → field. */
  readonly aliases?: Readonly<Record<string, string>>;
  run(params: Params, ctx: ApiContext): unknown;
}

export interface EntityDef {
  readonly name: string;
  /** Whether `<entity>_id` is an alias of `id` (it is not where that is a real column). */
  readonly idAlias: boolean;
  readonly actions: Readonly<Record<string, ActionSpec>>;
}

/**
 * _civicrm_api_get_entity_name_from_camel (api/api.php) → CRM_Core_DAO_AllCoreTables::
 * convertEntityNameToLower: GroupContact → group_contact, UFMatch → uf_match. CiviCRM also maps
 * ACL, IM and PCP to lower case whole; no entity here needs that.
 */
export function snakeName(entity: string): string {
  if (entity === entity.toLowerCase()) return entity;
  return entity
    .replace(/(?=[A-Z])/g, '_')
    .replace('U_F', 'uf')
    .toLowerCase()
    .replace(/^_+/, '');
}

/** PHP's empty(): what CiviCRM treats as "not given". */
export function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '' || value === '0') return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value).length === 0;
}

/** Civi/API/Subscriber/TransactionSubscriber.php isTransactional, absent an `is_transactional` param. */
const TRANSACTIONAL = new Set(['create', 'delete', 'submit']);

interface Request {
  readonly entity: string;
  readonly action: string;
}

export class Kernel {
  private readonly byKey = new Map<string, EntityDef>();

  constructor(entities: readonly EntityDef[], private readonly context: () => ApiContext) {
    for (const def of entities) this.byKey.set(Kernel.key(def.name), def);
  }

  /**
   * Entity names match loosely: `GroupContact`, `group_contact` and `groupContact` are one entity
   * (Civi/API/Request.php normalizeEntityName camel-cases each `_` part). The emulator also
   * ignores case beyond that, which CiviCRM does not.
   */
  private static key(entity: string): string {
    return entity.replace(/_/g, '').toLowerCase();
  }

  /**
   * The canonical name of an entity; unknown ones are camel-cased as Request::create does
   * (`api3` → `Api3`; CRM_Core_DAO_AllCoreTables::convertEntityNameToCamel).
   */
  canonicalName(entity: string): string {
    const known = this.byKey.get(Kernel.key(entity));
    if (known) return known.name;
    return entity
      .split('_')
      .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
      .join('');
  }

  /**
   * Runs one call and returns what civicrm_api returns: a success envelope, an
   * error array, or a bare value (getsingle, getcount, getvalue). Failures of a
   * chained call (`api.has_parent`) are thrown to the parent instead, as Kernel::createError does:
   * `Error in call to <entity>_<action> : <message>`, code `chained_api_failed` when the
   * failure had none.
   */
  run(entity: string, action: string, params: Params): unknown {
    const def = this.byKey.get(Kernel.key(entity));
    const request: Request = { entity: this.canonicalName(entity), action: action.toLowerCase() };
    try {
      if (!def) throw notImplemented(request.entity, request.action);
      const injected = this.context().callFailure(request.entity, request.action, Boolean(params['check_permissions']));
      if (injected) throw injected;
      return this.dispatch(def, request.action, params);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      return this.fail(err, request, params);
    }
  }

  private fail(err: ApiError, request: Request, params: Params): Params {
    const data = errorResult(err.message, {
      ...err.extra,
      error_code: err.code,
      entity: request.entity,
      action: request.action,
    });
    if (params['api.has_parent']) {
      const code = isEmpty(data['error_code']) ? 'chained_api_failed' : (data['error_code'] as string | number);
      throw new ApiError(`Error in call to ${request.entity}_${request.action} : ${err.message}`, code, data);
    }
    return data;
  }

  private dispatch(def: EntityDef, action: string, params: Params): unknown {
    if (def.actions['get'] && !def.actions[action]) {
      if (action === 'getsingle') return this.getSingle(def, params);
      if (action === 'getcount') return this.getCount(def, params);
      if (action === 'getvalue') return this.getValue(def, params);
    }
    const spec = def.actions[action];
    if (!spec) throw notImplemented(def.name, action);
    const prepared = this.prepare(def, spec, params);
    const work = (): unknown => this.chain(def, action, prepared, spec.run(prepared, this.context()));
    return TRANSACTIONAL.has(action) ? this.context().db.journal.atomically(work) : work();
  }

  /** What Civi/API/Subscriber/APIv3SchemaAdapter.php onApiPrepare does before the action: aliases, defaults, mandatory fields. */
  private prepare(def: EntityDef, spec: ActionSpec, params: Params): Params {
    const prepared: Params = { ...params };
    const aliases: Record<string, string> = { ...spec.aliases };
    // getfields gives `id` the alias `<entity>_id` even where that is a real column
    // (civicrm_api3_generic_getfields, api/v3/Generic.php): AclRole's `acl_role_id` becomes the
    // id and is dropped (dev/core#2615) unless an `id` is given.
    if (def.idAlias) aliases[`${snakeName(def.name)}_id`] = 'id';
    // _civicrm_api3_swap_out_aliases (api/v3/utils.php): the alias fills an unset field and is then removed.
    for (const [alias, field] of Object.entries(aliases)) {
      if (prepared[field] !== undefined && prepared[field] !== null) continue;
      if (prepared[alias] !== undefined && prepared[alias] !== null) prepared[field] = prepared[alias];
      delete prepared[alias];
    }
    // With an id, civicrm_api3_verify_mandatory only checks `version` and the adapter applies no
    // `api.default`: an update needs nothing else. A required field may be 0 or '0', not empty.
    if (isEmpty(prepared['id'])) {
      for (const [field, value] of Object.entries(spec.defaults ?? {})) {
        if (prepared[field] === undefined) prepared[field] = value;
      }
      const missing = (spec.required ?? []).filter(
        (field) => isEmpty(prepared[field]) && prepared[field] !== 0 && prepared[field] !== '0',
      );
      if (missing.length > 0) throw mandatoryMissing(missing);
    }
    return prepared;
  }

  /** civicrm_api3_generic_getsingle (api/v3/Generic.php). */
  private getSingle(def: EntityDef, params: Params): unknown {
    const result = this.dispatch(def, 'get', { ...params, sequential: 1 });
    if (!isSuccessEnvelope(result)) return result;
    if (result.count === 1) return (result.values as unknown[])[0];
    return errorResult(`Expected one ${def.name} but found ${result.count}`, { count: result.count });
  }

  /** civicrm_api3_generic_getcount (api/v3/Generic.php): the get with options.is_count. */
  private getCount(def: EntityDef, params: Params): unknown {
    const options = typeof params['options'] === 'object' && params['options'] !== null ? params['options'] : {};
    const result = this.dispatch(def, 'get', { ...params, options: { ...options, is_count: 1 } });
    return isSuccessEnvelope(result) ? result.count : result;
  }

  /** civicrm_api3_generic_getvalue (api/v3/Generic.php). */
  private getValue(def: EntityDef, params: Params): unknown {
    const result = this.dispatch(def, 'get', { ...params, sequential: 1 });
    if (!isSuccessEnvelope(result)) return result;
    if (result.count !== 1) return errorResult(`Expected one ${def.name} but found ${result.count}`, { count: result.count });
    const field = params['return'];
    if (isEmpty(field)) {
      return errorResult('missing param return=field you want to read the value of', {
        error_type: 'mandatory_missing',
        missing_param: 'return',
      });
    }
    const record = (result.values as ApiRecord[])[0]!;
    const value = record[String(field)];
    if (value === undefined || value === null) {
      return errorResult(`field ${String(field)} unset or not existing`, { invalid_field: field });
    }
    return value;
  }

  /**
   * ChainSubscriber (Civi/API/Subscriber/ChainSubscriber.php callNestedApi): each
   * `api.Entity.action` (or `api_Entity_action`) key runs once per parent record, with the
   * parent's id filled in, and its full result is stored in that record under the same key.
   * CiviCRM enforces version, check_permissions, api.has_parent and debug over the chained call's
   * own params; here the call's own params win.
   */
  private chain(def: EntityDef, action: string, params: Params, result: unknown): unknown {
    if (!isSuccessEnvelope(result)) return result;
    const parentSnake = snakeName(def.name);
    for (const [field, nested] of Object.entries(params)) {
      if (field === 'api.has_parent' || !field.startsWith('api')) continue;
      if (!(nested === 1 || (typeof nested === 'object' && nested !== null))) continue;
      const separator = field[3];
      if (separator !== '.' && separator !== '_') continue;
      const [, subEntityName = '', subActionName] = field.split(separator);
      const subAction = subActionName || action;
      const subSnake = snakeName(subEntityName);
      const records = Object.values(result.values as Record<string, ApiRecord>);
      for (const parent of records) {
        const base: Params = {};
        if (params['debug'] !== undefined) base['debug'] = params['debug'];
        if (subSnake !== 'contact') {
          base['entity_id'] = parent['id'];
          base['entity_table'] = `civicrm_${parentSnake}`;
          base[`${parentSnake}_id`] = parent['id'];
        }
        if (def.name !== 'Contact' && parent[`${subSnake}_id`]) base['id'] = parent[`${subSnake}_id`];
        if (parentSnake === subSnake) base['id'] = parent['id'];
        Object.assign(base, { version: 3, sequential: 1, 'api.has_parent': 1 });
        if (params['check_permissions']) base['check_permissions'] = params['check_permissions'];
        const calls = Array.isArray(nested) ? (nested as Params[]) : [nested === 1 ? {} : (nested as Params)];
        const results = calls.map((own) =>
          this.run(subEntityName, subAction, withParentValues({ ...base, ...own }, parent)),
        );
        parent[field] = Array.isArray(nested) ? results : results[0];
      }
    }
    return result;
  }
}

/**
 * _civicrm_api_replace_variables (api/api.php): `$value.field` in a chained call means the
 * parent's field. CiviCRM also substitutes inside `{OP: '$value.x'}` and leaves nested `api.` keys alone.
 */
function withParentValues(params: Params, parent: ApiRecord): Params {
  for (const [key, value] of Object.entries(params)) {
    if (typeof value === 'string' && value.startsWith('$value.')) params[key] = parent[value.slice('$value.'.length)];
  }
  return params;
}

/** Whether an API result is a failure, and its message. */
export function failureOf(result: unknown): string | undefined {
  return isErrorResult(result) ? String(result['error_message']) : undefined;
}
