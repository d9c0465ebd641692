// What local D1 says about statements: their meta (rows_read, duration, ...), as the worker's
// binding gets it. `wrangler d1 execute --local --json` keeps only `duration`, so this opens
// the same local database through miniflare, as wrangler does.
//
//   node bench/d1-meta.mjs PERSIST_DIR DATABASE_ID '[{"sql": "...", "params": [...]}, ...]'
//
// Prints one JSON array: for each statement, {rows: <result rows>, meta: {...}}.
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';

const [persist, databaseId, statements] = process.argv.slice(2);
const mf = new Miniflare(convertV4MiniflareOptions({
  modules: true,
  script: '',
  resourcePersistencePath: `${persist}/v3`,
  d1Databases: { DATABASE: databaseId },
}));
try {
  const db = await mf.getD1Database('DATABASE');
  const out = [];
  for (const { sql, params = [] } of JSON.parse(statements)) {
    const result = await db.prepare(sql).bind(...params).all();
    out.push({ rows: result.results.length, meta: result.meta });
  }
  console.log(JSON.stringify(out));
} finally {
  await mf.dispose();
}
