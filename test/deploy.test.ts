// The Grafana dashboard and the Prometheus alerts in deploy/ ask only for metrics that /metrics
// exports: a renamed metric would leave an empty panel or an alert that never fires.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../src/metrics.js';
import { testApp, type TestApp } from './support/app.js';

interface Dashboard {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  templating: { list: Array<{ query?: unknown }> };
}
interface Rules {
  groups: Array<{ rules: Array<{ alert: string; expr: string; for: string }> }>;
}

const dashboard = JSON.parse(readFileSync(new URL('../deploy/grafana/og-civicrm-sync.json', import.meta.url), 'utf8')) as Dashboard;
const rules = parse(readFileSync(new URL('../deploy/prometheus/alerts.yml', import.meta.url), 'utf8')) as Rules;
const alerts = rules.groups.flatMap((group) => group.rules);

/** The series names a query asks for (only the service's own: the og_sync_ prefix). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\bog_sync_[a-z0-9_]+\b/g)].map((m) => m[0]);
}

/** Every series name /metrics can show: a histogram's name stands for its _bucket, _sum and _count. */
function exported(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    else if (type === 'summary') for (const suffix of ['', '_sum', '_count']) names.add(name + suffix);
    else names.add(name!);
  }
  return names;
}

let app: TestApp;
let metrics: Set<string>;
beforeAll(async () => {
  // As the service runs it, default process metrics included.
  app = await testApp({ deps: { metrics: createMetrics({ defaultMetrics: true }) } });
  metrics = exported((await app.fastify.inject({ url: '/metrics' })).body);
});
afterAll(() => app.close());

describe('deploy/grafana/og-civicrm-sync.json', () => {
  it('has panels for intake, answers, backlog, dead items, CiviCRM and the store', () => {
    const asked = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricNames(t.expr))));
    for (const name of [
      'og_sync_events_total',
      'og_sync_http_requests_total',
      'og_sync_dirty_items',
      'og_sync_dead_items',
      'og_sync_civicrm_calls_total',
      'og_sync_civicrm_request_seconds_bucket',
      'og_sync_store_seconds_bucket',
      'og_sync_store_errors_total',
    ]) {
      expect(asked, name).toContain(name);
    }
  });

  it.each(dashboard.panels.map((p) => [p.title, p] as const))('panel %s queries only exported metrics', (_title, panel) => {
    expect(panel.targets.length).toBeGreaterThan(0);
    for (const target of panel.targets) {
      const names = metricNames(target.expr);
      expect(names.length, target.expr).toBeGreaterThan(0);
      for (const name of names) expect(metrics, `${name} in ${target.expr}`).toContain(name);
    }
  });

  it('its variables ask only for exported metrics', () => {
    for (const variable of dashboard.templating.list) {
      for (const name of metricNames(String(variable.query ?? ''))) expect(metrics).toContain(name);
    }
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  it('alerts on dead items, a growing backlog, CiviCRM unreachable for 5 minutes and store errors', () => {
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining(['OgSyncDeadItems', 'OgSyncBacklogGrowing', 'OgSyncCiviCRMUnreachable', 'OgSyncStoreErrors']),
    );
    const byName = Object.fromEntries(alerts.map((a) => [a.alert, a]));
    expect(byName.OgSyncBacklogGrowing?.for).toBe('15m');
    expect(byName.OgSyncCiviCRMUnreachable?.for).toBe('5m');
  });

  it.each(alerts.map((a) => [a.alert, a] as const))('%s asks only for exported metrics', (_name, alert) => {
    const names = metricNames(alert.expr);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(metrics, `${name} in ${alert.expr}`).toContain(name);
  });
});

describe('deploy/compose.yaml', () => {
  const deploy = new URL('../deploy/', import.meta.url);
  const compose = parse(readFileSync(new URL('compose.yaml', deploy), 'utf8'), { merge: true }) as {
    services: Record<string, { environment?: Record<string, string>; volumes?: string[]; build?: string }>;
  };
  const scrape = parse(readFileSync(new URL('prometheus/prometheus.yml', deploy), 'utf8')) as {
    rule_files: string[];
    scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }>;
  };

  it('runs two replicas of the image on PostgreSQL, with the settings the service requires', () => {
    const replicas = Object.entries(compose.services).filter(([, service]) => service.build === '..');
    expect(replicas.map(([name]) => name)).toEqual(['sync-1', 'sync-2']);
    for (const [, service] of replicas) {
      expect(service.environment?.DATABASE_URL).toMatch(/^postgres:\/\//);
      for (const name of ['CIVICRM_URL', 'CIVICRM_API_KEY', 'CIVICRM_SITE_KEY', 'WEBHOOK_SECRETS', 'ADMIN_TOKEN']) {
        expect(service.environment?.[name], name).toBeDefined();
      }
    }
  });

  it('mounts files that exist, and Prometheus scrapes both replicas with the alert rules', () => {
    for (const service of Object.values(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./')) expect(existsSync(new URL(source, deploy)), source).toBe(true);
      }
    }
    expect(scrape.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets))).toEqual(['sync-1:3000', 'sync-2:3000']);
    expect(compose.services.prometheus?.volumes).toContain(`./prometheus/alerts.yml:${scrape.rule_files[0]}:ro`);
  });
});
