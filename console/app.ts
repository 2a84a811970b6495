// The console's shell: the token form, the navigation, and which view the address shows.
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, REFUSED_EVENT, token, type Status } from './api.js';
import { Events } from './events.js';
import { GroupPage, Groups } from './groups.js';
import { Overview } from './overview.js';

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

function Login({ onIn, reason }: { onIn: () => void; reason: string | undefined }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState(reason);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      await api<Status>('GET', '/admin/status', value.trim());
      token.set(value.trim());
      onIn();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That token was refused. Use the value of ADMIN_TOKEN.' : (err as Error).message);
    }
    setBusy(false);
  };
  return html`
    <section class="login" aria-labelledby="login-title">
      <h1 id="login-title">og-civicrm-sync</h1>
      <form onSubmit=${submit}>
        <label for="token">Admin token</label>
        <input id="token" type="password" autocomplete="off" required value=${value} onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} />
        <button type="submit" class="primary" disabled=${busy}>Sign in</button>
        ${error && html`<p class="error" role="alert">${error}</p>`}
      </form>
      <p class="hint">The token is kept for this tab only, and sent to this service alone.</p>
    </section>`;
}

function View({ hash }: { hash: string }) {
  const group = /^#\/groups\/(\d+)$/.exec(hash);
  if (group) return html`<${GroupPage} ogId=${Number(group[1])} />`;
  if (hash === '#/groups') return html`<${Groups} />`;
  if (hash === '#/events') return html`<${Events} />`;
  return html`<${Overview} />`;
}

function Console() {
  const hash = useHash();
  const [signedIn, setSignedIn] = useState(token.get() !== null);
  const [reason, setReason] = useState<string | undefined>(undefined);
  useEffect(() => {
    const refused = () => signOut('The token is no longer accepted; sign in again.');
    addEventListener(REFUSED_EVENT, refused);
    return () => removeEventListener(REFUSED_EVENT, refused);
  }, []);
  const signOut = (why?: string) => {
    token.clear();
    setReason(why);
    setSignedIn(false);
  };
  if (!signedIn) return html`<${Login} reason=${reason} onIn=${() => setSignedIn(true)} />`;
  const tab = (href: string, label: string, active: boolean) => html`<a href=${href} aria-current=${active ? 'page' : undefined}>${label}</a>`;
  return html`
    <header>
      <nav aria-label="Console">
        <span class="brand">og-civicrm-sync</span>
        ${tab('#/', 'Overview', !hash.startsWith('#/groups') && hash !== '#/events')}
        ${tab('#/groups', 'Groups', hash.startsWith('#/groups'))}
        ${tab('#/events', 'Events', hash === '#/events')}
        <button type="button" class="link" onClick=${() => signOut()}>Sign out</button>
      </nav>
    </header>
    <div class="content"><${View} hash=${hash} /></div>`;
}

const root = document.getElementById('app')!;
// The page's "Loading…" placeholder is not Preact's to diff against.
root.replaceChildren();
render(html`<${Console} />`, root);
