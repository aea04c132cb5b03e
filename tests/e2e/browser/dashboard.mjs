// Drives the dashboard in headless Chromium (Debian's `chromium`, through playwright-core), as
// each user given, and prints what the page shows as JSON for tests/e2e/dashboard.rs to check
// against SQL. Saves a full-page screenshot and a printed PDF of each user's dashboard.
//
//   node dashboard.mjs URL OUT_DIR USER:PASSWORD_FILE [USER:PASSWORD_FILE ...]
//
// Needs playwright-core (scripts/test.sh installs it under ~/.cache/lantern/node and sets
// NODE_PATH) and Chromium at $CHROMIUM (default /usr/bin/chromium).
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const [url, outDir, ...logins] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });

// The flags Chromium needs as root on a machine without internet: no sandbox (root), and no
// background connections to Google's services, which a closed network refuses.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

/** Everything a check needs from the page, read from what it displays. */
function readPage() {
  const panels = {};
  for (const panel of document.querySelectorAll('[data-panel]')) {
    const rows = [...panel.querySelectorAll('table.figures tbody tr')].map((tr) => {
      const row = {};
      for (const td of tr.querySelectorAll('td[data-key]')) row[td.dataset.key] = td.dataset.value;
      return row;
    });
    const headline = panel.querySelector('[data-figure="total"]');
    panels[panel.dataset.panel] = {
      state: panel.dataset.state,
      title: panel.querySelector('h2').textContent,
      synthetic: !!panel.querySelector('.synthetic'),
      error: panel.querySelector('.status.error')?.textContent ?? null,
      total: headline ? headline.dataset.value : null,
      rows,
      // Drawn shapes in the panel's charts: a blank chart has none beyond its axes.
      chartShapes: [...panel.querySelectorAll('.chart svg path')].length,
      committedAt: panel.dataset.committedAt ?? null,
    };
  }
  const form = document.getElementById('controls');
  return {
    role: document.getElementById('who-role').textContent,
    levels: [...form.level.options].map((o) => o.value),
    from: form.from.value,
    to: form.to.value,
    panels,
  };
}

const results = {};
for (const login of logins) {
  const [user, passwordFile] = login.split(':');
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const opened = Date.now();
  await page.goto(url);
  await page.waitForSelector('#login-form');
  const pageMs = Date.now() - opened;
  await page.fill('input[name=user]', user);
  await page.fill('input[name=password]', readFileSync(passwordFile, 'utf8').trim());
  const loggingIn = Date.now();
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#panels[data-state=ready]', { timeout: 60000 });
  const loadMs = Date.now() - loggingIn;
  const shown = await page.evaluate(readPage);
  shown.consoleErrors = consoleErrors;
  // How long the page took: opening it, then from "Log in" to every panel drawn; and each API
  // call's duration as the browser saw it (Resource Timing).
  const api = (await page.evaluate(() => performance.getEntriesByType('resource')
    .filter((e) => e.name.includes('/api/v1/')).map((e) => e.duration))).sort((a, b) => a - b);
  const at = (q) => Math.round(api[Math.min(api.length - 1, Math.ceil(q * api.length) - 1)]);
  shown.timing = { pageMs, loadMs, apiCalls: api.length, apiP50Ms: at(0.5), apiP95Ms: at(0.95), apiMaxMs: Math.round(api[api.length - 1]) };
  // The trend panel's CSV, downloaded as a user would.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('[data-panel="trend"] .actions button:first-child'),
  ]);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
  shown.trendCsv = { header: csv[0], rows: csv.length - 1, file: download.suggestedFilename() };
  await page.screenshot({ path: join(outDir, `dashboard-${user}.png`), fullPage: true });
  await page.emulateMedia({ media: 'print' });
  await page.pdf({ path: join(outDir, `dashboard-${user}.pdf`), format: 'A4', printBackground: true });
  results[user] = shown;
  await context.close();
}
await browser.close();
console.log(JSON.stringify(results));
