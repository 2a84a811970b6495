/**
 * API failures. The kernel turns an ApiError into CiviCRM's error envelope
 * (Kernel::formatApiException): the extra data, `error_code`, the entity and
 * action, `is_error: 1` and `error_message`.
 */
export type ErrorData = Readonly<Record<string, unknown>>;

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | number = 0,
    readonly extra: ErrorData = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function notImplemented(entity: string, action: string): ApiError {
  return new ApiError(`API (${entity}, ${action}) does not exist (join the API team and implement it!)`, 'not-found');
}

export function mandatoryMissing(fields: readonly string[]): ApiError {
  return new ApiError(`Mandatory key(s) missing from params array: ${fields.join(', ')}`, 'mandatory_missing', {
    fields,
  });
}

export function invalidOption(value: unknown, field: string): ApiError {
  return new ApiError(`'${String(value)}' is not a valid option for field ${field}`, 2001, { error_field: field });
}

export function invalidInteger(field: string): ApiError {
  return new ApiError(`${field} is not a valid integer`, 2001, { error_field: field, type: 'integer' });
}

/** The two spaces before the dash are CiviCRM's. */
export function tooLong(field: string, length: number, max: number): ApiError {
  return new ApiError(
    `Value for ${field} is ${length} characters  - This field has a maxlength of ${max} characters.`,
    2100,
    { field },
  );
}

/** A MySQL failure as PEAR DB words it (e.g. a UNIQUE key clash is `already exists`). */
export function dbError(
  kind: 'already exists' | 'constraint violation' | 'null value violates not-null constraint' | 'unknown error',
): ApiError {
  return new ApiError(`DB Error: ${kind}`, kind, { tip: 'add debug=1 to your API call to have more info about the error' });
}

/** What CiviCRM reports after a foreign key failure once it has found the culprit. */
export function invalidReference(field: string, value: unknown): ApiError {
  return new ApiError(`${field} is not valid : ${String(value)}`, 'constraint violation');
}
