// Lantern's partnership dashboard.
//
// Every figure on the page is a value the HTTP SQL API returned for the viewer's own role: the
// browser only filters, orders and draws. Each panel keeps its SQL, shows it on request and
// downloads its result as CSV with the same query. Partners read the published
// (disclosure-controlled) tables; analysts read the force's own tables and the analytics.
'use strict';

const CODE = /^[A-Za-z0-9]+$/;
const MONTH = /^\d{4}-\d{2}$/;

const state = {
  user: null,
  role: null,
  places: [], // {level, code, name, parent codes...}
  months: [],
  provenance: {},
  geo: {},
  charts: [],
  generation: 0,
};

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, options = {}) {
  const response = await session.fetch(path, options);
  if (response.status === 401) {
    session.end(false);
    throw new ApiError(401, 'unauthenticated', 'Your session has ended: please log in again.');
  }
  if (!response.ok) {
    let code = 'error';
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      code = body.error.code;
      message = body.error.message;
    } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, code, message);
  }
  return response;
}

/** Runs SQL as the viewer: {columns, rows, committedAt}. */
async function sql(query) {
  const response = await api('/api/v1/sql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ sql: query }),
  });
  const body = await response.json();
  if (body.error) throw new ApiError(200, body.error.code, body.error.message);
  return {
    columns: body.columns.map((c) => c.name),
    rows: body.rows,
    committedAt: response.headers.get('lantern-committed-at'),
  };
}

async function downloadCsv(query, filename) {
  const response = await api('/api/v1/sql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/csv' },
    body: JSON.stringify({ sql: query }),
  });
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---------------------------------------------------------------- formatting

const number = (v) => (v === null || v === undefined ? '–' : Number(v).toLocaleString('en-GB'));
const money = (v) => (v === null || v === undefined ? 'withheld'
  : `£${Number(v).toLocaleString('en-GB', { maximumFractionDigits: 0 })}`);
const rate = (v) => (v === null || v === undefined ? '–' : Number(v).toFixed(1));
const pValue = (v) => (v === null || v === undefined ? '–' : (v < 0.001 ? '<0.001' : Number(v).toFixed(3)));

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function table(columns, rows) {
  if (rows.length === 0) return el('p', { class: 'status', text: 'Nothing to show for this area and period.' });
  const head = el('tr', {}, ...columns.map((c) => el('th', { class: c.numeric ? 'n' : '', text: c.label })));
  const body = rows.map((row) => el('tr', {}, ...columns.map((c) => {
    const cell = el('td', { class: c.numeric ? 'n' : '' });
    const value = c.value(row);
    if (value instanceof Node) cell.append(value); else cell.textContent = value;
    if (c.key) cell.dataset.key = c.key;
    if (c.raw) cell.dataset.value = c.raw(row) ?? '';
    return cell;
  })));
  return el('table', { class: 'figures' }, el('thead', {}, head), el('tbody', {}, ...body));
}

function quote(text) {
  return `'${String(text).replace(/'/g, "''")}'`;
}

// ---------------------------------------------------------------- the viewer's data sources

const isAnalyst = () => state.role === 'analyst' || state.role === 'admin';

/** The place levels the viewer can choose, with what they are called. */
function levels() {
  const all = [
    ['force', 'Whole force'], ['lad', 'Local authority'], ['csp', 'Community safety partnership'],
    ['ward', 'Ward'], ['msoa', 'Neighbourhood (MSOA)'],
  ];
  // Published tables hold MSOAs and CSPs (and local authorities, which MSOAs nest in); wards
  // cut across MSOAs, so partners have no ward figures.
  return isAnalyst() ? all : all.filter(([level]) => level !== 'ward');
}

/** The current selection, validated. */
function selection() {
  const form = document.getElementById('controls');
  const level = form.level.value;
  const code = form.place.value;
  let from = form.from.value;
  let to = form.to.value;
  if (from > to) [from, to] = [to, from];
  if (!MONTH.test(from) || !MONTH.test(to)) throw new Error('no months to show yet');
  if (level !== 'force' && !CODE.test(code)) throw new Error('choose an area');
  const place = state.places.find((p) => p.level === level && p.code === code);
  return { level, code, from, to, name: level === 'force' ? 'the whole force' : (place ? place.name : code) };
}

/** SQL condition selecting the chosen place in a table with LSOA..CSP code columns. */
function placeFilter(s, alias = '') {
  if (s.level === 'force') return `${alias}in_force_area`;
  return `${alias}${s.level}_code = ${quote(s.code)}`;
}

const publishedMonths = (s) => `period_level = 'month' AND period BETWEEN ${quote(s.from)} AND ${quote(s.to)} AND crime_type IS NOT NULL`;

/** SQL condition selecting the published MSOA rows of the chosen place. */
function publishedMsoas(s) {
  switch (s.level) {
    case 'force': return 'place_code IS NOT NULL';
    case 'msoa': return `place_code = ${quote(s.code)}`;
    default: return `place_code IN (SELECT DISTINCT msoa_code FROM force_places WHERE ${s.level}_code = ${quote(s.code)})`;
  }
}

/** Published incident rows of the chosen place: {table, where}. A CSP or the force has its own
 * published rows; a local authority or MSOA is read from the MSOA table. */
function publishedIncidents(s) {
  if (s.level === 'force') {
    return { table: 'partner_incidents_csp_monthly', where: `${publishedMonths(s)} AND place_code IS NOT NULL` };
  }
  if (s.level === 'csp') {
    return { table: 'partner_incidents_csp_monthly', where: `${publishedMonths(s)} AND place_code = ${quote(s.code)}` };
  }
  return { table: 'partner_incidents_msoa_monthly', where: `${publishedMonths(s)} AND ${publishedMsoas(s)}` };
}

/** The CSP or local authority a published business or cyber table can show for the place. */
function coarserPlace(s, level) {
  if (s.level === 'force') return { filter: 'place_code IS NOT NULL', label: 'the whole force' };
  if (s.level === level) return { filter: `place_code = ${quote(s.code)}`, label: s.name };
  return {
    filter: `place_code IN (SELECT DISTINCT ${level}_code FROM force_places WHERE ${s.level}_code = ${quote(s.code)})`,
    label: `the ${level === 'csp' ? 'community safety partnership' : 'local authority'} of ${s.name}`,
  };
}

function quarters(s) {
  const q = (m) => `${m.slice(0, 4)}-Q${Math.floor((Number(m.slice(5, 7)) - 1) / 3) + 1}`;
  return [q(s.from), q(s.to)];
}

function syntheticBadge(pipeline) {
  const sources = state.provenance[pipeline] || [];
  if (!sources.includes('synthetic')) return null;
  return el('span', {
    class: 'synthetic',
    title: 'This data was generated by `lantern import synthetic`; no real reports are public.',
    text: sources.length === 1 ? 'SYNTHETIC' : 'INCLUDES SYNTHETIC',
  });
}

// ---------------------------------------------------------------- panels
//
// A panel: id, title, who may see it, a plain-words caption, the basis of its data, its queries
// (the first is the one its CSV downloads), and how it draws their results.

const PANELS = [
  {
    id: 'trend',
    title: 'Monthly trend by crime type',
    caption: (s) => `Recorded crime and anti-social behaviour in ${s.name}, month by month, stacked by police.uk crime type.`,
    basis: () => (isAnalyst()
      ? 'Force records (incidents_monthly), by the month the offence happened.'
      : 'Published figures (partner_incidents_*_monthly): counts are perturbed and no count is below 10, so small areas and months show rounded, protected numbers.'),
    queries: (s) => {
      if (isAnalyst()) {
        const where = `${placeFilter(s)} AND month BETWEEN ${quote(s.from)} AND ${quote(s.to)}`;
        return [
          `SELECT month, crime_type, SUM(incidents) AS incidents FROM incidents_monthly WHERE ${where} GROUP BY 1, 2 ORDER BY 1, 2`,
          `SELECT SUM(incidents) AS total FROM incidents_monthly WHERE ${where}`,
        ];
      }
      const p = publishedIncidents(s);
      return [
        `SELECT period AS month, crime_type, SUM("count") AS incidents FROM ${p.table} WHERE ${p.where} GROUP BY 1, 2 ORDER BY 1, 2`,
        `SELECT SUM("count") AS total FROM ${p.table} WHERE ${p.where}`,
      ];
    },
    render: (body, [series, total]) => {
      body.append(el('p', { class: 'headline', 'data-figure': 'total', 'data-value': total.rows[0].total ?? 0 },
        `${number(total.rows[0].total ?? 0)} in the period`));
      const months = [...new Set(series.rows.map((r) => r.month))].sort();
      const types = [...new Set(series.rows.map((r) => r.crime_type))].sort();
      const byKey = new Map(series.rows.map((r) => [`${r.month}|${r.crime_type}`, r.incidents]));
      chart(body, {
        tooltip: { trigger: 'axis' },
        legend: { type: 'scroll', bottom: 0 },
        grid: { left: 50, right: 20, top: 20, bottom: 60 },
        xAxis: { type: 'category', data: months, boundaryGap: false },
        yAxis: { type: 'value', name: 'crimes and ASB' },
        series: types.map((t) => ({
          name: t, type: 'line', stack: 'all', areaStyle: {}, symbol: 'none',
          data: months.map((m) => byKey.get(`${m}|${t}`) ?? null),
        })),
      });
    },
  },
  {
    id: 'change',
    title: 'Change: month on month and year on year',
    analystOnly: true,
    caption: (s) => `Crimes in ${s.name} in ${s.to} against the month before and the same month a year before, by crime type. ▲/▼ marks a change unlikely to be chance (exact test, p < 0.05).`,
    basis: () => 'Analytics (analytics_rates_monthly): police.uk crime types, anti-social behaviour excluded from "All crime". A year-on-year test needs a year of data.',
    queries: (s) => [
      `SELECT crime_type, "count", previous_month_count, mom_change, mom_p_value, mom_significant, year_ago_count, yoy_change, yoy_p_value, yoy_significant FROM analytics_rates_monthly WHERE place_level = ${quote(s.level)}${s.level === 'force' ? '' : ` AND place_code = ${quote(s.code)}`} AND month = ${quote(s.to)} ORDER BY "count" DESC, crime_type`,
    ],
    render: (body, [result]) => {
      const flag = (change, significant) => {
        if (change === null || change === undefined) return '–';
        const text = `${change > 0 ? '+' : ''}${number(change)}`;
        if (!significant) return text;
        return el('span', { class: change > 0 ? 'flag-up' : 'flag-down', title: 'statistically significant (p < 0.05)' },
          `${change > 0 ? '▲' : '▼'} ${text}`);
      };
      body.append(table([
        { label: 'Crime type', value: (r) => r.crime_type },
        { label: 'Crimes', numeric: true, value: (r) => number(r.count), key: 'count', raw: (r) => r.count },
        { label: 'vs last month', numeric: true, value: (r) => flag(r.mom_change, r.mom_significant), key: 'mom_change', raw: (r) => r.mom_change },
        { label: 'p', numeric: true, value: (r) => pValue(r.mom_p_value) },
        { label: 'vs a year ago', numeric: true, value: (r) => flag(r.yoy_change, r.yoy_significant), key: 'yoy_change', raw: (r) => r.yoy_change },
        { label: 'p', numeric: true, value: (r) => pValue(r.yoy_p_value) },
      ], result.rows));
    },
  },
  {
    id: 'top',
    title: 'Top places',
    caption: (s) => (isAnalyst()
      ? `The ten neighbourhoods (LSOAs) in ${s.name} with the most recorded crime and ASB in the period, with the rate per 1,000 residents and the harm (Cambridge Crime Harm Index, days of imprisonment).`
      : `The ten neighbourhoods (MSOAs) in ${s.name} with the most recorded crime and ASB in the period, with the rate per 1,000 residents.`),
    basis: () => (isAnalyst()
      ? 'Counts from incidents_monthly; residents from the 2011 Census; harm from analytics_harm_monthly (crimes only).'
      : 'Published MSOA figures (partner_incidents_msoa_monthly), protected as above; residents from the 2011 Census.'),
    queries: (s) => {
      if (isAnalyst()) {
        const period = `month BETWEEN ${quote(s.from)} AND ${quote(s.to)}`;
        return [
          `WITH c AS (SELECT lsoa_code, SUM(incidents) AS incidents FROM incidents_monthly WHERE ${placeFilter(s)} AND ${period} AND lsoa_code IS NOT NULL GROUP BY 1), `
          + `h AS (SELECT place_code, SUM(harm_days) AS harm_days FROM analytics_harm_monthly WHERE place_level = 'lsoa' AND crime_type = 'All crime' AND ${period} GROUP BY 1) `
          + 'SELECT c.lsoa_code AS code, p.lsoa_name AS name, c.incidents, ROUND(1000.0 * c.incidents / p.residents, 1) AS rate_per_1000, ROUND(h.harm_days, 0) AS harm_days '
          + 'FROM c JOIN force_places p ON p.lsoa_code = c.lsoa_code LEFT JOIN h ON h.place_code = c.lsoa_code ORDER BY c.incidents DESC, code LIMIT 10',
        ];
      }
      const where = `${publishedMonths(s)} AND ${publishedMsoas(s)}`;
      return [
        `SELECT t.place_code AS code, n.msoa_name AS name, SUM(t."count") AS incidents, ROUND(1000.0 * SUM(t."count") / MAX(t.residents), 1) AS rate_per_1000 `
        + `FROM partner_incidents_msoa_monthly t JOIN (SELECT DISTINCT msoa_code, msoa_name FROM force_places) n ON n.msoa_code = t.place_code WHERE ${where} `
        + 'GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 10',
      ];
    },
    render: (body, [result]) => {
      const columns = [
        { label: 'Area', value: (r) => `${r.name} (${r.code})`, key: 'code', raw: (r) => r.code },
        { label: 'Crimes and ASB', numeric: true, value: (r) => number(r.incidents), key: 'incidents', raw: (r) => r.incidents },
        { label: 'per 1,000 residents', numeric: true, value: (r) => rate(r.rate_per_1000), key: 'rate_per_1000', raw: (r) => r.rate_per_1000 },
      ];
      if (isAnalyst()) columns.push({ label: 'Harm (days)', numeric: true, value: (r) => number(r.harm_days), key: 'harm_days', raw: (r) => r.harm_days });
      body.append(table(columns, result.rows));
    },
  },
  {
    id: 'map',
    title: 'Map',
    caption: (s) => `Crime and ASB in ${s.name} in the period, by ${isAnalyst() ? 'LSOA' : 'MSOA'}, shaded by count or by rate per 1,000 residents. Records without a place are not on the map (see "Where records could not be placed").`,
    basis: () => 'Boundaries: ONS 2011 LSOAs, generalised, and MSOAs drawn from them. Contains public sector information licensed under the Open Government Licence v3.0; contains OS data © Crown copyright and database right 2011.',
    queries: (s) => {
      if (isAnalyst()) {
        return [
          `WITH c AS (SELECT lsoa_code, SUM(incidents) AS incidents FROM incidents_monthly WHERE ${placeFilter(s)} AND month BETWEEN ${quote(s.from)} AND ${quote(s.to)} GROUP BY 1) `
          + 'SELECT p.lsoa_code AS code, p.lsoa_name AS name, COALESCE(c.incidents, 0) AS incidents, ROUND(1000.0 * COALESCE(c.incidents, 0) / p.residents, 1) AS rate_per_1000 '
          + `FROM force_places p LEFT JOIN c ON c.lsoa_code = p.lsoa_code ${s.level === 'force' ? '' : `WHERE p.${s.level}_code = ${quote(s.code)} `}ORDER BY 1`,
        ];
      }
      const inPlace = s.level === 'force' ? '' : `WHERE ${s.level}_code = ${quote(s.code)}`;
      return [
        `WITH m AS (SELECT DISTINCT msoa_code, msoa_name FROM force_places ${inPlace}), `
        + `c AS (SELECT place_code, SUM("count") AS incidents, MAX(residents) AS residents FROM partner_incidents_msoa_monthly WHERE period_level = 'month' AND period BETWEEN ${quote(s.from)} AND ${quote(s.to)} AND crime_type IS NOT NULL GROUP BY 1) `
        + 'SELECT m.msoa_code AS code, m.msoa_name AS name, COALESCE(c.incidents, 0) AS incidents, ROUND(1000.0 * COALESCE(c.incidents, 0) / c.residents, 1) AS rate_per_1000 '
        + 'FROM m LEFT JOIN c ON c.place_code = m.msoa_code ORDER BY 1',
      ];
    },
    render: async (body, [result]) => {
      const level = isAnalyst() ? 'lsoa' : 'msoa';
      const geo = await boundaries(level);
      const codes = new Set(result.rows.map((r) => r.code));
      const name = `${level}-${[...codes].length}-${result.rows[0] ? result.rows[0].code : ''}`;
      echarts.registerMap(name, { type: 'FeatureCollection', features: geo.features.filter((f) => codes.has(f.properties.code)) });
      const toggle = el('select', { 'aria-label': 'Shade by' },
        el('option', { value: 'incidents', text: 'count' }), el('option', { value: 'rate_per_1000', text: 'rate per 1,000 residents' }));
      body.append(el('label', { class: 'caption' }, 'Shade by ', toggle));
      const option = (measure) => {
        const values = result.rows.map((r) => r[measure]).filter((v) => v !== null);
        return {
          tooltip: { trigger: 'item', formatter: (p) => `${p.data ? p.data.label : p.name}<br>${measure === 'incidents' ? 'crimes and ASB' : 'per 1,000 residents'}: ${p.data ? p.data.value : '–'}` },
          visualMap: { min: 0, max: Math.max(1, ...values), left: 'left', bottom: 10, calculable: true, inRange: { color: ['#f7fbff', '#6baed6', '#08306b'] } },
          series: [{
            type: 'map', map: name, nameProperty: 'code', roam: true, aspectScale: 0.62,
            itemStyle: { borderColor: '#8899aa', borderWidth: 0.4 },
            emphasis: { label: { show: false } },
            data: result.rows.map((r) => ({ name: r.code, value: r[measure], label: `${r.name} (${r.code})` })),
          }],
        };
      };
      const chartEl = chart(body, option('incidents'), 'map');
      toggle.addEventListener('change', () => echarts.getInstanceByDom(chartEl).setOption(option(toggle.value), true));
    },
  },
  {
    id: 'business',
    title: 'Business crime',
    pipeline: 'business_crime',
    caption: (s) => (isAnalyst()
      ? `Crimes reported by businesses in ${s.name} in the period, by sector and type, with reported losses.`
      : `Business crime reports by sector for ${coarserPlace(s, 'csp').label}, in the quarters of the period, with reported losses where publishable.`),
    basis: () => (isAnalyst()
      ? 'business_crime_monthly: reports from business crime reduction partnerships, whether or not police were told.'
      : 'Published by community safety partnership and quarter (partner_business_crime_csp_quarterly); small counts are suppressed and losses dominated by one or two businesses are withheld.'),
    queries: (s) => {
      if (isAnalyst()) {
        const where = `${placeFilter(s)} AND month BETWEEN ${quote(s.from)} AND ${quote(s.to)}`;
        return [
          `SELECT sector, SUM(incidents) AS incidents, SUM(loss_total) AS losses FROM business_crime_monthly WHERE ${where} GROUP BY 1 ORDER BY 2 DESC, 1`,
          `SELECT sector, incident_type, SUM(incidents) AS incidents FROM business_crime_monthly WHERE ${where} GROUP BY 1, 2 ORDER BY 1, 2`,
        ];
      }
      const [q0, q1] = quarters(s);
      // A sum over cells some of which are withheld would understate: such sums are shown as
      // "at least", and a loss total only when every cell's losses were published.
      return [`SELECT sector, SUM("count") AS incidents, COUNT(*) FILTER (WHERE status <> 'published') AS protected_cells, CASE WHEN COUNT(*) FILTER (WHERE loss_total_status <> 'published') = 0 THEN SUM(loss_total) END AS losses FROM partner_business_crime_csp_quarterly WHERE ${coarserPlace(s, 'csp').filter} AND period BETWEEN ${quote(q0)} AND ${quote(q1)} AND sector IS NOT NULL GROUP BY 1 ORDER BY 2 DESC NULLS LAST, 1`];
    },
    render: (body, [result, byType]) => {
      if (isAnalyst()) {
        const sectors = result.rows.map((r) => r.sector).reverse();
        const types = [...new Set(byType.rows.map((r) => r.incident_type))].sort();
        const byKey = new Map(byType.rows.map((r) => [`${r.sector}|${r.incident_type}`, r.incidents]));
        chart(body, {
          tooltip: { trigger: 'axis' }, legend: { type: 'scroll', bottom: 0 },
          grid: { left: 130, right: 20, top: 10, bottom: 50 },
          yAxis: { type: 'category', data: sectors }, xAxis: { type: 'value', name: 'reports' },
          series: types.map((t) => ({ name: t, type: 'bar', stack: 'all', data: sectors.map((x) => byKey.get(`${x}|${t}`) ?? 0) })),
        });
        body.append(table([
          { label: 'Sector', value: (r) => r.sector, key: 'sector', raw: (r) => r.sector },
          { label: 'Reports', numeric: true, value: (r) => number(r.incidents), key: 'incidents', raw: (r) => r.incidents },
          { label: 'Losses', numeric: true, value: (r) => money(r.losses), key: 'losses', raw: (r) => r.losses },
        ], result.rows));
        return;
      }
      body.append(table([
        { label: 'Sector', value: (r) => r.sector },
        { label: 'Reports', numeric: true, value: (r) => (r.protected_cells > 0 ? `at least ${number(r.incidents ?? 0)}` : number(r.incidents)), key: 'incidents', raw: (r) => r.incidents },
        { label: 'Losses', numeric: true, value: (r) => money(r.losses), key: 'losses', raw: (r) => r.losses },
        { label: 'Protected cells', numeric: true, value: (r) => number(r.protected_cells) },
      ], result.rows));
    },
  },
  {
    id: 'cyber',
    title: 'Fraud and cybercrime',
    pipeline: 'cybercrime',
    caption: (s) => (isAnalyst()
      ? `Fraud and cybercrime reports (Action Fraud) from victims in ${s.name} in the period, by NFIB group and kind of victim, with reported losses.`
      : `Fraud and cybercrime reports by NFIB group for ${coarserPlace(s, 'lad').label} in the period.`),
    basis: () => (isAnalyst()
      ? 'cybercrime_monthly, placed by the victim\'s home or business location.'
      : 'Published by local authority and month (partner_cybercrime_lad_monthly), protected as the crime figures.'),
    queries: (s) => {
      if (isAnalyst()) {
        return [`SELECT nfib_group, victim_kind, SUM(reports) AS reports, SUM(loss_total) AS losses FROM cybercrime_monthly WHERE ${placeFilter(s)} AND month BETWEEN ${quote(s.from)} AND ${quote(s.to)} GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2`];
      }
      return [`SELECT nfib_group, SUM("count") AS reports, CASE WHEN COUNT(*) FILTER (WHERE loss_total_status <> 'published') = 0 THEN SUM(loss_total) END AS losses FROM partner_cybercrime_lad_monthly WHERE ${coarserPlace(s, 'lad').filter} AND period_level = 'month' AND period BETWEEN ${quote(s.from)} AND ${quote(s.to)} AND nfib_group IS NOT NULL GROUP BY 1 ORDER BY 2 DESC NULLS LAST, 1`];
    },
    render: (body, [result]) => {
      const rows = result.rows.slice(0, 12);
      const label = (r) => (isAnalyst() ? `${r.nfib_group} (${r.victim_kind})` : r.nfib_group);
      chart(body, {
        tooltip: { trigger: 'axis' }, grid: { left: 150, right: 20, top: 10, bottom: 30 },
        yAxis: { type: 'category', data: rows.map(label).reverse() }, xAxis: { type: 'value', name: 'reports' },
        series: [{ type: 'bar', name: 'reports', data: rows.map((r) => r.reports ?? 0).reverse(), itemStyle: { color: '#1f5f99' } }],
      });
      const columns = [{ label: 'NFIB group', value: (r) => r.nfib_group }];
      if (isAnalyst()) columns.push({ label: 'Victim', value: (r) => r.victim_kind });
      columns.push(
        { label: 'Reports', numeric: true, value: (r) => number(r.reports), key: 'reports', raw: (r) => r.reports },
        { label: 'Losses', numeric: true, value: (r) => money(r.losses), key: 'losses', raw: (r) => r.losses },
      );
      body.append(table(columns, result.rows));
    },
  },
  {
    id: 'placement',
    title: 'Where records could not be placed',
    caption: () => 'Every record in the period across the force, by whether it could be placed. Records with no location, outside the force area or unplaced appear in no area\'s figures and on no map.',
    basis: () => (isAnalyst()
      ? 'incidents_monthly place_status: in_force, outside_force, no_location, postcode_district_only, unplaced.'
      : 'Published CSP figures: "not placed" rows have no area code. Records outside the force area are not published.'),
    queries: (s) => {
      if (isAnalyst()) {
        return [`SELECT place_status, SUM(incidents) AS incidents FROM incidents_monthly WHERE month BETWEEN ${quote(s.from)} AND ${quote(s.to)} GROUP BY 1 ORDER BY 2 DESC`];
      }
      return [`SELECT CASE WHEN place_code IS NULL THEN 'not placed' ELSE 'placed in an area' END AS place_status, SUM("count") AS incidents FROM partner_incidents_csp_monthly WHERE period_level = 'month' AND period BETWEEN ${quote(s.from)} AND ${quote(s.to)} AND crime_type IS NOT NULL GROUP BY 1 ORDER BY 2 DESC`];
    },
    render: (body, [result]) => {
      body.append(table([
        { label: 'Placement', value: (r) => r.place_status, key: 'place_status', raw: (r) => r.place_status },
        { label: 'Crimes and ASB', numeric: true, value: (r) => number(r.incidents), key: 'incidents', raw: (r) => r.incidents },
      ], result.rows));
    },
  },
];

function chart(body, option, extraClass = '') {
  const node = el('div', { class: `chart ${extraClass}`.trim() });
  body.append(node);
  const instance = echarts.init(node, null, { renderer: 'svg' });
  instance.setOption(Object.assign({ animation: false }, option));
  state.charts.push(instance);
  return node;
}

async function boundaries(level) {
  if (!state.geo[level]) {
    const response = await api(`/api/v1/boundaries/${level}`);
    state.geo[level] = await response.json();
  }
  return state.geo[level];
}

// ---------------------------------------------------------------- drawing the panels

function panelShell(panel, s) {
  const title = el('h2', { text: panel.title });
  const badge = panel.pipeline ? syntheticBadge(panel.pipeline) : null;
  if (badge) title.append(badge);
  const csv = el('button', { type: 'button', text: 'CSV' });
  const showSql = el('button', { type: 'button', text: 'SQL' });
  const node = el('article', { class: 'panel', 'data-panel': panel.id, 'data-state': 'loading' },
    el('header', {}, title, el('span', { class: 'actions' }, csv, ' ', showSql)),
    el('p', { class: 'caption', text: panel.caption(s) }),
    el('div', { class: 'body' }, el('p', { class: 'status', text: 'Loading…' })),
    el('p', { class: 'basis', text: panel.basis() }));
  const queries = panel.queries(s);
  csv.addEventListener('click', () => downloadCsv(queries[0], `lantern-${panel.id}-${s.level}-${s.code || 'force'}-${s.from}-${s.to}.csv`)
    .catch((e) => alert(e.message)));
  showSql.addEventListener('click', () => {
    const existing = node.querySelector('pre.sql');
    if (existing) existing.remove();
    else node.append(el('pre', { class: 'sql', text: queries.join(';\n\n') }));
  });
  return { node, queries };
}

async function drawPanel(panel, s, container) {
  const { node, queries } = panelShell(panel, s);
  container.append(node);
  const body = node.querySelector('.body');
  try {
    const results = await Promise.all(queries.map(sql));
    body.replaceChildren();
    await panel.render(body, results, s);
    const committed = results.map((r) => r.committedAt).filter(Boolean).sort().pop();
    if (committed) {
      node.querySelector('.basis').append(` Last commit: ${new Date(committed).toLocaleString('en-GB', { timeZone: 'Europe/London' })}.`);
      node.dataset.committedAt = committed;
    }
    node.dataset.state = 'ready';
  } catch (error) {
    body.replaceChildren(el('p', { class: 'status error', text: `Could not load this panel: ${error.message}` }));
    node.dataset.state = 'error';
  }
}

async function drawAll() {
  let s;
  try {
    s = selection();
  } catch (error) {
    document.getElementById('context').textContent = error.message;
    return;
  }
  // A newer choice supersedes a draw still in flight: only the latest may mark the page ready.
  const generation = ++state.generation;
  for (const c of state.charts) c.dispose();
  state.charts = [];
  const container = document.getElementById('panels');
  container.replaceChildren();
  container.dataset.state = 'loading';
  const where = s.name.charAt(0).toUpperCase() + s.name.slice(1);
  document.getElementById('context').textContent = `${where}, ${s.from} to ${s.to}. ${isAnalyst()
    ? 'You see the force\'s own figures and the analytics.'
    : 'You see the published, disclosure-controlled figures.'}`;
  const visible = PANELS.filter((p) => !p.analystOnly || isAnalyst());
  await Promise.all(visible.map((p) => drawPanel(p, s, container)));
  if (generation !== state.generation) return;
  // Keep the panel order fixed whatever finished first.
  for (const p of visible) container.append(container.querySelector(`[data-panel="${p.id}"]`));
  container.dataset.state = 'ready';
}

// ---------------------------------------------------------------- controls

function fillSelect(select, options, selected) {
  select.replaceChildren(...options.map(([value, label]) => el('option', { value, text: label })));
  if (selected !== undefined && options.some(([v]) => v === selected)) select.value = selected;
}

function fillPlaces() {
  const form = document.getElementById('controls');
  const level = form.level.value;
  if (level === 'force') {
    fillSelect(form.place, [['', 'Whole force']]);
    form.place.disabled = true;
  } else {
    fillSelect(form.place, state.places.filter((p) => p.level === level).map((p) => [p.code, p.name]));
    form.place.disabled = false;
  }
}

async function loadChoices() {
  const places = await sql(['lad', 'csp', 'ward', 'msoa']
    .map((level) => `SELECT '${level}' AS level, ${level}_code AS code, MIN(${level}_name) AS name FROM force_places GROUP BY 2`)
    .join(' UNION ALL ') + ' ORDER BY 1, 3');
  state.places = places.rows;
  const months = await sql(isAnalyst()
    ? 'SELECT DISTINCT month FROM incidents_monthly WHERE month IS NOT NULL ORDER BY 1'
    : "SELECT DISTINCT period AS month FROM partner_incidents_csp_monthly WHERE period_level = 'month' ORDER BY 1");
  state.months = months.rows.map((r) => r.month);
  const provenance = await (await api('/api/v1/provenance')).json();
  state.provenance = provenance.pipelines;
}

async function start() {
  const me = await (await api('/api/v1/me')).json();
  state.user = me.user;
  state.role = me.role;
  document.getElementById('who-name').textContent = me.user;
  document.getElementById('who-role').textContent = me.role;
  document.getElementById('who').hidden = false;
  document.getElementById('login').hidden = true;
  document.getElementById('dashboard').hidden = false;
  await loadChoices();
  const form = document.getElementById('controls');
  const params = new URLSearchParams(location.hash.slice(1));
  fillSelect(form.level, levels(), params.get('level') || 'force');
  fillPlaces();
  if (params.get('place')) form.place.value = params.get('place');
  const months = state.months.map((m) => [m, m]);
  fillSelect(form.from, months, params.get('from') || state.months[Math.max(0, state.months.length - 12)]);
  fillSelect(form.to, months, params.get('to') || state.months[state.months.length - 1]);
  form.addEventListener('change', (event) => {
    if (event.target.name === 'level') fillPlaces();
    const s = { level: form.level.value, place: form.place.value, from: form.from.value, to: form.to.value };
    history.replaceState(null, '', `#${new URLSearchParams(s)}`);
    drawAll();
  });
  await drawAll();
}

/** Back to the login form. */
function showLogin() {
  document.getElementById('who').hidden = true;
  document.getElementById('dashboard').hidden = true;
  document.getElementById('login').hidden = false;
}

window.addEventListener('resize', () => state.charts.forEach((c) => c.resize()));
window.addEventListener('beforeprint', () => state.charts.forEach((c) => c.resize()));

session.bind({ onLogin: start, onLogout: showLogin });
