#!/usr/bin/env node
// The command line: `og-civicrm-sync <command>`.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadDatabaseConfig, loadWebhookSecrets } from './config.js';
import { signNative } from './http/signatures.js';
import { openStore } from './ledger/index.js';
import { configOrExit, serve } from './serve.js';
import { VERSION } from './version.js';

const HELP = `og-civicrm-sync ${VERSION}: keeps CiviCRM in step with Drupal Organic Groups

Usage: og-civicrm-sync <command> [options]

Commands:
  serve                 run the service (the same as npm start)
  migrate               create or update the store's schema (DATABASE_URL), then exit
  send <file.json>      sign a native event body with the first WEBHOOK_SECRETS secret and
                        post it to a running service; prints the answer
      --url <url>       where to post (default http://127.0.0.1:$PORT/webhooks/og)
      --id <id>         the event id (default: a new UUID)
  help                  this text

Configuration comes from the environment; see the README.`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, Command> = {
  serve: async () => {
    await serve();
    return -1;
  },
  migrate: async () => {
    const store = await openStore(configOrExit(loadDatabaseConfig));
    const applied = await store.migrate();
    await store.close();
    console.log(applied.length > 0 ? `applied migrations ${applied.join(', ')}` : 'schema is up to date');
    return 0;
  },
  send: async (args) => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { url: { type: 'string' }, id: { type: 'string' } },
    });
    const file = positionals[0];
    if (!file) return usage('send needs a file: og-civicrm-sync send <file.json>');
    const [secret] = configOrExit(loadWebhookSecrets);
    const body = (await readFile(file, 'utf8')).trim();
    const url = values.url ?? `http://127.0.0.1:${process.env.PORT || 3000}/webhooks/og`;
    const headers = signNative(secret!, values.id ?? randomUUID(), body);
    const response = await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
    console.log(`${response.status} ${await response.text()}`);
    return response.status === 202 ? 0 : 1;
  },
  help: async () => {
    console.log(HELP);
    return 0;
  },
};

function usage(problem: string): number {
  console.error(`og-civicrm-sync: ${problem}\n\n${HELP}`);
  return 2;
}

const [name = 'help', ...rest] = process.argv.slice(2);
const command = commands[name === '--help' || name === '-h' ? 'help' : name];
const code = command ? await command(rest) : usage(`unknown command "${name}"`);
if (code >= 0) process.exitCode = code;
