// Runs the compiled starassist extension (editors/vscode/out) with the real vscode-languageclient against the
// real `starassist lsp`; only the `vscode` module is a stand-in (tests/node/fake_vscode.cjs), as VS Code cannot
// run here. Usage: node tests/node/extension_host.mjs -- <server command...>
// Prints "SUMMARY {json}" and exits non-zero on a failed check.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import Module from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const extensionDir = path.join(here, '..', '..', 'editors', 'vscode');
const fakePath = path.join(here, 'fake_vscode.cjs');

// `require('vscode')` from the extension and the client library resolves to the stand-in.
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === 'vscode' ? fakePath : resolve.call(this, request, ...rest);
};

const require = createRequire(path.join(extensionDir, 'package.json'));
const vscode = require('vscode');
const { registry, events, TextDocument } = vscode.__test;

const sep = process.argv.indexOf('--');
const serverCmd = sep >= 0 ? process.argv.slice(sep + 1) : [];
assert.ok(serverCmd.length >= 2 && serverCmd[serverCmd.length - 1] === 'lsp', 'usage: extension_host.mjs -- <...> lsp');

// The user's settings: the server command split the way the extension's settings express it.
registry.config = {
  starassist: {
    serverPath: serverCmd[0],
    serverArgs: serverCmd.slice(1, -1),
    trace: { server: 'verbose' },
    model: { path: 'embedded' },
    completion: { max_tokens: 24, invoked_items: 2 },
    chat: { max_tokens: 48 },
  },
};

const summary = { errors: [] };
const withTimeout = (promise, ms, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms))]);

async function waitFor(predicate, ms, what) {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const expectStartFailure = process.argv.slice(2, sep).includes('--expect-start-failure');

/** A server that cannot start: activation still succeeds, the user is told what to fix, commands answer. */
async function startFailure(extension) {
  const status = registry.statusBarItems[0];
  summary.messages = registry.messages;
  summary.status = { text: status.text, tooltip: status.tooltip };
  const errors = registry.messages.filter((m) => m.kind === 'error');
  assert.equal(errors.length, 1, `one error message: ${JSON.stringify(registry.messages)}`);
  assert.match(errors[0].text, /^\[starassist\] .*not found — install starassist .*starassist\.serverPath/);
  assert.match(status.text, /error/);
  // The commands exist and explain why nothing happens instead of failing with "command not found".
  vscode.window.activeTextEditor = { document: new TextDocument('/tmp/x.py', 'python', 'x = 1\n'), selection: new vscode.Selection(new vscode.Position(0, 0), new vscode.Position(0, 5)) };
  await vscode.commands.executeCommand('starassist.explain');
  assert.ok(registry.messages.some((m) => m.kind === 'warning' && m.text.includes('not running')), 'explain explains');
  await withTimeout(extension.deactivate(), 15000, 'deactivate');
}

async function main() {
  const extension = require('./out/extension.js');
  const context = { subscriptions: [], extensionPath: extensionDir, extensionUri: vscode.Uri.file(extensionDir) };
  await withTimeout(extension.activate(context), 120000, 'activate');
  if (expectStartFailure) {
    await startFailure(extension);
    return;
  }

  // Commands: the extension's own, and the server's (registered by the client library's executeCommand feature).
  const commands = [...registry.commands.keys()].sort();
  summary.commands = commands;
  for (const name of ['starassist.restartServer', 'starassist.showLog', 'starassist.explain', 'starassist.modify', 'starassist.accept']) {
    assert.ok(commands.includes(name), `command ${name} registered`);
  }
  // The client library registers inline completion itself (vscode-languageclient >= 10): exactly one provider.
  assert.equal(registry.inlineProviders.length, 1, 'one inline completion provider');
  const status = registry.statusBarItems[0];
  assert.ok(status, 'a status bar item');

  const docPath = path.join(process.cwd(), 'geometry.py');
  const doc = new TextDocument(docPath, 'python', 'import math\n\n\ndef circle_area(radius):\n    """Area of a circle."""\n    return math.pi * radius ** 2\n\n\ndef square_area(side):\n');
  registry.documents.push(doc);
  events.openDocument.fire(doc);
  // Typing, as incremental changes.
  events.changeDocument.fire(doc.applyEdit(new vscode.Range(9, 0, 9, 0), '    """Area of a square."""\n    return side'));
  const position = new vscode.Position(10, '    return side'.length);

  const provider = registry.inlineProviders[0].provider;
  const token = new vscode.CancellationTokenSource().token;
  const result = await withTimeout(
    Promise.resolve(provider.provideInlineCompletionItems(doc, position, { triggerKind: vscode.InlineCompletionTriggerKind.Invoke }, token)),
    60000,
    'provideInlineCompletionItems',
  );
  const items = Array.isArray(result) ? result : result.items;
  summary.items = items.map((i) => ({
    insertText: typeof i.insertText === 'string' ? i.insertText : i.insertText.value,
    range: i.range && [i.range.start.line, i.range.start.character, i.range.end.line, i.range.end.character],
    command: i.command && i.command.command,
  }));
  assert.ok(items.length >= 1 && items.length <= 2, `1..invoked_items items, got ${items.length}`);
  for (const item of summary.items) {
    assert.ok(item.insertText.trim().length > 0, 'non-empty insertText');
    assert.deepEqual(item.range.slice(0, 2), [10, position.character], 'range starts at the cursor');
    assert.equal(item.command, 'starassist.accept', 'accepting runs the telemetry command');
  }

  // The server's timings notification reaches the status bar.
  await waitFor(() => /starassist \d+ ms|starassist cached/.test(status.text), 10000, 'timings in the status bar');
  summary.status = { text: status.text, tooltip: status.tooltip };

  // Accepting: VS Code runs the item's command, which the client forwards as workspace/executeCommand.
  const accept = items[0].command;
  await withTimeout(vscode.commands.executeCommand(accept.command, ...(accept.arguments ?? [])), 10000, 'accept command');

  // A settings change is forwarded as workspace/didChangeConfiguration with the server's part of the tree.
  registry.config.starassist.completion.max_tokens = 16;
  events.changeConfiguration.fire({ affectsConfiguration: (s) => 'starassist.completion.max_tokens'.startsWith(s) });
  const sentConfig = () => registry.outputLines.find((l) => l.includes("Sending notification 'workspace/didChangeConfiguration'"));
  await waitFor(sentConfig, 10000, 'didChangeConfiguration sent');
  const params = JSON.parse(sentConfig().split('Params: ')[1]);
  summary.didChangeConfiguration = params;
  assert.equal(params.settings.starassist.completion.max_tokens, 16, 'the new value is sent');
  assert.deepEqual(Object.keys(params.settings.starassist).sort(), ['chat', 'completion', 'model'], 'only the server part');

  // Explain and modify as from the command palette (no arguments): the client fills in the selection.
  vscode.window.activeTextEditor = { document: doc, selection: new vscode.Selection(new vscode.Position(3, 0), new vscode.Position(5, 32)) };
  const explanation = await withTimeout(vscode.commands.executeCommand('starassist.explain'), 120000, 'explain');
  summary.explanation = explanation;
  assert.ok(typeof explanation === 'string' && explanation.trim(), 'explain returns text');
  assert.deepEqual(registry.opened.map((d) => d.language), ['markdown'], 'the explanation opens as a Markdown document');
  assert.equal(registry.opened[0].content, explanation);

  // Modify previews the proposal as a diff; Reject leaves the file alone, Accept applies it as one edit.
  registry.inputBoxAnswer = 'add a type hint for radius';
  const before = doc.getText();
  registry.messageChoice = 'Reject';
  await withTimeout(vscode.commands.executeCommand('starassist.modify'), 120000, 'modify (rejected)');
  assert.equal(registry.diffs.length, 1, 'the proposal is shown as a diff');
  assert.equal(doc.getText(), before, 'a rejected proposal changes nothing');
  assert.equal(registry.appliedEdits.length, 0, 'nothing applied before acceptance (the server only proposes)');
  registry.messageChoice = 'Accept';
  await withTimeout(vscode.commands.executeCommand('starassist.modify'), 120000, 'modify (accepted)');
  assert.equal(registry.diffs.length, 2);
  const proposed = registry.diffs[1].right;
  summary.modified = proposed;
  assert.equal(registry.appliedEdits.length, 1, 'the accepted proposal is one edit');
  assert.equal(doc.getText(), proposed, 'the document is what the diff showed');
  assert.ok(doc.getText().endsWith(before.slice(before.indexOf('\n\n\ndef square_area'))), 'text after the selection unchanged');
  summary.errorMessages = registry.messages.filter((m) => m.kind === 'error');
  assert.deepEqual(summary.errorMessages, [], 'no error messages shown');

  // Restart: the old server shuts down, a new one starts, commands and the provider are registered again.
  await withTimeout(vscode.commands.executeCommand('starassist.restartServer'), 120000, 'restart');
  assert.equal(registry.inlineProviders.length, 1, 'one inline completion provider after a restart');
  assert.ok(registry.commands.has('starassist.explain'), 'commands registered again after a restart');
  // No new didOpen from the test: the client sends one for documents already open when it starts.
  const again = await withTimeout(
    Promise.resolve(registry.inlineProviders[0].provider.provideInlineCompletionItems(
      doc, new vscode.Position(5, '    return math.pi * radius'.length), { triggerKind: vscode.InlineCompletionTriggerKind.Automatic }, token)),
    60000,
    'completion after restart',
  );
  summary.afterRestart = (Array.isArray(again) ? again : again.items).map((i) => i.insertText);
  assert.deepEqual(registry.messages.filter((m) => m.kind === 'error'), [], 'no error messages after a restart');

  await withTimeout(extension.deactivate(), 15000, 'deactivate (shutdown + exit)');
  summary.traced = registry.outputLines.filter((l) => l.startsWith('[trace] Sending') || l.includes('Sending ')).length;
}

main().then(
  () => {
    console.log('SUMMARY ' + JSON.stringify(summary));
    process.exit(0);
  },
  (err) => {
    summary.errors.push(String(err?.stack ?? err));
    summary.output = registry.outputLines.slice(-40);
    console.log('SUMMARY ' + JSON.stringify(summary));
    console.error(String(err?.stack ?? err));
    process.exit(1);
  },
);
