// The business-crime report form: the same endpoint any system would use,
// POST /api/v1/reports/business-crime. The report id doubles as the Idempotency-Key, so sending
// the same report twice (a double click, a retry after a lost connection) files it once. Field
// errors come back as JSON pointers and are shown next to their inputs.
'use strict';

let reportId = null;

function show(id, visible) { document.getElementById(id).hidden = !visible; }

async function start() {
  const response = await session.fetch('/api/v1/me');
  if (!response.ok) throw new Error('not logged in');
  const me = await response.json();
  document.getElementById('who-name').textContent = `${me.user} · ${me.role}`;
  const select = document.querySelector('select[name=business_ref]');
  select.replaceChildren(...(me.businesses || []).map((b) => Object.assign(document.createElement('option'), { value: b, textContent: b })));
  show('who', true);
  show('login', false);
  show('report', true);
}

function clearErrors(form) {
  for (const node of form.querySelectorAll('.field-error')) node.remove();
}

function showErrors(form, fields) {
  for (const field of fields) {
    const input = [...form.querySelectorAll('[data-pointer]')].find((i) => field.pointer === i.dataset.pointer || field.pointer.startsWith(`${i.dataset.pointer}/`));
    const note = Object.assign(document.createElement('span'), { className: 'field-error error', textContent: ` ${field.pointer || 'report'}: ${field.reason}` });
    note.dataset.pointer = field.pointer;
    (input ? input.closest('label') : form.querySelector('button[type=submit]')).after(note);
  }
}

function report(form) {
  if (!reportId) reportId = `web-${crypto.randomUUID()}`;
  const premises = {};
  if (form.postcode.value.trim()) premises.postcode = form.postcode.value.trim();
  if (form.lsoa_code.value.trim()) premises.lsoa_code = form.lsoa_code.value.trim();
  const occurred = form.occurred_at.value ? new Date(form.occurred_at.value) : null;
  const body = {
    schema_version: 1,
    source: 'lantern-report-form',
    occurred_at: occurred && !Number.isNaN(occurred.getTime()) ? occurred.toISOString().replace(/\.\d{3}Z$/, 'Z') : form.occurred_at.value,
    reported_at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    report_id: reportId,
    version: 1,
    status: 'reported',
    business_ref: form.business_ref.value,
    sector: form.sector.value,
    premises,
    incident_type: form.incident_type.value,
    reported_to_police: form.reported_to_police.checked,
  };
  if (form.loss_value.value !== '') body.loss_value = Number(form.loss_value.value);
  if (form.police_reference.value.trim()) body.police_reference = form.police_reference.value.trim();
  return body;
}

document.getElementById('report-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  const result = document.getElementById('report-result');
  clearErrors(form);
  result.textContent = 'Sending…';
  result.className = '';
  const body = report(form);
  const response = await session.fetch('/api/v1/reports/business-crime', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Idempotency-Key': body.report_id },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 202) {
    result.textContent = `Thank you: report ${answer.record_id} received.`;
    result.dataset.recordId = answer.record_id;
    result.dataset.eventId = answer.event_id;
    reportId = null; // the next report is a new one
    return;
  }
  result.className = 'error';
  const error = answer.error || { message: `${response.status} ${response.statusText}` };
  result.textContent = response.status === 400 ? 'Please correct the fields marked below.' : error.message;
  if (error.fields) showErrors(form, error.fields);
});

session.bind({
  onLogin: start,
  onLogout: () => {
    show('who', false);
    show('report', false);
    show('login', true);
  },
});
