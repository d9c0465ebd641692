// The home page and the seed data.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { api, newUser, createRecipe, sql, seedAgain, login, SUPERUSER } from './helpers.mjs';

/** What a browser shows for escaped text: numeric and the basic named entities decoded. */
const decodeEntities = (html) => html
  .replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
  .replace(/&(lt|gt|quot|amp);/g, (_, e) => ({ lt: '<', gt: '>', quot: '"', amp: '&' })[e]);

const ORIGINAL_RECIPES = [
  ['Chicken Vesuvio', 'Serious Eats', 'http://www.seriouseats.com/recipes/2011/12/chicken-vesuvio-recipe.html'],
  ['Chicken Paprikash', 'No Recipes', 'http://norecipes.com/recipe/chicken-paprikash/'],
  ['Cauliflower and Tofu Curry Recipe', 'Serious Eats', 'http://www.seriouseats.com/recipes/2011/02/cauliflower-and-tofu-curry-recipe.html'],
];

describe('seed data', () => {
  test("holds the original's superuser and their three recipes", async () => {
    const res = await login(SUPERUSER.email, SUPERUSER.password);
    assert.equal(res.status, 200);
    const me = await api('/api/v1/auth/me', { token: res.body.access_token });
    assert.equal(me.body.is_superuser, true);
    const mine = await api('/api/v1/recipes/my-recipes/', { token: res.body.access_token });
    assert.deepEqual(mine.body.results.map((r) => [r.label, r.source, r.url]), ORIGINAL_RECIPES);
  });

  test('seeding again changes nothing', async () => {
    const snapshot = () => sql('SELECT (SELECT json_group_array(json_array(id, email, hashed_password, is_superuser)) FROM users) AS users, (SELECT json_group_array(json_array(id, label, url, submitter_id)) FROM recipes) AS recipes');
    const before = await snapshot();
    await seedAgain();
    assert.deepEqual(await snapshot(), before);
  });
});

describe('GET /', () => {
  test('renders the latest 10 recipes as cards with a Visit Site link', async () => {
    const { token } = await newUser();
    for (let i = 0; i < 11; i++) await createRecipe(token, { label: `Card ${i}`, url: `https://example.com/card/${i}` });
    const res = await api('/');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    assert.match(res.body, /<title>Recipes<\/title>/);
    const cards = res.body.match(/<article class="recipe">/g) ?? [];
    assert.equal(cards.length, 10);
    assert.ok(res.body.includes('Card 10') && !res.body.includes('Card 0<'), 'the latest ten, newest first');
    assert.ok(res.body.includes('<a href="https://example.com/card/10" rel="noopener noreferrer">Visit Site</a>'));
  });

  test('escapes every value: a <script> label shows as text', async () => {
    const { token } = await newUser();
    await createRecipe(token, {
      label: '<script>alert("x")</script>',
      source: '"><img src=x onerror=alert(1)>',
      url: 'https://example.com/?a=1&b="2"',
    });
    const { body } = await api('/');
    assert.ok(!body.includes('<script>alert'), 'no live script tag');
    assert.ok(!body.includes('<img src=x'), 'no attribute break-out');
    const text = decodeEntities(body);
    assert.ok(text.includes('<h2><script>alert("x")</script></h2>'), 'the label shows as text');
    assert.ok(text.includes('<p>"><img src=x onerror=alert(1)></p>'), 'the source shows as text');
    assert.ok(body.includes('href="https://example.com/?a=1&#38;b=&#34;2&#34;"') || body.includes('href="https://example.com/?a=1&amp;b=&quot;2&quot;"'), 'the url is escaped in its attribute');
  });
});
