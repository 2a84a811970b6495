// The service logger: pino, with every secret-bearing header and field redacted.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["webhook-signature"]',
  'req.headers["x-hub-signature-256"]',
  'req.headers["x-civi-auth"]',
  'req.headers["x-civi-key"]',
  '*.apiKey',
  '*.siteKey',
  '*.api_key',
  '*.adminToken',
  '*.webhookSecrets',
  'config.civicrm.apiKey',
  'config.civicrm.siteKey',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}
