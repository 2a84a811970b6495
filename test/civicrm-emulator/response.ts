/** What the HTTP layer sends back. */
export interface HttpResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** json_encode with JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE, which JSON.stringify matches. */
export function jsonResponse(value: unknown, contentType = 'application/json', status = 200): HttpResponse {
  return { status, contentType, body: JSON.stringify(value) };
}

export function textResponse(status: number, contentType: string, body: string): HttpResponse {
  return { status, contentType, body };
}

export function htmlPage(status: number, title: string, message: string): HttpResponse {
  return textResponse(
    status,
    'text/html; charset=UTF-8',
    `<!DOCTYPE html>\n<html><head><title>${title}</title></head><body><h1>${title}</h1><p>${message}</p></body></html>\n`,
  );
}
