/**
 * Who is calling. Two doors with different manners:
 *
 * - /civicrm/ajax/rest goes through authx first (ext/authx, since 5.36): `X-Civi-Auth: Bearer
 *   <api key>` plus `X-Civi-Key: <site key>` (the `xheader` flow; Authenticator::reject answers
 *   HTTP 401 text/plain `HTTP 401 <message>`), or the legacy `key` + `api_key` fields (the
 *   `legacyrest` flow, LegacyRestAuthenticator.php, since 5.47; failures HTTP 200 text/javascript
 *   `{"error_message":"FATAL: …","is_error":1}`). Both read in ext/authx/Civi/Authx/ at 5.69 and
 *   6.14. Without any credential the page is refused to anonymous users: its menu item asks for
 *   `access CiviCRM;access AJAX API` (CRM/Core/xml/Menu/Misc.xml, 5.69).
 * - extern/rest.php knows only `key` + `api_key`, checked by
 *   CRM_Utils_REST::loadCMSBootstrap (CRM/Utils/REST.php, 5.69 and 6.14).
 *
 * Not modelled: authx_legacyrest_user defaults to `require` (settings/authx.setting.php, 5.69 and
 * 6.14), and loadCMSBootstrap wants a CMS user too, so in CiviCRM an API key whose contact has no
 * UFMatch is refused on both doors; here any contact's key is enough.
 */
import { textField, type FormFields } from './form.js';
import { htmlPage, jsonResponse, textResponse, type HttpResponse } from './response.js';

export interface Keys {
  readonly siteKey: string;
  /** The contact owning this API key, if any. */
  contactForApiKey(apiKey: string): number | undefined;
}

export type Headers = Readonly<Record<string, string | string[] | undefined>>;

export type AjaxAuth =
  | { readonly kind: 'authenticated'; readonly flow: 'xheader' | 'legacyrest'; readonly contactId: number }
  | { readonly kind: 'rejected'; readonly response: HttpResponse };

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Default authx_guards ['site_key', 'perm'] (settings/authx.setting.php, 5.69 and 6.14); the API
 * user is assumed to lack the 'authenticate with api key' permission, so only the site key passes.
 */
const GUARD_MESSAGE = 'Login not permitted. Must satisfy guard (site_key, perm).';

/**
 * Authenticator::checkCredential and checkPolicy (ext/authx/Civi/Authx/Authenticator.php, 5.69 and
 * 6.14), for a `Bearer <api key>` credential: 'Invalid credential', then the guard message.
 */
function check(credential: string, siteKey: string | undefined, keys: Keys): { contactId: number } | { message: string } {
  const space = credential.indexOf(' ');
  const format = space < 0 ? credential : credential.slice(0, space);
  const value = space < 0 ? '' : credential.slice(space + 1);
  const contactId = format === 'Bearer' && value !== '' ? keys.contactForApiKey(value) : undefined;
  if (contactId === undefined) return { message: 'Invalid credential' };
  if (siteKey !== keys.siteKey) return { message: GUARD_MESSAGE };
  return { contactId };
}

export function authenticateAjax(headers: Headers, fields: FormFields, keys: Keys): AjaxAuth {
  const xheader = header(headers, 'x-civi-auth');
  if (xheader) {
    // Authenticator::on_civi_invoke_auth (5.69): X-Civi-Key, else `_authxSiteKey` ($_GET for a GET, $_POST otherwise).
    const siteKey = header(headers, 'x-civi-key') ?? (textField(fields, '_authxSiteKey') || undefined);
    const result = check(xheader, siteKey, keys);
    if ('message' in result) {
      return { kind: 'rejected', response: textResponse(401, 'text/plain', `HTTP 401 ${result.message}`) };
    }
    return { kind: 'authenticated', flow: 'xheader', contactId: result.contactId };
  }
  const apiKey = textField(fields, 'api_key');
  const key = textField(fields, 'key');
  if (apiKey || key) {
    const result = check(`Bearer ${apiKey}`, key, keys);
    if ('message' in result) {
      const body = { error_message: `FATAL: ${result.message}`, is_error: 1 };
      return { kind: 'rejected', response: jsonResponse(body, 'text/javascript') };
    }
    return { kind: 'authenticated', flow: 'legacyrest', contactId: result.contactId };
  }
  // The CMS's 403 page; Drupal's text (modules/system/src/Controller/Http4xxController.php, core 10.3.0).
  return { kind: 'rejected', response: htmlPage(403, 'Access denied', 'You are not authorized to access this page.') };
}

/**
 * loadCMSBootstrap's checks (CRM/Utils/REST.php, 5.69 and 6.14): an error message to answer with,
 * or the acting contact. The key is trimmed as CRM_Utils_System::authenticateKey does (5.69).
 */
export function authenticateExtern(fields: FormFields, keys: Keys): { error: string } | { contactId: number } {
  if (textField(fields, 'key').trim() !== keys.siteKey) return { error: 'Failed to authenticate key' };
  const apiKey = textField(fields, 'api_key');
  if (!apiKey) return { error: "FATAL: mandatory param 'api_key' (user key) missing" };
  const contactId = keys.contactForApiKey(apiKey);
  if (contactId === undefined) return { error: 'ERROR: No CMS user associated with given api-key' };
  return { contactId };
}
