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
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(url);
  await page.fill('input[name=user]', user);
  await page.fill('input[name=password]', readFileSync(passwordFile, 'utf8').trim());
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#panels[data-state=ready]', { timeout: 60000 });
  const shown = await page.evaluate(readPage);
  shown.consoleErrors = consoleErrors;
  await page.screenshot({ path: join(outDir, `dashboard-${user}.png`), fullPage: true });
  await page.emulateMedia({ media: 'print' });
  await page.pdf({ path: join(outDir, `dashboard-${user}.pdf`), format: 'A4', printBackground: true });
  results[user] = shown;
  await context.close();
}
await browser.close();
console.log(JSON.stringify(results));
