import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadDatabaseConfig, loadWebhookSecrets } from '../src/config.js';

// The four required variables and nothing else.
const REQUIRED = {
  CIVICRM_URL: 'https://crm.example.org/civicrm/ajax/rest',
  CIVICRM_API_KEY: 'the-api-key',
  CIVICRM_SITE_KEY: 'the-site-key',
  WEBHOOK_SECRETS: 'a-plain-secret',
};

const env = (overrides: Record<string, string | undefined> = {}) => ({ ...REQUIRED, ...overrides });

/** The ConfigError loading `environment` throws; fails the test when none is thrown. */
function configError(environment: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(environment);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(environment)}`);
}

function expectRejected(variable: string, value: string) {
  const error = configError(env({ [variable]: value }));
  expect(error.variable).toBe(variable);
  expect(error.message).toContain(variable);
  // One line: start-up prints it as it is.
  expect(error.message).not.toContain('\n');
}

describe('defaults', () => {
  it('are those of the contract when only the required variables are set', () => {
    expect(loadConfig(env())).toEqual({
      port: 3000,
      host: '0.0.0.0',
      civicrm: {
        url: 'https://crm.example.org/civicrm/ajax/rest',
        apiKey: 'the-api-key',
        siteKey: 'the-site-key',
        auth: 'legacy',
      },
      webhookSecrets: [{ key: Buffer.from('a-plain-secret'), raw: 'a-plain-secret' }],
      database: { kind: 'sqlite', path: './data/og-sync.sqlite' },
      adminToken: undefined,
      http: { requestTimeoutMs: 30_000, maxConnections: 512 },
      ogGroupBundles: ['group'],
      drupalSignatures: ['sha256', 'sha1'],
      onGroupDelete: 'disable',
      createMissingContacts: true,
      syncConcurrency: 4,
      resyncIntervalMs: 86_400_000,
      eventRetentionMs: 2_592_000_000,
      logLevel: 'info',
    });
  });

  it('treats empty and blank values as unset', () => {
    const config = loadConfig(
      env({ PORT: '', HOST: '  ', ADMIN_TOKEN: '', LOG_LEVEL: ' ', DATABASE_URL: '', OG_GROUP_BUNDLES: '', CIVICRM_AUTH: '' }),
    );
    expect(config.port).toBe(3000);
    expect(config.host).toBe('0.0.0.0');
    expect(config.adminToken).toBeUndefined();
    expect(config.logLevel).toBe('info');
    expect(config.database).toEqual({ kind: 'sqlite', path: './data/og-sync.sqlite' });
    expect(config.ogGroupBundles).toEqual(['group']);
    expect(config.civicrm.auth).toBe('legacy');
  });

  it('reads every variable when set', () => {
    const config = loadConfig(
      env({
        PORT: '8080',
        HOST: '127.0.0.1',
        CIVICRM_URL: 'http://crm.local/sites/all/modules/civicrm/extern/rest.php',
        CIVICRM_AUTH: 'authx',
        DATABASE_URL: 'sqlite:/var/lib/og-sync/store.sqlite',
        ADMIN_TOKEN: 'admin-token-0123456789abcdef012345',
        REQUEST_TIMEOUT: '10s',
        MAX_CONNECTIONS: '64',
        OG_GROUP_BUNDLES: 'club',
        ON_GROUP_DELETE: 'keep',
        CREATE_MISSING_CONTACTS: 'false',
        SYNC_CONCURRENCY: '16',
        LOG_LEVEL: 'debug',
      }),
    );
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      civicrm: { url: 'http://crm.local/sites/all/modules/civicrm/extern/rest.php', auth: 'authx' },
      database: { kind: 'sqlite', path: '/var/lib/og-sync/store.sqlite' },
      adminToken: 'admin-token-0123456789abcdef012345',
      http: { requestTimeoutMs: 10_000, maxConnections: 64 },
      ogGroupBundles: ['club'],
      onGroupDelete: 'keep',
      createMissingContacts: false,
      syncConcurrency: 16,
      logLevel: 'debug',
    });
  });
});

describe('required variables', () => {
  for (const variable of Object.keys(REQUIRED)) {
    it(`${variable} missing stops with an error naming it`, () => {
      const error = configError(env({ [variable]: undefined }));
      expect(error.variable).toBe(variable);
      expect(error.message).toMatch(new RegExp(`^${variable}\\b`));
    });

    it(`${variable} blank counts as missing`, () => {
      expect(configError(env({ [variable]: '   ' })).variable).toBe(variable);
    });
  }

  it('names the first missing variable when several are missing', () => {
    expect(configError({}).variable).toBe('CIVICRM_URL');
  });
});

describe('malformed values', () => {
  const cases: Array<[string, string]> = [
    ['PORT', 'http'],
    ['PORT', '-1'],
    ['PORT', '65536'],
    ['PORT', '80.5'],
    ['PORT', '3000abc'],
    ['PORT', '0x50'],
    ['SYNC_CONCURRENCY', '0'],
    ['SYNC_CONCURRENCY', 'four'],
    ['SYNC_CONCURRENCY', '-2'],
    ['SYNC_CONCURRENCY', '1.5'],
    ['SYNC_CONCURRENCY', '100000'],
    ['CIVICRM_AUTH', 'basic'],
    ['CIVICRM_AUTH', 'bearer'],
    ['ON_GROUP_DELETE', 'archive'],
    ['ON_GROUP_DELETE', 'disabled'],
    ['CREATE_MISSING_CONTACTS', 'maybe'],
    ['CREATE_MISSING_CONTACTS', '2'],
    ['LOG_LEVEL', 'verbose'],
    ['LOG_LEVEL', 'warning'],
    ['DATABASE_URL', 'mysql://db/og'],
    ['DATABASE_URL', './data/og.sqlite'],
    ['DATABASE_URL', 'sqlite:'],
    ['CIVICRM_URL', 'not a url'],
    ['CIVICRM_URL', 'crm.example.org/civicrm/ajax/rest'],
    ['CIVICRM_URL', 'ftp://crm.example.org/civicrm/ajax/rest'],
    ['WEBHOOK_SECRETS', 'whsec_!!!not-base64!!!'],
    ['WEBHOOK_SECRETS', 'whsec_'],
    ['WEBHOOK_SECRETS', 'plain-one whsec_%%%'],
    // Standard Webhooks decodes the key strictly: unpadded or mis-padded base64 is refused by
    // the library at start-up, so the configuration must refuse it first, with one line.
    ['WEBHOOK_SECRETS', 'whsec_abc'],
    ['WEBHOOK_SECRETS', 'whsec_YW=Jj'],
    ['WEBHOOK_SECRETS', ' , '],
    ['OG_GROUP_BUNDLES', ' , ,'],
    ['ADMIN_TOKEN', 'admin-token'],
    ['ADMIN_TOKEN', 'x'.repeat(31)],
    ['REQUEST_TIMEOUT', '30'],
    ['REQUEST_TIMEOUT', '0'],
    ['REQUEST_TIMEOUT', '500ms'],
    ['REQUEST_TIMEOUT', '1.5s'],
    ['REQUEST_TIMEOUT', 'soon'],
    ['MAX_CONNECTIONS', '0'],
    ['MAX_CONNECTIONS', 'many'],
    ['DRUPAL_SIGNATURES', 'sha1'],
    ['RESYNC_INTERVAL', '500ms'],
    ['RESYNC_INTERVAL', 'daily'],
    ['EVENT_RETENTION', '10'],
    ['DRUPAL_SIGNATURES', 'md5,sha256'],
    ['HOST', '0.0.0.0:3000'],
    ['HOST', 'http://sync.example.org'],
    ['HOST', 'sync example'],
    ['HOST', '-sync.example.org'],
    ['REVERSE_SYNC', 'on'],
    ['REVERSE_SYNC', 'true'],
    ['REVERSE_SYNC', 'sometimes'],
  ];
  for (const [variable, value] of cases) {
    it(`${variable}=${JSON.stringify(value)} is refused, naming ${variable}`, () => expectRejected(variable, value));
  }

  it('refuses a short ADMIN_TOKEN without printing it, and says how to make one', () => {
    const error = configError(env({ ADMIN_TOKEN: 'hunter2-hunter2' }));
    expect(error.message).toBe('ADMIN_TOKEN: must be at least 32 characters (got 15); make one with: openssl rand -hex 32');
  });

  it('stops at REVERSE_SYNC=on, saying that CiviCRM → OG is not in this release', () => {
    expect(configError(env({ REVERSE_SYNC: 'On' })).message).toBe(
      'REVERSE_SYNC: on is not available in this release (changes made in CiviCRM are not read back); set it to off or leave it unset',
    );
  });

  it('says which secret is broken without printing it', () => {
    const error = configError(env({ WEBHOOK_SECRETS: 'fine-one,whsec_!!!' }));
    expect(error.message).toContain('#2');
    expect(error.message).not.toContain('fine-one');
  });
});

describe('accepted spellings', () => {
  it('takes PORT at both ends of its range', () => {
    expect(loadConfig(env({ PORT: '1' })).port).toBe(1);
    expect(loadConfig(env({ PORT: '65535' })).port).toBe(65535);
  });

  it('takes HOST as an IPv4 or IPv6 address or a host name', () => {
    for (const host of ['127.0.0.1', '::', '::1', 'localhost', 'sync-1.internal.example.org']) {
      expect(loadConfig(env({ HOST: host })).host).toBe(host);
    }
  });

  it('takes REVERSE_SYNC=off in the usual spellings', () => {
    for (const value of ['off', 'false', '0', 'no', 'OFF']) expect(() => loadConfig(env({ REVERSE_SYNC: value }))).not.toThrow();
  });

  it("takes the README's production example as it is written", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const example = /In production:\s+```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    // A value made by a command, "$(openssl rand -hex 32)", stands for what the command prints.
    const made = (command: string) => (command.startsWith('openssl rand -hex ') ? 'f'.repeat(2 * Number(command.split(' ').pop())) : '');
    const assigned = Object.fromEntries(
      [...example.matchAll(/(?:^|\s)([A-Z_]+)=(?:'([^']*)'|"\$\(([^)]*)\)"|(\S+))/g)].map((m) => [m[1], m[2] ?? (m[3] !== undefined ? made(m[3]) : m[4])]),
    );
    expect(Object.keys(assigned)).toEqual(expect.arrayContaining(['CIVICRM_URL', 'CIVICRM_API_KEY', 'WEBHOOK_SECRETS', 'ADMIN_TOKEN']));
    expect(() => loadConfig(assigned)).not.toThrow();
  });

  it('takes an ADMIN_TOKEN of 32 characters', () => {
    expect(loadConfig(env({ ADMIN_TOKEN: 'x'.repeat(32) })).adminToken).toBe('x'.repeat(32));
  });

  it('reads durations in every unit, and defaults the HTTP limits', () => {
    const timeout = (value: string) => loadConfig(env({ REQUEST_TIMEOUT: value })).http.requestTimeoutMs;
    expect([timeout('1500ms'), timeout('45s'), timeout('2m'), timeout('1h'), timeout('1d')]).toEqual([1_500, 45_000, 120_000, 3_600_000, 86_400_000]);
  });

  it('takes EVENT_RETENTION as a duration, and 0 to keep everything', () => {
    const retention = (value: string) => loadConfig(env({ EVENT_RETENTION: value })).eventRetentionMs;
    expect([retention('1h'), retention('90d'), retention('0')]).toEqual([3_600_000, 7_776_000_000, 0]);
  });

  it('takes RESYNC_INTERVAL as a duration of a second or more, and 0 for off', () => {
    const interval = (value: string) => loadConfig(env({ RESYNC_INTERVAL: value })).resyncIntervalMs;
    expect([interval('90s'), interval('15m'), interval('24h'), interval('7d'), interval('0')]).toEqual([90_000, 900_000, 86_400_000, 604_800_000, 0]);
  });

  it('takes DRUPAL_SIGNATURES as sha256 alone or with sha1, in any order and case', () => {
    const algorithms = (value: string) => loadConfig(env({ DRUPAL_SIGNATURES: value })).drupalSignatures;
    expect(algorithms('sha256')).toEqual(['sha256']);
    expect(algorithms('SHA1 sha256')).toEqual(['sha1', 'sha256']);
  });

  it('takes SYNC_CONCURRENCY from 1', () => {
    expect(loadConfig(env({ SYNC_CONCURRENCY: '1' })).syncConcurrency).toBe(1);
  });

  it('reads booleans in the usual spellings, any case', () => {
    for (const value of ['true', 'TRUE', '1', 'yes', 'on']) {
      expect(loadConfig(env({ CREATE_MISSING_CONTACTS: value })).createMissingContacts).toBe(true);
    }
    for (const value of ['false', 'False', '0', 'no', 'off']) {
      expect(loadConfig(env({ CREATE_MISSING_CONTACTS: value })).createMissingContacts).toBe(false);
    }
  });

  it('reads enumerations case-insensitively', () => {
    const config = loadConfig(env({ CIVICRM_AUTH: 'AuthX', ON_GROUP_DELETE: 'DELETE', LOG_LEVEL: 'Warn' }));
    expect(config.civicrm.auth).toBe('authx');
    expect(config.onGroupDelete).toBe('delete');
    expect(config.logLevel).toBe('warn');
  });

  it('takes every ON_GROUP_DELETE mode and every pino level', () => {
    for (const mode of ['disable', 'delete', 'keep']) expect(loadConfig(env({ ON_GROUP_DELETE: mode })).onGroupDelete).toBe(mode);
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
      expect(loadConfig(env({ LOG_LEVEL: level })).logLevel).toBe(level);
    }
  });

  it('reads sqlite: URLs with relative and absolute paths, and postgres URLs', () => {
    const db = (value: string) => loadConfig(env({ DATABASE_URL: value })).database;
    expect(db('sqlite:./data/og.sqlite')).toEqual({ kind: 'sqlite', path: './data/og.sqlite' });
    expect(db('sqlite:og.sqlite')).toEqual({ kind: 'sqlite', path: 'og.sqlite' });
    expect(db('sqlite:/srv/og.sqlite')).toEqual({ kind: 'sqlite', path: '/srv/og.sqlite' });
    expect(db('sqlite:///srv/og.sqlite')).toEqual({ kind: 'sqlite', path: '/srv/og.sqlite' });
    expect(db('postgres://og:pw@db.example.org:5432/og')).toEqual({ kind: 'postgres', url: 'postgres://og:pw@db.example.org:5432/og' });
    expect(db('postgresql://db/og')).toEqual({ kind: 'postgres', url: 'postgresql://db/og' });
  });

  it('keeps CIVICRM_URL as given, http or https', () => {
    expect(loadConfig(env({ CIVICRM_URL: 'http://127.0.0.1:8080/civicrm/ajax/rest' })).civicrm.url).toBe(
      'http://127.0.0.1:8080/civicrm/ajax/rest',
    );
  });
});

describe('WEBHOOK_SECRETS', () => {
  const standardKey = Buffer.from('a standard webhooks key of 32 b!');
  const whsec = `whsec_${standardKey.toString('base64')}`;

  it('splits on spaces and commas, in any mix, keeping the order', () => {
    const secrets = loadConfig(env({ WEBHOOK_SECRETS: ` one,two  three ,\tfour,,five ` })).webhookSecrets;
    expect(secrets.map((s) => s.raw)).toEqual(['one', 'two', 'three', 'four', 'five']);
  });

  it('uses a plain secret as its raw UTF-8 bytes', () => {
    const [secret] = loadConfig(env({ WEBHOOK_SECRETS: 'pässwörd' })).webhookSecrets;
    expect(secret).toEqual({ key: Buffer.from('pässwörd', 'utf8'), raw: 'pässwörd' });
  });

  it('decodes a whsec_ secret as base64 after the prefix', () => {
    const [secret] = loadConfig(env({ WEBHOOK_SECRETS: whsec })).webhookSecrets;
    expect(secret).toEqual({ key: standardKey, raw: whsec });
  });

  it('mixes standard and plain secrets for rotation', () => {
    const secrets = loadConfig(env({ WEBHOOK_SECRETS: `${whsec}, legacy-secret` })).webhookSecrets;
    expect(secrets.map((s) => [s.raw, s.key])).toEqual([
      [whsec, standardKey],
      ['legacy-secret', Buffer.from('legacy-secret')],
    ]);
  });

  it('is what loadWebhookSecrets reads for `send`, without the CiviCRM variables', () => {
    expect(loadWebhookSecrets({ WEBHOOK_SECRETS: 'a b' }).map((s) => s.raw)).toEqual(['a', 'b']);
    expect(() => loadWebhookSecrets({})).toThrow(ConfigError);
  });
});

describe('OG_GROUP_BUNDLES', () => {
  it('is a list split on spaces and commas', () => {
    expect(loadConfig(env({ OG_GROUP_BUNDLES: 'group, club  community,team' })).ogGroupBundles).toEqual([
      'group',
      'club',
      'community',
      'team',
    ]);
  });
});

describe('loadDatabaseConfig', () => {
  it('needs only DATABASE_URL, with the same default', () => {
    expect(loadDatabaseConfig({})).toEqual({ kind: 'sqlite', path: './data/og-sync.sqlite' });
    expect(loadDatabaseConfig({ DATABASE_URL: 'sqlite:/tmp/x.sqlite' })).toEqual({ kind: 'sqlite', path: '/tmp/x.sqlite' });
    expect(() => loadDatabaseConfig({ DATABASE_URL: 'redis://x' })).toThrow(/DATABASE_URL/);
  });
});
