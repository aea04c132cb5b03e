// Files a business-crime report through the form at /report in headless Chromium: first with a
// malformed LSOA code (the field's error must show next to it), then corrected. Prints
// {"fieldErrors": [pointers shown], "recordId": the filed report's id} and saves screenshots of
// both states in $E2E_ARTIFACTS_DIR/report (or the system temp dir).
//
//   node report.mjs URL USER:PASSWORD_FILE
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const [url, login] = process.argv.slice(2);
const [user, passwordFile] = login.split(':');
const outDir = join(process.env.E2E_ARTIFACTS_DIR || join(tmpdir(), 'lantern-e2e-artifacts'), 'report');
mkdirSync(outDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 900, height: 1100 } });
await page.goto(new URL('report', url).href);
await page.fill('input[name=user]', user);
await page.fill('input[name=password]', readFileSync(passwordFile, 'utf8').trim());
await page.click('#login-form button[type=submit]');
await page.waitForSelector('#report:not([hidden])');

await page.selectOption('select[name=sector]', 'pharmacy');
await page.selectOption('select[name=incident_type]', 'shoplifting');
await page.fill('input[name=occurred_at]', '2022-10-20T09:15');
await page.fill('input[name=postcode]', 'PR1 2HE');
await page.fill('input[name=lsoa_code]', 'X1');
await page.fill('input[name=loss_value]', '35.40');
await page.click('#report-form button[type=submit]');
await page.waitForSelector('.field-error');
const fieldErrors = await page.$$eval('.field-error', (nodes) => nodes.map((n) => n.dataset.pointer));
await page.screenshot({ path: join(outDir, 'report-field-error.png'), fullPage: true });

await page.fill('input[name=lsoa_code]', 'E01025437');
await page.click('#report-form button[type=submit]');
await page.waitForSelector('#report-result[data-record-id]');
const recordId = await page.$eval('#report-result', (n) => n.dataset.recordId);
await page.screenshot({ path: join(outDir, 'report-filed.png'), fullPage: true });
await browser.close();
console.log(JSON.stringify({ fieldErrors, recordId }));
