// validate-cron-server.mjs — the reference half of the API benchmark: a
// minimal Node.js HTTP server doing validate-cron's work with cron-parser
// (the library the original system used): read the JSON body, parse the
// expression in the zone, compute the next `count` instants (UTC and local
// ISO-8601), answer JSON. No authentication, no description, no DST flags:
// less work than cronflow's endpoint, which is the point of a floor.
//
//   node bench/api/validate-cron-server.mjs PORT
//
// Prints the port once listening. cron-parser comes from tests/diff's
// lockfile (scripts/run-bench runs `npm ci` there when it is missing).

import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../tests/diff/package.json', import.meta.url));
const { CronExpressionParser } = require('cron-parser');

const MAX_BODY = 1024 * 1024;

function answer(res, status, doc) {
  const text = JSON.stringify(doc);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/api/utils/validate-cron') return answer(res, 404, { error: 'not found' });
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on('end', () => {
    if (size > MAX_BODY) return answer(res, 413, { error: 'too large' });
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      return answer(res, 400, { error: 'invalid JSON' });
    }
    const tz = body.timezone || 'UTC';
    const count = Number.isInteger(body.count) ? body.count : 5;
    try {
      const it = CronExpressionParser.parse(String(body.expression), { tz, currentDate: new Date() });
      const runs = [];
      for (let i = 0; i < count; i++) {
        const d = it.next();
        runs.push({ utc: d.toISOString(), local: d.toString() });
      }
      answer(res, 200, { valid: true, expression: body.expression, timezone: tz, next_runs: runs });
    } catch (e) {
      answer(res, 200, { valid: false, error: { message: String(e.message || e) } });
    }
  });
});

server.keepAliveTimeout = 60000;
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(server.address().port);
});
