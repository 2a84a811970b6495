import { createRequire } from 'node:module';

/** The package version, reported by /admin/status and the CLI. */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
