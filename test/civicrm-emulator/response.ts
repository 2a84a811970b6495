/** What the HTTP layer sends back. */
export interface HttpResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/**
 * CRM_Utils_REST::output and CRM_Utils_JSON::output: json_encode with JSON_UNESCAPED_SLASHES |
 * JSON_UNESCAPED_UNICODE since 6.8 (commit f372f10074; read at 6.14), which JSON.stringify matches.
 * Up to 6.7 (read at 5.69) both call json_encode with no flags, so `/` goes out as `\/` and
 * non-ASCII as `\uXXXX`: the same JSON values in other bytes.
 */
export function jsonResponse(value: unknown, contentType = 'application/json', status = 200): HttpResponse {
  return { status, contentType, body: JSON.stringify(value) };
}

export function textResponse(status: number, contentType: string, body: string): HttpResponse {
  return { status, contentType, body };
}

/** An HTML page in the CMS's style; the markup is the emulator's own. */
export function htmlPage(status: number, title: string, message: string): HttpResponse {
  return textResponse(
    status,
    'text/html; charset=UTF-8',
    `<!DOCTYPE html>\n<html><head><title>${title}</title></head><body><h1>${title}</h1><p>${message}</p></body></html>\n`,
  );
}
