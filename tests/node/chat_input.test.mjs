// Unit test of the chat panel's pure input parsing and function guess (compiled by `npm run compile`).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const c = require(path.join(here, '..', '..', 'editors', 'vscode', 'out', 'chatInput.js'));

assert.deepEqual(c.parseInput('  What does this do?  '), { command: 'ask', text: 'What does this do?', scope: 'auto' });
assert.deepEqual(c.parseInput('Explain #file please'), { command: 'ask', text: 'Explain please', scope: 'file' });
assert.deepEqual(c.parseInput('#selection: why?'), { command: 'ask', text: ': why?', scope: 'selection' });
// #file is the larger context and wins; references inside words are text.
assert.deepEqual(c.parseInput('#selection and #file'), { command: 'ask', text: 'and', scope: 'file' });
assert.deepEqual(c.parseInput('a#file or #files'), { command: 'ask', text: 'a#file or #files', scope: 'auto' });
assert.deepEqual(c.parseInput('/modify add type hints'), { command: 'modify', text: 'add type hints', scope: 'auto' });
assert.deepEqual(c.parseInput('/modify #file rename x to y'), { command: 'modify', text: 'rename x to y', scope: 'file' });
assert.deepEqual(c.parseInput('/explain'), { command: 'explain', text: '', scope: 'auto' });
assert.deepEqual(c.parseInput('/reset'), { command: 'reset', text: '', scope: 'auto' });
// An unknown command is a question.
assert.deepEqual(c.parseInput('/usr/bin is where?'), { command: 'ask', text: '/usr/bin is where?', scope: 'auto' });

const py = [
  'import math',              // 0
  '',                         // 1
  '',                         // 2
  '@cache',                   // 3
  'def area(r):',             // 4
  '    """Area."""',          // 5
  '',                         // 6
  '    return math.pi * r**2', // 7
  '',                         // 8
  '',                         // 9
  'x = 1',                    // 10
  'y = 2',                    // 11
];
assert.deepEqual(c.blockAround(py, 7), [3, 7]); // decorator to the last body line
assert.deepEqual(c.blockAround(py, 4), [3, 7]);
assert.deepEqual(c.blockAround(py, 8), [3, 7]); // a blank line after the body belongs to it
assert.deepEqual(c.blockAround(py, 11), [10, 11]); // no function: the paragraph
const js = ['function f(a) {', '  return a + 1;', '}', '', 'f(2);'];
assert.deepEqual(c.blockAround(js, 1), [0, 2]); // the closing brace too
const nested = ['class A:', '    def m(self):', '        return 1', '', '    def n(self):', '        pass'];
assert.deepEqual(c.blockAround(nested, 2), [1, 2]); // the innermost function
assert.equal(c.contextLabel('a.py', 3, 7), 'a.py lines 4-8');
assert.equal(c.contextLabel('a.py', 3, 3), 'a.py line 4');
console.log('chat input ok');

// Language-model requests from other extensions become starassist.chat arguments.
const lm = require(path.join(here, '..', '..', 'editors', 'vscode', 'out', 'lmMessages.js'));
const text = (value) => ({ value });
const messages = [
  { role: 1, content: [text('What is '), text('a stack?')] },
  { role: 2, content: [text('A LIFO list.'), { data: new Uint8Array(1), mimeType: 'image/png' }] },
  { role: 1, content: [text('And a queue?')] },
];
assert.deepEqual(lm.chatArguments(messages), {
  message: 'And a queue?',
  history: [
    { role: 'user', content: 'What is a stack?' },
    { role: 'assistant', content: 'A LIFO list.' },
  ],
});
assert.equal(lm.messageText('plain'), 'plain');
assert.deepEqual(lm.chatArguments([]), { message: '', history: [] });
console.log('language model messages ok');
