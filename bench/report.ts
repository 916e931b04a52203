/**
 * `npm run bench -- --report [file]`: one HTML page (default bench/report.html) with the
 * tables and charts of every result in bench/results/ (the latest run of each bench and
 * label). Charts are drawn by Chart.js, whose UMD build is inlined: the page opens offline.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { loadResults, type BenchResult } from './load/results.js';
import { BENCH_DIR } from './repo-root.js';

const here = BENCH_DIR;
export const DEFAULT_REPORT = path.join(here, 'report.html');

/** Chart.js's browser build (UMD, minified), from the installed package. */
function chartJs(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return readFileSync(path.join(path.dirname(main), 'chart.umd.min.js'), 'utf8');
}

/** JSON safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/** Writes the report; returns its path. */
export function writeReport(file = DEFAULT_REPORT): string {
  const results: BenchResult[] = loadResults();
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} when the report was written`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Switchboard benchmarks</title>
<style>
  body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1d232a; padding: 0 1rem; }
  h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccd; padding-bottom: .2rem; }
  table { border-collapse: collapse; margin: .8rem 0; font-variant-numeric: tabular-nums; }
  th, td { border: 1px solid #d6dae0; padding: .25rem .55rem; text-align: right; }
  th:first-child, td:first-child { text-align: left; } th { background: #f2f4f7; }
  code { font-size: 12px; background: #f2f4f7; padding: 1px 4px; word-break: break-all; }
  .charts { display: grid; grid-template-columns: 1fr 1fr; gap: 1.2rem; }
  .chart { position: relative; height: 280px; }
  .bad { color: #b00020; font-weight: 600; } .good { color: #11713a; font-weight: 600; }
  .note { color: #555; }
</style>
</head>
<body>
<h1>Switchboard benchmarks</h1>
<p class="note">${results.length} result file(s) from bench/results/. Machine: ${machine}. Server and load generator share the machine: figures are indicative, ratios within one run are what count.</p>
<div id="root"></div>
<script>${chartJs()}</script>
<script id="data" type="application/json">${scriptJson(results)}</script>
<script>${clientScript}</script>
</body>
</html>
`;
  writeFileSync(file, html);
  return file;
}

/** The page's own script: tables and Chart.js charts from the embedded results. Plain browser JavaScript. */
const clientScript = String.raw`
const results = JSON.parse(document.getElementById('data').textContent);
const root = document.getElementById('root');
const colors = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4d7c0f', '#be185d'];
const ms = (v) => v == null || !isFinite(v) ? 'n/a' : v >= 1000 ? (v / 1000).toFixed(2) + ' s' : v.toFixed(1) + ' ms';
const num = (v, d = 0) => v == null || !isFinite(v) ? 'n/a' : Number(v).toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
const mb = (b) => (b / 1048576).toFixed(1) + ' MB';
const ok = (good, text) => '<span class="' + (good ? 'good' : 'bad') + '">' + text + '</span>';
function el(tag, html) { const e = document.createElement(tag); e.innerHTML = html; root.appendChild(e); return e; }
function table(head, rows) { el('table', '<tr>' + head.map((h) => '<th>' + h + '</th>').join('') + '</tr>' + rows.map((r) => '<tr>' + r.map((c) => '<td>' + c + '</td>').join('') + '</tr>').join('')); }
// The machine's yardstick of each run (bench/load/yardstick.ts): runs of different machines or days side by side (lower is faster).
const yardstick = (m) => m ? '; yardstick JS ' + ms(m.jsMs) + ', loopback ' + ms(m.loopbackMs) + ' (' + m.cores + ' cores, ' + m.cpu + ')' : '';
function commands(list) { el('p', list.map((r) => 'Reproduce (' + r.label + ', ' + r.at.slice(0, 16).replace('T', ' ') + ' UTC' + yardstick(r.machine) + '): <code>' + r.command + '</code>').join('<br>')); }
let charts;
function chartBox(title) { if (!charts) charts = el('div', ''), charts.className = 'charts'; const box = document.createElement('div'); box.innerHTML = '<h3>' + title + '</h3><div class="chart"><canvas></canvas></div>'; charts.appendChild(box); return box.querySelector('canvas'); }
function endCharts() { charts = undefined; }
/** A latency distribution chart: share of samples per log-spaced bin. */
function histogram(title, series, what = ['% of deliveries', 'publish to delivery']) {
  const withData = series.filter((s) => s.dist && s.dist.n > 0);
  if (withData.length === 0) return;
  const edges = withData[0].dist.edges;
  let lo = edges.length, hi = 0;
  for (const s of withData) s.dist.counts.forEach((c, i) => { if (c > 0) { lo = Math.min(lo, i); hi = Math.max(hi, i); } });
  new Chart(chartBox(title), {
    type: 'line',
    data: {
      labels: edges.slice(lo, hi + 1).map((e) => '≤ ' + ms(e)),
      datasets: withData.map((s, i) => ({ label: s.label + ' (p50 ' + ms(s.dist.p50) + ', p99 ' + ms(s.dist.p99) + ')', data: s.dist.counts.slice(lo, hi + 1).map((c) => (100 * c) / s.dist.n), borderColor: colors[i % colors.length], backgroundColor: colors[i % colors.length] + '33', fill: true, tension: 0.25, pointRadius: 1 })),
    },
    options: { maintainAspectRatio: false, animation: false, scales: { y: { title: { display: true, text: what[0] } }, x: { title: { display: true, text: what[1] } } } },
  });
}
function bars(title, labels, datasets, yTitle) {
  new Chart(chartBox(title), { type: 'bar', data: { labels, datasets: datasets.map((d, i) => ({ backgroundColor: colors[i % colors.length], ...d })) }, options: { maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true, title: { display: true, text: yTitle } } } } });
}
const of = (bench) => results.filter((r) => r.bench === bench);
// The median measured broadcast's CPU (server, load generator; warm-up rounds left out) and the least time both allow on the machine's cores (bench/connections.ts).
function floorOf(d) {
  const measured = (d.broadcastCpuMs ?? []).slice(d.warmup ?? 0);
  if (measured.length === 0) return '–';
  const mid = [...measured].sort((a, b) => a.server + a.load - b.server - b.load)[Math.floor(measured.length / 2)];
  // Of the server's: the kernel's time, the other threads' (V8's concurrent marking above all) and the collector's pauses, when the run recorded them.
  const parts = [mid.serverSystem === undefined ? '' : 'system ' + num(mid.serverSystem / 1000, 2) + ' s', mid.serverOffMain === undefined ? '' : 'off the main threads ' + num(mid.serverOffMain / 1000, 2) + ' s', mid.serverGcPause === undefined ? '' : 'GC pauses ' + num(mid.serverGcPause / 1000, 2) + ' s'].filter(Boolean);
  return num(mid.server / 1000, 2) + ' s' + (parts.length ? ' (' + parts.join(', ') + ')' : '') + ' + ' + num(mid.load / 1000, 2) + ' s = ' + num((mid.server + mid.load) / 1000 / d.cores, 2) + ' s on ' + d.cores + ' cores';
}

// Costs (bench/costs/costs.ts): each section's latest run, against the targets of issue 10, part 4.
const costs = of('costs');
el('h2', 'What a request, a connection and a message cost');
if (costs.length === 0) el('p', 'No run yet: <code>npm run bench:costs</code> (after <code>npm run build</code>; <code>COSTS_POLL_PAIRED=1 COSTS_POLL_ROUNDS=3 npm run bench:costs -- poll</code> for the polling ratios).');
else {
  const latest = (part, accept = () => true) => [...costs].reverse().find((r) => r.data[part] && accept(r.data[part]));
  const rows = [];
  const used = new Set();
  const row = (r, what, target, measured, good, against) => { used.add(r); rows.push([what, target, good === undefined ? measured : ok(good, measured), against, r.label + ', ' + r.at.slice(0, 16).replace('T', ' ')]); };
  const poll = latest('poll', (p) => p.against === 'socket.io-polling');
  const routes = { 'native-longpoll': 'native long poll', 'native-poll': 'native short poll', 'lecture-longpoll': 'lecture /longpoll', 'lecture-poll': 'lecture /poll', 'bare-longpoll': 'bare node:http, native long poll', 'bare-lecture-longpoll': 'bare node:http, lecture /longpoll', 'bare-lecture-poll': 'bare node:http, lecture /poll', 'held-longpoll': 'Switchboard\'s held poll alone (no session, router or scheduler), native long poll' };
  // The bare servers and the held poll alone are for reference: no target of their own.
  const references = { 'held-longpoll': 'reference: what the route ends in' };
  if (poll) for (const k of poll.data.poll.ratios) {
    const reference = k.kind.startsWith('bare-') ? 'node\'s own floor' : references[k.kind];
    row(poll, 'CPU per request answered, ' + (routes[k.kind] ?? k.kind) + ', ' + poll.data.poll.clients + ' clients at ' + poll.data.poll.rate + ' msg/s', reference ?? '≤ 1.00 × Socket.IO', num(k.median, 2) + ' × [' + k.values.map((v) => num(v, 2)).join(' ') + ']', reference ? undefined : k.median <= 1, 'Socket.IO 4 polling, same window');
  }
  const connect = latest('connect');
  if (connect) {
    const c = connect.data.connect, sb = c.rows.find((x) => x.name.startsWith('switchboard')), bare = c.rows.find((x) => x.name === 'bare ws');
    if (sb) row(connect, 'Connecting ' + num(c.connections) + ' WebSockets, each subscribed', '< 2 s', num(sb.seconds, 2) + ' s', sb.seconds < 2, bare ? 'bare ws ' + num(bare.seconds, 2) + ' s' : '');
  }
  const memory = latest('memory');
  if (memory) {
    const m = memory.data.memory, bare = m.rows.find((x) => x.kind === 'bare ws');
    for (const [kind, target] of [['websocket', 8], ['sse', 12]]) {
      const x = m.rows.find((y) => y.kind === kind);
      if (x) row(memory, 'Server RSS per idle ' + (kind === 'sse' ? 'SSE stream' : 'WebSocket') + ' at ' + num(m.connections), '≤ ' + target + ' KiB', num(x.kibPerConnection, 1) + ' KiB', x.kibPerConnection <= target, bare ? 'bare ws ' + num(bare.kibPerConnection, 1) + ' KiB' : '');
    }
  }
  const sse = latest('sse');
  if (sse) {
    const e = sse.data.sse, sb = e.rows.find((x) => x.name === 'switchboard'), lecture = e.rows.find((x) => x.name !== 'switchboard');
    if (sb) row(sse, 'SSE latency p99, ' + num(e.clients) + ' clients at 100 msg/s', '< 15 ms', ms(sb.p99) + ' (p50 ' + ms(sb.p50) + ')', sb.p99 < 15, lecture ? 'the lecture\'s server ' + ms(lecture.p99) + ' (p50 ' + ms(lecture.p50) + ')' : '');
  }
  el('p', 'From <code>npm run bench:costs</code>: each server in a process of its own, its clients in the bench\'s process, on this machine. The polling ratios are CPU per request answered against Socket.IO\'s polling transport in the same window (medians of the pairs, each pair\'s in brackets); the bare node:http servers answer the same routes as Switchboard does and do nothing else: what node itself costs. Targets: issue 10, part 4.');
  if (rows.length > 0) {
    table(['measure', 'target', 'measured', 'beside it', 'run'], rows);
    commands([...used]);
  } else el('p', 'No figure yet: the runs there measured none of these (for the polling ratios, <code>COSTS_POLL_PAIRED=1 COSTS_POLL_ROUNDS=3 npm run bench:costs -- poll</code>).');
}

// Connections
const conn = of('connections');
el('h2', 'Concurrent connections');
if (conn.length === 0) el('p', 'No run yet: <code>npm run bench:connections</code>.');
else {
  el('p', 'Clients from the multi-process load generator (each process binds its own loopback address), one room or many; a broadcast is one message to every room, repeated; each round alone (it starts once the last one is delivered to every client and the machine is quiet), unless the run says it kept a fixed gap. RSS is the sum over the server\'s process tree (primary and workers); its file-backed part (after the idle period) is mostly node\'s own binary, the same pages in each process, counted in each; idle CPU is that tree\'s CPU over the idle period. CPU per broadcast (the median broadcast) is what the server and the load generator used above their idle rates for all the work a broadcast makes, the long pollers\' next requests included: both run on this machine\'s cores, so that work cannot take less than their sum over the cores (the floor); the deliveries themselves may end sooner. Of the server\'s time, where the run recorded them: the kernel\'s part (system time: its sockets\' reads and writes) and the garbage collector\'s pauses (its own <code>nodejs_gc_duration_seconds</code>).');
  table(['run', 'rooms', 'clients (ws / sse / long poll)', 'connected', 'connect rate', 'server processes', 'RSS idle → connected → after the idle period', 'per connection (after idle)', 'idle CPU', 'broadcast p50 / p99 (warm-up round p99)', 'CPU per broadcast (server + load → floor)', 'lost / doubled / out of order'],
    conn.map((r) => { const d = r.data; const bad = d.kinds.reduce((a, k) => a + k.lost + (k.behind ?? 0) + k.doubled + k.outOfOrder, 0); return [r.label, d.rooms, [d.counts.websocket, d.counts.sse, d.counts['long-polling']].map((n) => num(n)).join(' / '), ok(d.failed === 0, num(d.connected) + (d.failed ? ' (' + num(d.failed) + ' failed)' : '')), num(d.connectRate) + '/s', d.serverProcesses, mb(d.rssIdleServer) + ' → ' + mb(d.rssLoaded) + (d.rssSettled ? ' → ' + mb(d.rssSettled) + (d.rssFileSettled ? ' (file-backed ' + mb(d.rssFileSettled) + ')' : '') : ''), num((d.bytesPerConnectionSettled ?? d.bytesPerConnection) / 1024, 1) + ' KB', num(d.idleCpuPercent, 1) + '%', ms(d.latency.p50) + ' / ' + ms(d.latency.p99) + (d.fixedGap ? ' (fixed gap)' : '') + (d.warmup > 0 && d.rounds ? ' (warm-up: ' + d.rounds.slice(0, d.warmup).map((w) => ms(w.p99)).join(', ') + ')' : ''), floorOf(d), ok(bad === 0, d.kinds.map((k) => k.lost + ' / ' + k.doubled + ' / ' + k.outOfOrder).join(', '))]; }));
  commands(conn);
  histogram('Broadcast latency, all clients', conn.map((r) => ({ label: r.label, dist: r.data.latency })));
  bars('Server memory per connection', conn.map((r) => r.label), [{ label: 'KB of RSS per connection (after the idle period)', data: conn.map((r) => (r.data.bytesPerConnectionSettled ?? r.data.bytesPerConnection) / 1024) }], 'KB');
  for (const r of conn) histogram('Broadcast latency by transport: ' + r.label, r.data.kinds.map((k) => ({ label: k.kind, dist: k.latency })));
  endCharts();
}

// Jitter
const jit = of('jitter');
el('h2', 'Jitter: cut connections, resume');
if (jit.length === 0) el('p', 'No run yet: <code>npm run bench:jitter</code>.');
else {
  el('p', 'The shape of AnyCable\'s public Node benchmark: WebSocket clients in one room, messages at a steady rate, every client cuts its connection about every 15 s and stays away about 2 s, then resumes. Switchboard\'s clients are the bench\'s own on bare sockets, Socket.IO\'s are socket.io-client (its recovery as its users get it): the last column says what each fleet cost the machine the server shares. Replay latency is publish to delivery of the messages published while their client was away (it includes the 1–3 s away); catch-up is, for the same messages, from the end of the time away (when the client starts to reconnect) to delivery. Published figures (AnyCable): Socket.IO 84.55% delivered; Socket.IO with connection state recovery 100%, replay p99 4.58 s; AnyCable 100%, 6.14 s.');
  const rows = [];
  for (const r of jit) for (const row of r.data.rows) rows.push([r.label + ': ' + row.server, num(row.clients), r.data.messages + ' at ' + r.data.rate + '/s', num(row.cuts), ok(row.deliveredPercent >= 100, num(row.deliveredPercent, 3) + '%'), ok(row.exactlyOnce, row.exactlyOnce ? 'yes' : 'no (' + row.doubled + ' doubled, ' + row.outOfOrder + ' out of order)'), num(row.complete) + ' / ' + num(row.clients), ms(row.replay.p50) + ' / ' + ms(row.replay.p99), row.catchUp ? ms(row.catchUp.p50) + ' / ' + ms(row.catchUp.p99) : 'n/a', ms(row.reconnect.p50) + ' / ' + ms(row.reconnect.p99), ms(row.latency.p50) + ' / ' + ms(row.latency.p99), row.cpuSeconds ? num(row.cpuSeconds.server, 1) + ' s / ' + num(row.cpuSeconds.load, 1) + ' s' : 'n/a']);
  table(['run: server', 'clients', 'messages', 'cuts', 'delivered', 'exactly once, in order', 'clients complete', 'replay p50 / p99', 'catch-up p50 / p99', 'reconnect p50 / p99', 'all deliveries p50 / p99', 'CPU: server / load generator'], rows);
  commands(jit);
  for (const r of jit) { histogram('Replay latency: ' + r.label, r.data.rows.map((row) => ({ label: row.server, dist: row.replay }))); if (r.data.rows.every((row) => row.catchUp)) histogram('Catch-up after return: ' + r.label, r.data.rows.map((row) => ({ label: row.server, dist: row.catchUp }))); histogram('All deliveries: ' + r.label, r.data.rows.map((row) => ({ label: row.server, dist: row.latency }))); }
  endCharts();
}

// Rolling restart
const rr = of('rolling-restart');
el('h2', 'Rolling restart');
if (rr.length === 0) el('p', 'No run yet: <code>npm run bench:rolling-restart</code> (needs a server with <code>--workers</code>).');
else {
  table(['run', 'clients (4 transports)', 'workers before → after', 'restart took', 'messages', 'lost', 'doubled / out of order', 'never came back', 'reconnect p50 / p99'],
    rr.map((r) => { const d = r.data; return [r.label, num(d.clients), d.workersBefore.length + ' → ' + d.workersAfter.length, num(d.restartSeconds, 1) + ' s', num(d.messages), ok(d.lost + (d.behind ?? 0) === 0, num(d.lost) + (d.behind ? ' (' + num(d.behind) + ' behind)' : '')), ok(d.doubled + d.outOfOrder === 0, d.doubled + ' / ' + d.outOfOrder), ok(d.neverBack === 0, num(d.neverBack)), ms(d.reconnect.p50) + ' / ' + ms(d.reconnect.p99)]; }));
  commands(rr);
  for (const r of rr) histogram('Reconnect time by transport: ' + r.label, r.data.kinds.map((k) => ({ label: k.kind, dist: k.reconnect })), ['% of reconnections', 'from the cut to connected again']);
  endCharts();
}

// Workers
const wk = of('workers-load');
el('h2', 'Workers');
if (wk.length === 0) el('p', 'No run yet: <code>npm run bench:workers-load</code>.');
else {
  const rows = [];
  for (const r of wk) for (const row of r.data.rows) rows.push([r.label + ': ' + row.workers, num(row.clients), row.refused ? '<span class="bad">refused: ' + row.refused + '</span>' : num(row.processes), num(row.deliveriesPerSecond), num(row.cpuMsPer1000, 2) + ' ms', ms(row.latency.p50) + ' / ' + ms(row.latency.p99), ok(row.lost + row.doubled + row.outOfOrder === 0, row.lost + ' / ' + row.doubled + ' / ' + row.outOfOrder)]);
  table(['run: workers', 'subscribers', 'processes', 'deliveries / s', 'CPU per 1000 deliveries', 'latency p50 / p99 (steady rate)', 'lost / doubled / out of order'], rows);
  commands(wk);
  for (const r of wk) histogram('Latency at a steady rate: ' + r.label + ' (with N workers, (N-1)/N of deliveries cross workers)', r.data.rows.filter((row) => !row.refused).map((row) => ({ label: 'workers ' + row.workers, dist: row.latency })));
  endCharts();
}

// Deliveries per second against connections: every measured point.
const points = [];
for (const r of wk) for (const row of r.data.rows) if (!row.refused) points.push({ series: 'workers ' + row.workers, x: row.clients, y: row.deliveriesPerSecond });
if (points.length > 0) {
  el('h2', 'Deliveries per second against connections');
  const series = [...new Set(points.map((p) => p.series))];
  new Chart(chartBox('Burst throughput (bench:workers-load runs)'), { type: 'scatter', data: { datasets: series.map((s, i) => ({ label: s, data: points.filter((p) => p.series === s).sort((a, b) => a.x - b.x), showLine: true, borderColor: colors[i % colors.length], backgroundColor: colors[i % colors.length] })) }, options: { maintainAspectRatio: false, animation: false, scales: { x: { type: 'logarithmic', title: { display: true, text: 'WebSocket subscribers' } }, y: { beginAtZero: true, title: { display: true, text: 'deliveries per second' } } } } });
  endCharts();
}
`;
