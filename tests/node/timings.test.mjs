// Unit test of the VS Code extension's pure timings formatter (compiled by `npm run compile`).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const t = require(path.join(here, '..', '..', 'editors', 'vscode', 'out', 'timings.js'));

const full = { prompt_tokens: 412, reused_tokens: 400, prompt_ms: 41.6, generated_tokens: 12, generation_ms: 88.2 };
assert.equal(t.totalMs(full), 41.6 + 88.2);
assert.equal(t.statusText(full), 'starassist 130 ms');
assert.equal(
  t.tooltipText({ ...full, model: 'embedded' }),
  [
    'starassist: last completion',
    'model: embedded',
    'prompt: 412 tokens (400 reused from the KV cache) in 42 ms',
    'generated: 12 tokens in 88 ms (136 tok/s)',
    'total: 130 ms',
  ].join('\n'),
);
// total_ms wins over the sum (it includes debounce and post-processing).
assert.equal(t.statusText({ ...full, total_ms: 250.4 }), 'starassist 250 ms');
// Nested under `timings`, as a server may send `{uri, timings: {...}}`.
assert.deepEqual(t.unwrapTimings({ uri: 'file:///a.py', timings: { prompt_ms: 5 } }), {
  uri: 'file:///a.py',
  timings: { prompt_ms: 5 },
  prompt_ms: 5,
});
assert.equal(t.statusText({ cached: true, total_ms: 1 }), 'starassist cached');
assert.equal(t.statusText({}), 'starassist');
assert.equal(t.statusText(t.unwrapTimings(null)), 'starassist');
assert.equal(t.statusText({ prompt_ms: 'x', generation_ms: Number.NaN }), 'starassist');
console.log('timings ok');
