/**
 * The API v3 kernel (civicrm_api3 → Civi\API\Kernel): resolves entity and action,
 * applies aliases, defaults and mandatory checks from the entity specs, runs
 * create/delete atomically, runs chained calls (`api.Entity.action`), provides
 * the generic getsingle/getcount/getvalue, and formats failures.
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

/** _civicrm_api_get_entity_name_from_camel: GroupContact → group_contact, UFMatch → uf_match. */
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

  /** Entity names match loosely: `GroupContact`, `group_contact` and `groupContact` are one entity. */
  private static key(entity: string): string {
    return entity.replace(/_/g, '').toLowerCase();
  }

  /** The canonical name of an entity; unknown ones are camel-cased as Request::create does (`api3` → `Api3`). */
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
   * chained call (`api.has_parent`) are thrown to the parent instead.
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

  /** What APIv3SchemaAdapter does before the action: aliases, defaults, mandatory fields. */
  private prepare(def: EntityDef, spec: ActionSpec, params: Params): Params {
    const prepared: Params = { ...params };
    const aliases: Record<string, string> = { ...spec.aliases };
    // getfields gives `id` the alias `<entity>_id` even where that is a real column: AclRole's
    // `acl_role_id` becomes the id and is dropped (dev/core#2615) unless an `id` is given.
    if (def.idAlias) aliases[`${snakeName(def.name)}_id`] = 'id';
    // _civicrm_api3_swap_out_aliases: the alias fills an unset field and is then removed.
    for (const [alias, field] of Object.entries(aliases)) {
      if (prepared[field] !== undefined && prepared[field] !== null) continue;
      if (prepared[alias] !== undefined && prepared[alias] !== null) prepared[field] = prepared[alias];
      delete prepared[alias];
    }
    // With an id, CiviCRM only checks `version`: an update needs nothing else.
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

  private getSingle(def: EntityDef, params: Params): unknown {
    const result = this.dispatch(def, 'get', { ...params, sequential: 1 });
    if (!isSuccessEnvelope(result)) return result;
    if (result.count === 1) return (result.values as unknown[])[0];
    return errorResult(`Expected one ${def.name} but found ${result.count}`, { count: result.count });
  }

  private getCount(def: EntityDef, params: Params): unknown {
    const options = typeof params['options'] === 'object' && params['options'] !== null ? params['options'] : {};
    const result = this.dispatch(def, 'get', { ...params, options: { ...options, is_count: 1 } });
    return isSuccessEnvelope(result) ? result.count : result;
  }

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
   * ChainSubscriber: each `api.Entity.action` (or `api_Entity_action`) key runs
   * once per parent record, with the parent's id filled in, and its full result
   * is stored in that record under the same key.
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

/** _civicrm_api_replace_variables: `$value.field` in a chained call means the parent's field. */
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
