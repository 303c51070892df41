// The schedule preview: asks the server what an expression means and when it
// fires next (POST /api/utils/validate-cron). Nothing is computed here, so
// the page shows exactly what the scheduler will do.

const $ = (id) => document.getElementById(id);

async function loadZones() {
  const res = await fetch('/api/timezones');
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
    res = await fetch('/api/utils/validate-cron', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
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
checkHealth();
loadZones();
preview();
