/**
 * API failures. The kernel turns an ApiError into CiviCRM's error envelope
 * (Civi/API/Kernel.php formatApiException, checked at 5.69 and 6.14): the extra data and
 * `error_code` (CRM_Core_Exception puts the code after the data, CRM/Core/Exception.php), the
 * entity and action, `is_error: 1` and `error_message`.
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

/** Kernel::resolve's NotImplementedException; its code is CRM_Core_Exception::NOT_IMPLEMENTED, 'not-found' (5.69, 6.14). */
export function notImplemented(entity: string, action: string): ApiError {
  return new ApiError(`API (${entity}, ${action}) does not exist (join the API team and implement it!)`, 'not-found');
}

/** civicrm_api3_verify_mandatory (api/v3/utils.php, 5.69 and 6.14). */
export function mandatoryMissing(fields: readonly string[]): ApiError {
  return new ApiError(`Mandatory key(s) missing from params array: ${fields.join(', ')}`, 'mandatory_missing', {
    fields,
  });
}

/** _civicrm_api3_api_match_pseudoconstant_value (api/v3/utils.php, 5.69 and 6.14). */
export function invalidOption(value: unknown, field: string): ApiError {
  return new ApiError(`'${String(value)}' is not a valid option for field ${field}`, 2001, { error_field: field });
}

/** _civicrm_api3_validate_integer (api/v3/utils.php, 5.69 and 6.14). */
export function invalidInteger(field: string): ApiError {
  return new ApiError(`${field} is not a valid integer`, 2001, { error_field: field, type: 'integer' });
}

/** _civicrm_api3_validate_string (api/v3/utils.php, 5.69): the two spaces before the dash are CiviCRM's. */
export function tooLong(field: string, length: number, max: number): ApiError {
  return new ApiError(
    `Value for ${field} is ${length} characters  - This field has a maxlength of ${max} characters.`,
    2100,
    { field },
  );
}

/**
 * A MySQL failure as PEAR DB words it (DB::errorMessage in pear/db's DB.php, v1.11.0 as 5.69's
 * composer.lock pins it): a UNIQUE key clash (1062) is `already exists`. The envelope is the one
 * Kernel::formatPearException built up to 5.60, `error_code` the same words plus a `tip`. From 5.61
 * (CRM/Core/Error.php exceptionHandler throws Civi\Core\Exception\DBQueryException; read at 5.69
 * and 6.14) the error goes through formatApiException instead: `error_code` is PEAR's number
 * (-5 for already exists), with `debug_info`, entity and action, and no `tip`.
 */
export function dbError(
  kind: 'already exists' | 'constraint violation' | 'null value violates not-null constraint' | 'unknown error',
): ApiError {
  return new ApiError(`DB Error: ${kind}`, kind, { tip: 'add debug=1 to your API call to have more info about the error' });
}

/**
 * What CiviCRM reports after a foreign key failure once it has found the culprit: Kernel::createError
 * re-runs _civicrm_api3_validate_foreign_keys on any `DB Error:` and takes the message of
 * _civicrm_api3_validate_constraint (Civi/API/Kernel.php, api/v3/utils.php, 5.69 and 6.14).
 */
export function invalidReference(field: string, value: unknown): ApiError {
  return new ApiError(`${field} is not valid : ${String(value)}`, 'constraint violation');
}
