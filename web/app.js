// The schedule preview: asks the server what an expression means and when it
// fires next (POST /api/utils/validate-cron). Nothing is computed here, so
// the page shows exactly what the scheduler will do.
//
// The API needs a signed-in user: the session cookie is HttpOnly (this page
// never sees it); the CSRF token that comes with it is repeated in
// X-CSRF-Token on every request that changes something.

const $ = (id) => document.getElementById(id);

function csrfToken() {
  const m = document.cookie.match(/(?:^|; )cronflow_csrf=([0-9a-f]+)/);
  return m ? m[1] : '';
}

// fetch for the API: JSON bodies, the CSRF header on writes; a 401 shows
// the sign-in form.
async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.method && options.method !== 'GET') headers['X-CSRF-Token'] = csrfToken();
  const res = await fetch(path, { ...options, headers, credentials: 'same-origin' });
  if (res.status === 401) showSignIn();
  return res;
}

function showSignIn() {
  $('signin').hidden = false;
  $('preview-section').hidden = true;
  $('who').hidden = true;
}

async function showApp() {
  const res = await api('/api/me');
  if (!res.ok) return;
  const me = await res.json();
  $('signin').hidden = true;
  $('preview-section').hidden = false;
  $('who').hidden = false;
  $('who-name').textContent = `${me.user ? me.user.email : 'token'} (${me.role}, ${me.organization.name})`;
  loadZones();
  preview();
}

async function signIn(event) {
  event.preventDefault();
  const res = await fetch('/api/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: $('email').value, password: $('password').value }),
    credentials: 'same-origin',
  });
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    $('signin-error').textContent = data.error?.message ?? `sign-in failed (${res.status})`;
    $('signin-error').hidden = false;
    return;
  }
  $('signin-error').hidden = true;
  $('password').value = '';
  showApp();
}

async function signOut() {
  await api('/api/auth/logout', { method: 'POST' });
  showSignIn();
}

async function loadZones() {
  const res = await api('/api/timezones');
  if (!res.ok) return;
  const { items } = await res.json();
  const list = $('zones');
  for (const name of items) {
    const opt = document.createElement('option');
    opt.value = name;
    list.append(opt);
  }
}

async function checkHealth() {
  try {
    const res = await fetch('/healthz');
    const body = await res.json();
    $('status').textContent = `server ${body.status}, version ${body.version}`;
  } catch {
    $('status').textContent = 'server unreachable';
  }
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
  $('runs').hidden = true;
  $('description').textContent = '';
}

async function preview(event) {
  event?.preventDefault();
  const body = {
    expression: $('expression').value,
    timezone: $('timezone').value || 'UTC',
    count: Number($('count').value) || 10,
  };
  let res;
  try {
    res = await api('/api/utils/validate-cron', { method: 'POST', body: JSON.stringify(body) });
  } catch {
    showError('The server cannot be reached.');
    return;
  }
  const data = await res.json();
  if (!res.ok) {
    showError(data.error?.message ?? `request failed (${res.status})`);
    return;
  }
  if (!data.valid) {
    showError(data.error.message);
    return;
  }
  $('error').hidden = true;
  $('description').textContent = data.description;
  const tbody = $('runs').querySelector('tbody');
  tbody.replaceChildren();
  data.next_runs.forEach((run, i) => {
    const tr = document.createElement('tr');
    const note = run.dst_shifted
      ? 'moved later: that wall time does not exist (DST gap)'
      : run.dst_repeat ? 'second pass of a repeated hour (DST fold)' : '';
    for (const [text, cls] of [[String(i + 1)], [run.local], [run.utc], [note, 'note']]) {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    tbody.append(tr);
  });
  $('runs').hidden = data.next_runs.length === 0;
}

$('preview').addEventListener('submit', preview);
$('signin-form').addEventListener('submit', signIn);
$('signout').addEventListener('click', signOut);
checkHealth();
showApp();
