// /api/v1/recipes: every row of the contract's recipes table, ownership and the search fix.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { api, newUser, login, createRecipe, recipeBody, sql, logSince, SUPERUSER } from './helpers.mjs';

const RECIPE_KEYS = ['id', 'label', 'source', 'submitter_id', 'url'];
const tag = () => randomUUID().slice(0, 8);
/** src/store/recipes.rs, whose statements and search cap some tests read. */
const STORE = readFileSync(new URL('../src/store/recipes.rs', import.meta.url), 'utf8');
/** A statement of the store, as the worker sends it to D1. */
function storeStatement(name) {
  const literal = STORE.match(new RegExp(`const ${name}: &str = "((?:[^"\\\\]|\\\\.)*)";`, 's'));
  assert.ok(literal, `${name} in src/store/recipes.rs`);
  return literal[1].replace(/\\\n\s*/g, '').replaceAll('\\"', '"');
}
const SEARCH_CANDIDATES = Number(STORE.match(/pub const SEARCH_CANDIDATES: u32 = (\d+);/)?.[1]);
const count = async (table, where) => (await sql(`SELECT count(*) AS n FROM ${table} WHERE ${where}`))[0].n;

let alice;
let bob;
let admin;
before(async () => {
  alice = await newUser({ first_name: 'Alice' });
  bob = await newUser({ first_name: 'Bob' });
  const res = await login(SUPERUSER.email, SUPERUSER.password);
  assert.equal(res.status, 200, 'the seeded superuser logs in with the password from the secrets file');
  admin = { token: res.body.access_token };
});

describe('GET /api/v1/recipes/{recipe_id}', () => {
  test('returns the recipe', async () => {
    const { body: created } = await createRecipe(alice.token);
    const res = await api(`/api/v1/recipes/${created.id}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, created);
    assert.deepEqual(Object.keys(res.body).sort(), RECIPE_KEYS);
  });

  test('404 with the contract message for a missing id', async () => {
    const res = await api('/api/v1/recipes/987654');
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { detail: 'Recipe with ID 987654 not found' });
  });

  test('422 at path.recipe_id for a non-integer id', async () => {
    for (const id of ['abc', '1.5', '99999999999999999999']) {
      const res = await api(`/api/v1/recipes/${id}`);
      assert.equal(res.status, 422, id);
      assert.deepEqual(res.body.detail[0].loc, ['path', 'recipe_id']);
      assert.equal(res.body.detail[0].type, 'type_error.integer');
    }
  });
});

describe('GET /api/v1/recipes/search/', () => {
  test('matches a case-insensitive substring of the label', async () => {
    const t = tag();
    const { body: a } = await createRecipe(alice.token, { label: `Chicken ${t} Pie` });
    await createRecipe(alice.token, { label: `Beef ${t} Stew` });
    const res = await api(`/api/v1/recipes/search/?keyword=CHICKEN%20${t}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { results: [a] });
  });

  test('finds a match beyond the first max_results rows (the original filtered after the limit)', async () => {
    const t = tag();
    for (let i = 0; i < 4; i++) await createRecipe(bob.token, { label: `Filler ${t} ${i}` });
    const { body: late } = await createRecipe(bob.token, { label: `Needle ${t}` });
    const res = await api(`/api/v1/recipes/search/?keyword=needle%20${t}&max_results=2`);
    assert.deepEqual(res.body.results, [late]);
    const all = await api('/api/v1/recipes/search/?keyword=needle&max_results=2');
    assert.ok(all.body.results.length <= 2, 'max_results limits the results');
  });

  test('max_results limits after filtering', async () => {
    const t = tag();
    for (let i = 0; i < 3; i++) await createRecipe(bob.token, { label: `Limit ${t} ${i}` });
    const res = await api(`/api/v1/recipes/search/?keyword=${t}&max_results=2`);
    assert.equal(res.body.results.length, 2);
    const every = await api(`/api/v1/recipes/search?keyword=${t}`);
    assert.equal(every.body.results.length, 3, 'default 10, and no trailing slash needed');
  });

  test('% and _ in the keyword match literally', async () => {
    const t = tag();
    const { body: percent } = await createRecipe(alice.token, { label: `${t} 100% rye` });
    const { body: underscore } = await createRecipe(alice.token, { label: `${t} snake_case` });
    await createRecipe(alice.token, { label: `${t} 1000 rye` });
    await createRecipe(alice.token, { label: `${t} snakeXcase` });
    const p = await api(`/api/v1/recipes/search/?keyword=${encodeURIComponent(`${t} 100%`)}`);
    assert.deepEqual(p.body.results, [percent]);
    const u = await api(`/api/v1/recipes/search/?keyword=${encodeURIComponent('snake_case')}&max_results=100`);
    assert.ok(u.body.results.some((r) => r.id === underscore.id));
    assert.ok(u.body.results.every((r) => r.label.includes('snake_case')), JSON.stringify(u.body));
  });

  test('a long keyword is searched, not an error (D1 refuses LIKE patterns over 50 bytes)', async () => {
    const label = `Long ${tag()} ${'slow-cooked '.repeat(18)}`.slice(0, 250);
    const { body: recipe } = await createRecipe(alice.token, { label });
    const res = await api(`/api/v1/recipes/search/?keyword=${encodeURIComponent(label.toUpperCase())}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.results, [recipe]);
    const tooLong = await api(`/api/v1/recipes/search/?keyword=${'a'.repeat(257)}`);
    assert.equal(tooLong.status, 422);
  });

  test('without a keyword lists recipes instead of failing', async () => {
    const res = await api('/api/v1/recipes/search/?max_results=3');
    assert.equal(res.status, 200);
    assert.equal(res.body.results.length, 3);
  });

  test('422 for a keyword under 3 characters or max_results out of 1..100', async () => {
    for (const [query, loc] of [['keyword=ab', 'keyword'], ['max_results=101', 'max_results'], ['max_results=0', 'max_results'], ['max_results=x', 'max_results']]) {
      const res = await api(`/api/v1/recipes/search/?${query}`);
      assert.equal(res.status, 422, query);
      assert.deepEqual(res.body.detail[0].loc, ['query', loc]);
    }
  });
});

describe('POST /api/v1/recipes/', () => {
  test('creates a recipe submitted by the caller, 201', async () => {
    const body = recipeBody();
    const res = await api('/api/v1/recipes/', { method: 'POST', token: alice.token, json: body });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual({ ...res.body, id: 0 }, { ...body, id: 0, submitter_id: alice.user.id });
    const again = await api(`/api/v1/recipes/${res.body.id}`);
    assert.deepEqual(again.body, res.body);
  });

  test('accepts submitter_id when it is the caller', async () => {
    const res = await createRecipe(alice.token, { submitter_id: alice.user.id });
    assert.equal(res.status, 201);
    assert.equal(res.body.submitter_id, alice.user.id);
  });

  test('403 for submitting as someone else, and nothing is written', async () => {
    const body = recipeBody({ submitter_id: bob.user.id });
    const res = await api('/api/v1/recipes/', { method: 'POST', token: alice.token, json: body });
    assert.equal(res.status, 403);
    assert.deepEqual(res.body, { detail: 'You can only submit recipes as yourself' });
    assert.equal(await count('recipes', `label = '${body.label}'`), 0);
  });

  test('401 without a token', async () => {
    const res = await api('/api/v1/recipes/', { method: 'POST', json: recipeBody() });
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, { detail: 'Not authenticated' });
  });

  test('422 for a url that is not absolute http(s), a missing label or over-long text; nothing written', async () => {
    const cases = [
      [{ url: 'javascript:alert(1)' }, 'url'],
      [{ url: '/relative' }, 'url'],
      [{ url: 'ftp://example.com/x' }, 'url'],
      [{ label: undefined }, 'label'],
      [{ source: 's'.repeat(257) }, 'source'],
      [{ submitter_id: 'me' }, 'submitter_id'],
    ];
    for (const [fields, field] of cases) {
      const body = recipeBody(fields);
      const res = await api('/api/v1/recipes/', { method: 'POST', token: alice.token, json: body });
      assert.equal(res.status, 422, JSON.stringify(fields));
      assert.deepEqual(res.body.detail.map((e) => e.loc.join('.')), [`body.${field}`]);
      if (body.label) assert.equal(await count('recipes', `label = '${body.label}'`), 0);
    }
    const malformed = await api('/api/v1/recipes/', { method: 'POST', token: alice.token, body: '{', headers: { 'content-type': 'application/json' } });
    assert.equal(malformed.status, 422);
  });
});

describe('GET /api/v1/recipes/my-recipes/', () => {
  test("returns the caller's recipes and only theirs", async () => {
    const carol = await newUser();
    const none = await api('/api/v1/recipes/my-recipes/', { token: carol.token });
    assert.deepEqual(none, { ...none, status: 200, body: { results: [] } }, 'no recipes yet: an empty list');
    const { body: mine } = await createRecipe(carol.token);
    await createRecipe(bob.token);
    const res = await api('/api/v1/recipes/my-recipes/', { token: carol.token });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { results: [mine] });
  });

  test('401 without a token', async () => {
    assert.equal((await api('/api/v1/recipes/my-recipes/')).status, 401);
  });
});

describe('PUT /api/v1/recipes/', () => {
  test("updates the label and keeps what is not sent; 201 as the original", async () => {
    const { body: recipe } = await createRecipe(alice.token);
    const res = await api('/api/v1/recipes/', { method: 'PUT', token: alice.token, json: { id: recipe.id, label: 'Renamed' } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(res.body, { ...recipe, label: 'Renamed' });
    const full = await api('/api/v1/recipes/', {
      method: 'PUT', token: alice.token, json: { id: recipe.id, label: 'Again', source: 'Mum', url: 'http://example.org/r' },
    });
    assert.deepEqual(full.body, { ...recipe, label: 'Again', source: 'Mum', url: 'http://example.org/r' });
  });

  test('400 with the contract message for a missing recipe', async () => {
    const res = await api('/api/v1/recipes/', { method: 'PUT', token: alice.token, json: { id: 987654, label: 'x' } });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { detail: 'Recipe with ID: 987654 not found.' });
  });

  test("403 for someone else's recipe, which stays as it was", async () => {
    const { body: recipe } = await createRecipe(alice.token);
    const res = await api('/api/v1/recipes/', { method: 'PUT', token: bob.token, json: { id: recipe.id, label: 'Mine now' } });
    assert.equal(res.status, 403);
    assert.deepEqual(res.body, { detail: 'You can only update your recipes.' });
    assert.deepEqual((await api(`/api/v1/recipes/${recipe.id}`)).body, recipe);
  });

  test('a superuser may update any recipe', async () => {
    const { body: recipe } = await createRecipe(alice.token);
    const res = await api('/api/v1/recipes/', { method: 'PUT', token: admin.token, json: { id: recipe.id, label: 'Moderated' } });
    assert.equal(res.status, 201);
    assert.equal(res.body.submitter_id, alice.user.id, 'ownership does not change');
  });

  test('401 without a token, 422 for a bad body', async () => {
    assert.equal((await api('/api/v1/recipes/', { method: 'PUT', json: { id: 1, label: 'x' } })).status, 401);
    const bad = await api('/api/v1/recipes/', { method: 'PUT', token: alice.token, json: { label: 'x', url: 'nope' } });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.detail.map((e) => e.loc.join('.')), ['body.id', 'body.url']);
  });
});

describe('DELETE /api/v1/recipes/{recipe_id}', () => {
  test('the owner deletes: 204, then 404', async () => {
    const { body: recipe } = await createRecipe(alice.token);
    const res = await api(`/api/v1/recipes/${recipe.id}`, { method: 'DELETE', token: alice.token });
    assert.equal(res.status, 204);
    assert.equal(res.body, '');
    assert.equal((await api(`/api/v1/recipes/${recipe.id}`)).status, 404);
    const again = await api(`/api/v1/recipes/${recipe.id}`, { method: 'DELETE', token: alice.token });
    assert.equal(again.status, 404);
    assert.deepEqual(again.body, { detail: `Recipe with ID ${recipe.id} not found` });
  });

  test("403 for someone else's recipe, which survives", async () => {
    const { body: recipe } = await createRecipe(alice.token);
    const res = await api(`/api/v1/recipes/${recipe.id}`, { method: 'DELETE', token: bob.token });
    assert.equal(res.status, 403);
    assert.deepEqual(res.body, { detail: 'You can only delete your recipes.' });
    assert.equal((await api(`/api/v1/recipes/${recipe.id}`)).status, 200);
  });

  test('a superuser may delete any recipe', async () => {
    const { body: recipe } = await createRecipe(bob.token);
    assert.equal((await api(`/api/v1/recipes/${recipe.id}`, { method: 'DELETE', token: admin.token })).status, 204);
  });

  test('401 without a token', async () => {
    const { body: recipe } = await createRecipe(alice.token);
    assert.equal((await api(`/api/v1/recipes/${recipe.id}`, { method: 'DELETE' })).status, 401);
  });
});

describe('users and their recipes', () => {
  test("deleting a user deletes their recipes (foreign key, ON DELETE CASCADE)", async () => {
    const dave = await newUser();
    const { body: recipe } = await createRecipe(dave.token);
    await sql(`DELETE FROM users WHERE id = ${dave.user.id}`);
    assert.equal(await count('recipes', `submitter_id = ${dave.user.id}`), 0);
    assert.equal((await api(`/api/v1/recipes/${recipe.id}`)).status, 404);
  });

  test('a recipe cannot point at a user who does not exist', async () => {
    await assert.rejects(sql(`INSERT INTO recipes (label, source, url, submitter_id) VALUES ('x', 'y', 'http://z.io', 987654)`));
  });
});

describe('JSON numbers and URL schemes', () => {
  const putText = (token, text) => api('/api/v1/recipes/', {
    method: 'PUT', token, body: text, headers: { 'content-type': 'application/json' },
  });

  test('an integral JSON number such as 5.0 is an integer id; 1.5 is not', async () => {
    const { body: recipe } = await createRecipe(alice.token);
    const label = `Renamed ${tag()}`;
    // JSON.stringify never writes "5.0", so the bodies are written by hand.
    const res = await putText(alice.token, `{"id": ${recipe.id}.0, "label": "${label}"}`);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(res.body, { ...recipe, label });
    const missing = await putText(alice.token, '{"id": -61595454.0, "label": "x"}');
    assert.equal(missing.status, 400, JSON.stringify(missing.body));
    assert.deepEqual(missing.body, { detail: 'Recipe with ID: -61595454 not found.' });
    const fraction = await putText(alice.token, '{"id": 1.5, "label": "x"}');
    assert.equal(fraction.status, 422, JSON.stringify(fraction.body));
    assert.deepEqual(fraction.body.detail.map((e) => e.loc.join('.')), ['body.id']);
  });

  test('the URL scheme is case-insensitive: HTTp://… is accepted', async () => {
    const res = await createRecipe(alice.token, { url: 'HTTp://example.com/soup' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal((await api(`/api/v1/recipes/${res.body.id}`)).status, 200);
  });
});

describe('search through the trigram index (migrations/0006_search_index.sql)', () => {
  const search = (keyword, maxResults = 100) =>
    api(`/api/v1/recipes/search/?keyword=${encodeURIComponent(keyword)}&max_results=${maxResults}`);
  /** A keyword as an SQL string literal; a NUL, which no command line can carry, as char(0). */
  const sqlString = (text) => text.split('\0').map((part) => `'${part.replaceAll("'", "''")}'`).join(' || char(0) || ');
  /**
   * The search as it was before the index, a scan of every row, for each [keyword, maxResults]
   * in one statement (each `wrangler d1 execute` takes seconds; D1 refuses a compound SELECT of
   * more than 5 terms, hence a VALUES list and row_number for each keyword's limit).
   */
  async function scan(queries) {
    const keywords = queries.map(([keyword, maxResults], q) => `(${q}, ${sqlString(keyword)}, ${maxResults})`).join(', ');
    const rows = await sql(`WITH k (q, keyword, n) AS (VALUES ${keywords}) \
      SELECT q, id, label, source, url, submitter_id FROM (SELECT k.q, k.n, r.*, row_number() OVER (PARTITION BY k.q ORDER BY r.id) AS rn \
      FROM k JOIN recipes AS r ON instr(lower(r.label), lower(k.keyword)) > 0) WHERE rn <= n ORDER BY q, id`);
    return queries.map((_, q) => rows.filter((row) => row.q === q).map(({ q: _q, ...recipe }) => recipe));
  }
  /**
   * Each search's results equal the scan's. The scans run just before and after the searches,
   * as other test files write recipes meanwhile; a keyword whose rows changed is tried again.
   */
  async function assertSameAsScan(queries) {
    const results = [];
    let pending = queries.map((_, i) => i);
    for (let attempt = 1; pending.length > 0; attempt++) {
      const asked = pending.map((i) => queries[i]);
      const before = await scan(asked);
      const responses = [];
      for (const [keyword, maxResults] of asked) responses.push(await search(keyword, maxResults));
      const after = await scan(asked);
      const retry = [];
      asked.forEach(([keyword], j) => {
        const res = responses[j];
        assert.equal(res.status, 200, `${JSON.stringify(keyword)}: ${JSON.stringify(res.body)}`);
        if (attempt < 3 && JSON.stringify(before[j]) !== JSON.stringify(after[j])) {
          retry.push(pending[j]);
        } else {
          assert.deepEqual(res.body.results, after[j], JSON.stringify(keyword));
          results[pending[j]] = res.body.results;
        }
      });
      pending = retry;
    }
    return results;
  }
  /** The ids the index itself holds for a text, read from the FTS5 table. */
  const indexed = async (text) =>
    (await sql(`SELECT rowid AS id FROM recipes_fts WHERE recipes_fts MATCH ${sqlString(`"${text.replaceAll('"', '""')}"`)} ORDER BY rowid`)).map((r) => r.id);
  /** FTS5's own check that the index holds exactly the labels of `recipes`; throws if not. */
  const integrityCheck = () => sql("INSERT INTO recipes_fts (recipes_fts, rank) VALUES ('integrity-check', 1)");

  test('the index follows a new recipe, a changed label and a deletion', async () => {
    const t = tag();
    const { body: recipe } = await createRecipe(alice.token, { label: `Index ${t} Alpha` });
    assert.deepEqual((await search(`${t} alpha`)).body.results, [recipe]);
    assert.deepEqual(await indexed(`${t} alpha`), [recipe.id]);

    const renamed = await api('/api/v1/recipes/', { method: 'PUT', token: alice.token, json: { id: recipe.id, label: `Index ${t} Beta` } });
    assert.equal(renamed.status, 201);
    assert.deepEqual((await search(`${t} alpha`)).body.results, [], 'the old label is no longer found');
    assert.deepEqual((await search(`${t} beta`)).body.results, [renamed.body], 'the new one is');
    assert.deepEqual(await indexed(t), [recipe.id], 'one entry, for the new label');
    assert.deepEqual(await indexed(`${t} alpha`), []);

    const sourceOnly = await api('/api/v1/recipes/', { method: 'PUT', token: alice.token, json: { id: recipe.id, label: `Index ${t} Beta`, source: 'Mum' } });
    assert.equal(sourceOnly.status, 201);
    assert.deepEqual((await search(`${t} beta`)).body.results, [sourceOnly.body]);

    assert.equal((await api(`/api/v1/recipes/${recipe.id}`, { method: 'DELETE', token: alice.token })).status, 204);
    assert.deepEqual((await search(`${t} beta`)).body.results, []);
    assert.deepEqual(await indexed(t), []);
    await integrityCheck();
  });

  test('deleting a user takes their recipes out of the index (ON DELETE CASCADE fires the trigger)', async () => {
    const t = tag();
    const erin = await newUser();
    const frank = await newUser();
    for (const cook of [erin, frank]) {
      for (let i = 0; i < 2; i++) assert.equal((await createRecipe(cook.token, { label: `Cascade ${t} ${i}` })).status, 201);
    }
    assert.equal((await search(`cascade ${t}`)).body.results.length, 4);
    assert.equal((await api('/api/v1/auth/me', { method: 'DELETE', token: erin.token })).status, 204);
    assert.equal((await search(`cascade ${t}`)).body.results.length, 2, "the API's deletion");
    await sql(`DELETE FROM users WHERE id = ${frank.user.id}`);
    assert.deepEqual((await search(`cascade ${t}`)).body.results, [], 'and a plain DELETE of the user');
    assert.deepEqual(await indexed(`cascade ${t}`), [], 'no index entry is left behind');
    await integrityCheck();
  });

  test('FTS5 syntax and special characters in the keyword are matched literally', async () => {
    const t = tag();
    const labels = [
      `${t} Say "cheese" pie`, `${t} star*dust`, `${t} salt AND pepper`, `${t} salt OR pepper`,
      `${t} NEAR(a b) soup`, `${t} 100% rye`, `${t} snake_case`, `${t} Gran's stew`,
      `${t} crème brûlée`, `${t} ÉCLAIR`, `${t} 味噌汁`, `${t} 🍕🍕🍕 night`, `${t} a   b`,
      `${t} col:umn`, `${t} {label}: x`, `${t} ^caret -minus +plus`, `${t} back\\slash`,
    ];
    const created = [];
    for (const label of labels) {
      const res = await createRecipe(alice.token, { label });
      assert.equal(res.status, 201, label);
      created.push(res.body);
    }
    const only = (...indexes) => indexes.map((i) => created[i]);
    const cases = [
      ['"cheese"', only(0)], ['say "', only(0)], ['star*', only(1)], ['r*d', only(1)],
      ['salt AND pepper', only(2)], ['salt OR pepper', only(3)], ['AND pepper', only(2)],
      ['NEAR(a', only(4)], ['NEAR(a b)', only(4)], ['100%', only(5)], ['0% r', only(5)],
      ['e_c', only(6)], ["n's", only(7)], ["'s stew", only(7)], ['crème', only(8)],
      // ASCII case folding only, as before the index (the index alone would fold È and É too).
      ['CRÈME', []], ['CRèME BRûLéE', only(8)], ['ÉCLAIR', only(9)], ['éclair', []],
      ['味噌汁', only(10)], ['🍕🍕🍕', only(11)], ['a   b', only(12)], ['col:umn', only(13)],
      ['{label}: x', only(14)], ['^caret -minus +plus', only(15)], ['back\\slash', only(16)],
    ];
    const results = await assertSameAsScan(cases.map(([keyword]) => [keyword, 100]));
    const ours = new Set(created.map((r) => r.id));
    cases.forEach(([keyword, expected], i) => {
      assert.deepEqual(results[i].filter((r) => ours.has(r.id)), expected, keyword);
    });
  });

  test('a keyword of whitespace, or one FTS5 could not parse, is searched and never a 500', async () => {
    const t = tag();
    const { body: spaced } = await createRecipe(alice.token, { label: `Spaced ${t}   out` });
    const { body: nul } = await createRecipe(alice.token, { label: `Nul ${t} a\u0000bc` });
    assert.equal(nul.label, `Nul ${t} a\u0000bc`, 'a NUL in a label is kept');
    const keywords = ['   ', '\t\t\t', ' \n ', '"""', "'''", '***', ')))', '(((', 'NEAR(', 'AND', 'OR ', 'NOT',
      '^^^', '---', ':::', '{}:', '\\\\\\', '\u0000\u0000\u0000', 'a\u0000b', '\u00a0\u00a0\u00a0', '\u200b\u200b\u200b'];
    const results = await assertSameAsScan([
      ...keywords.map((keyword) => [keyword, 5]), [`${t}   out`, 100], [`${t} a\u0000bc`, 100], ['A\u0000BC', 100],
    ]);
    const [spacedOut, nulExact, nulUpper] = results.slice(keywords.length);
    assert.deepEqual(spacedOut, [spaced]);
    assert.deepEqual(nulExact, [nul]);
    assert.ok(nulUpper.some((r) => r.id === nul.id), 'a keyword with a NUL is still case-insensitive');
  });

  test('results equal a scan of every row: same rows, id order, max_results', async () => {
    const t = tag();
    for (const label of [`Chicken ${t} soup`, `chicken ${t} SOUP`, `Soup of ${t} chickens`]) await createRecipe(bob.token, { label });
    const keywords = ['soup', 'chicken', 'Soup ', 'e s', 'ICK', 'recipe', `${t} soup`, `chicken ${t}`, 'no such recipe anywhere'];
    const results = await assertSameAsScan(keywords.flatMap((keyword) => [1, 3, 100].map((n) => [keyword, n])));
    assert.equal(results[keywords.indexOf(`chicken ${t}`) * 3 + 2].length, 2);
  });

  test("the search's statements read candidates in id order and stop at the limit: no sort", async () => {
    // D1 runs no statement with unbound parameters, so the plans are asked with literals.
    const literals = { '?1': "'chicken'", '?2': '10', '?3': `'"chi" AND "hic"'`, '?4': '1000' };
    const planOf = async (name, params) => {
      const statement = Object.entries(params).reduce((text, [param, value]) => text.replaceAll(param, value), storeStatement(name));
      return (await sql(`EXPLAIN QUERY PLAN ${statement}`)).map((row) => row.detail);
    };
    const byIndex = await planOf('SEARCH_BY_INDEX', literals);
    assert.match(byIndex.join('\n'), /^CO-ROUTINE candidate\nSCAN recipes_fts VIRTUAL TABLE INDEX \d+:M.*\nSCAN candidate\nSEARCH r USING INTEGER PRIMARY KEY \(rowid=\?\)$/, byIndex.join('\n'));
    const byScan = await planOf('SEARCH_BY_SCAN', { '?1': "'chicken'", '?2': '10', '?3': '1000' });
    assert.match(byScan.join('\n'), /^CO-ROUTINE candidate\nSCAN recipes\nSCAN candidate\nSEARCH r USING INTEGER PRIMARY KEY \(rowid=\?\)$/, byScan.join('\n'));
    // Without a sort, the outer LIMIT stops the candidates' read at max_results matches.
    assert.ok(![...byIndex, ...byScan].some((step) => /TEMP B-TREE/.test(step)));
  });

  describe(`what one search reads: at most SEARCH_CANDIDATES (${SEARCH_CANDIDATES}) candidates`, () => {
    // Labels holding every trigram of `${t}${t}` (t's own and the two across its seam) but not
    // `${t}${t}` itself, more of them than the cap, between two labels that hold it.
    const t = tag();
    const costly = `${t}${t}`;
    let first;
    let last;
    let nul;
    before(async () => {
      first = (await createRecipe(alice.token, { label: `${t}${t} first` })).body;
      await sql(`WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${SEARCH_CANDIDATES + 50}) \
        INSERT INTO recipes (label, source, url, submitter_id) \
        SELECT '${t} ${t.slice(-2)}${t.slice(0, 2)} ' || i, 'Gran', 'https://example.com/decoy/' || i, ${alice.user.id} FROM n`);
      last = (await createRecipe(alice.token, { label: `${t}${t} last` })).body;
      nul = (await createRecipe(alice.token, { label: `${t} x\u0000yz` })).body;
      assert.ok(first.id < last.id && last.id < nul.id);
    });
    after(() => sql(`DELETE FROM recipes WHERE label LIKE '${t}%'`));

    /** A search and its request log line, which holds D1's counters for it. */
    async function searchLogged(keyword, maxResults) {
      const offset = statSync(process.env.WORKER_LOG).size;
      const ray = `ray-${randomUUID()}`;
      const res = await api(`/api/v1/recipes/search/?keyword=${encodeURIComponent(keyword)}&max_results=${maxResults}`, { headers: { 'cf-ray': ray } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      for (let i = 0; i < 30; i++) {
        const line = logSince(offset).find((value) => value.log === 'request' && value.cf_ray === ray);
        if (line) return { results: res.body.results, rowsRead: line.d1_rows_read };
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.fail(`no request line with cf_ray ${ray}`);
    }

    test('a keyword whose trigrams are common but not in sequence finds only matches among the first candidates', async () => {
      const matches = await sql(`SELECT id FROM recipes WHERE instr(lower(label), '${costly}') > 0 ORDER BY id`);
      assert.deepEqual(matches.map((row) => row.id), [first.id, last.id], 'both labels hold the keyword');
      const { results, rowsRead } = await searchLogged(costly, 10);
      assert.deepEqual(results, [first], `the match after ${SEARCH_CANDIDATES} candidates is not reached`);
      // Each candidate is one row from the index and one from recipes.
      assert.ok(rowsRead <= 2 * SEARCH_CANDIDATES, `rows read: ${rowsRead}`);
      assert.ok(rowsRead >= SEARCH_CANDIDATES, `the cap, not the table, ended the read: ${rowsRead}`);
    });

    test('an ordinary keyword over the same rows is exact and reads only up to its max_results matches', async () => {
      await assertSameAsScan([[t, 100], [`${t.slice(-2)}${t.slice(0, 2)} 10`, 100], [`${t}${t} l`, 10]]);
      const { results, rowsRead } = await searchLogged(t, 10);
      assert.equal(results.length, 10);
      assert.ok(rowsRead <= 2 * 10 + 1, `rows read: ${rowsRead}`);
    });

    test('a keyword whose every trigram holds a NUL examines the first SEARCH_CANDIDATES recipes', async () => {
      const matches = await sql(`SELECT id FROM recipes WHERE instr(label, 'x' || char(0) || 'y') > 0`);
      assert.ok(matches.some((row) => row.id === nul.id), 'the label holds the keyword');
      const { results, rowsRead } = await searchLogged('x\u0000y', 100);
      assert.ok(!results.some((r) => r.id === nul.id), `more than ${SEARCH_CANDIDATES} recipes come before it`);
      assert.ok(rowsRead <= 2 * SEARCH_CANDIDATES, `rows read: ${rowsRead}`);
    });
  });
});
