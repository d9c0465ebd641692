// GET latency while passwords are hashed: sequential GETs on one keep-alive connection, first
// with the server idle, then while two clients log in in a loop (each sends its next login
// as soon as the last is answered). Prints one JSON object: the GETs' latencies (p50, p95,
// max, count) in both phases, and the logins' count and latency.
//
//   node bench/stall.mjs BASE_URL GET_PATH EMAIL_A EMAIL_B IDLE_SECONDS LOADED_SECONDS
//   (the users' password in BENCH_PASSWORD)
const [base, getPath, emailA, emailB, idleSeconds, loadedSeconds] = process.argv.slice(2);
const password = process.env.BENCH_PASSWORD;
if (!password || !loadedSeconds) {
  console.error('usage: BENCH_PASSWORD=... node bench/stall.mjs BASE_URL GET_PATH EMAIL_A EMAIL_B IDLE_SECONDS LOADED_SECONDS');
  process.exit(2);
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
function summary(latencies) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { n: sorted.length, p50_ms: percentile(sorted, 50), p95_ms: percentile(sorted, 95), max_ms: sorted.at(-1) };
}

let errors = 0;
/** One request; its latency in ms. An answer other than `expected` counts as an error. */
async function timed(path, init, expected) {
  const start = performance.now();
  try {
    const res = await fetch(base + path, init);
    await res.arrayBuffer();
    if (res.status !== expected) errors += 1;
  } catch {
    errors += 1;
  }
  return performance.now() - start;
}

/** Sequential GETs for `seconds`; their latencies. */
async function gets(seconds) {
  const latencies = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) latencies.push(await timed(getPath, {}, 200));
  return latencies;
}

async function loginLoop(email, running, latencies) {
  const body = new URLSearchParams({ username: email, password }).toString();
  const init = { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  while (running.value) latencies.push(await timed('/api/v1/auth/login', init, 200));
}

for (let i = 0; i < 20; i++) await timed(getPath, {}, 200); // warm the isolate and the connection
errors = 0;
const idle = summary(await gets(Number(idleSeconds)));
const idleErrors = errors;

const running = { value: true };
const logins = [];
const clients = [loginLoop(emailA, running, logins), loginLoop(emailB, running, logins)];
await new Promise((resolve) => setTimeout(resolve, 1000)); // both clients into their loops
const loadedStart = performance.now();
const loaded = summary(await gets(Number(loadedSeconds)));
const loadedElapsed = (performance.now() - loadedStart) / 1000;
running.value = false;
await Promise.all(clients);

const loginSummary = summary(logins);
console.log(JSON.stringify({
  idle: { ...idle, errors: idleErrors },
  loaded: { ...loaded, errors: errors },
  logins: { n: loginSummary.n, p50_ms: loginSummary.p50_ms, per_second: logins.length / loadedElapsed },
}));
