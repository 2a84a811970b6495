// Test fixtures for the service as a real process: free ports, a child process running
// `node --import tsx src/main.ts` (or src/cli.ts), waiting for health, polling with a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { DEADLINE_MS, GiveUp, pollUntil } from './wait.js';

export { DEADLINE_MS, GiveUp, pollUntil };

/** The repository root (where package.json lives). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Configuration variables the service reads; never inherited from the test runner's environment. */
const CONFIG_VARIABLES = [
  'PORT',
  'HOST',
  'CIVICRM_URL',
  'CIVICRM_API_KEY',
  'CIVICRM_SITE_KEY',
  'CIVICRM_AUTH',
  'WEBHOOK_SECRETS',
  'DATABASE_URL',
  'ADMIN_TOKEN',
  'OG_GROUP_BUNDLES',
  'ON_GROUP_DELETE',
  'CREATE_MISSING_CONTACTS',
  'SYNC_CONCURRENCY',
  'LOG_LEVEL',
];

/** The runner's environment minus every configuration variable, plus `env`. */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete base[name];
  // Keep the child free of the runner's loaders and inspectors.
  delete base.NODE_OPTIONS;
  return { ...base, ...env };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port assigned'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process with its output collected. */
export class Child {
  private out = '';
  private err = '';
  readonly exited: Promise<Exit>;
  private exit?: Exit;

  constructor(readonly process: ChildProcess) {
    process.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    process.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.err += chunk));
    this.exited = new Promise((resolve) => {
      // 'close' comes after the output streams ended, so stdout/stderr are complete then.
      process.on('close', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolve(this.exit);
      });
    });
    live.add(this);
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  get pid(): number {
    return this.process.pid!;
  }

  /** stdout parsed as pino JSON lines (other lines skipped). */
  logLines(): Array<Record<string, unknown>> {
    return this.out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  }

  /** Waits until a log line matches; fails early when the process exits. */
  async waitForLog(match: (line: Record<string, unknown>) => boolean, what: string, timeoutMs = DEADLINE_MS) {
    return pollUntil(
      () => {
        const found = this.logLines().find(match);
        if (found) return found;
        if (!this.running) throw new GiveUp(`process exited before ${what}; stderr: ${this.err}`);
        return undefined;
      },
      { timeoutMs, what },
    );
  }

  /** Sends a signal to this child (by its pid) unless it has exited. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.process.kill(signal);
  }

  /** Waits for the exit; SIGKILLs the child if it has not exited by the deadline. */
  async waitForExit(timeoutMs = DEADLINE_MS): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const result = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.signal('SIGKILL');
      await this.exited;
      throw new Error(`process ${this.pid} did not exit within ${timeoutMs} ms; stderr: ${this.err}`);
    }
    return result;
  }

  /** Stops the child: SIGTERM, then SIGKILL after the deadline. */
  async stop(timeoutMs = DEADLINE_MS): Promise<Exit> {
    if (!this.running) return this.exited;
    this.signal('SIGTERM');
    return this.waitForExit(timeoutMs).catch(() => this.exited);
  }
}

const live = new Set<Child>();

// No child outlives the test worker.
process.on('exit', () => {
  for (const child of live) child.signal('SIGKILL');
});

/** Starts `node --import tsx <script> ...args` in the repository root. */
export function spawnTs(script: 'src/main.ts' | 'src/cli.ts', args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Child(child);
}

/** Runs a CLI command to its end. */
export async function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000) {
  const child = spawnTs('src/cli.ts', args, env);
  const exit = await child.waitForExit(timeoutMs);
  return { ...exit, stdout: child.stdout, stderr: child.stderr };
}

export interface Service {
  child: Child;
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
}

/**
 * Starts the service (`src/main.ts`) on a free port of 127.0.0.1 and waits until /healthz
 * answers over the socket. `env` must hold the whole configuration except PORT and HOST.
 */
export async function startService(env: Record<string, string>, options: { timeoutMs?: number } = {}): Promise<Service> {
  let lastFailure = '';
  // A port found free can be taken by someone else before the child binds it: try again then.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawnTs('src/main.ts', [], { HOST: '127.0.0.1', ...env, PORT: String(port) });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHealth(url, child, options.timeoutMs);
      return { child, port, url };
    } catch (error) {
      child.signal('SIGKILL');
      await child.exited;
      lastFailure = `${(error as Error).message}\nstdout: ${child.stdout}\nstderr: ${child.stderr}`;
      if (!/EADDRINUSE/.test(child.stdout + child.stderr)) break;
    }
  }
  throw new Error(`the service did not start: ${lastFailure}`);
}

/** Polls GET /healthz until it answers 200; fails at once if the child exits. */
export async function waitForHealth(url: string, child?: Child, timeoutMs = DEADLINE_MS): Promise<void> {
  await pollUntil(
    async () => {
      if (child && !child.running) throw new GiveUp(`the process exited early: ${JSON.stringify(await child.exited)}`);
      try {
        const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5_000) });
        await response.arrayBuffer();
        return response.status === 200;
      } catch {
        return false;
      }
    },
    { timeoutMs, intervalMs: 100, what: `${url}/healthz to answer 200` },
  ).catch(async (error: Error) => {
    // The child's own exit is the better explanation.
    if (child && !child.running) throw new Error(`the process exited early: ${JSON.stringify(await child.exited)}`);
    throw error;
  });
}

/** Runs `task` over `items` with at most `limit` at a time; results in input order. */
export async function mapConcurrently<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  });
  await Promise.all(runners);
  return results;
}
