// An LSP session against `starassist lsp` driven by `vscode-languageserver-protocol`, the protocol library
// inside VS Code's language client. Usage:
//   node tests/node/session.mjs -- <server command...>
// Prints one JSON summary line on stdout (prefixed "SUMMARY ") and exits non-zero on a failed check.
// Libraries come from editors/vscode/node_modules (`npm ci --prefix editors/vscode`).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'editors', 'vscode', 'package.json'));
const protocol = require('vscode-languageserver-protocol/node');
const {
  createProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
  CancellationTokenSource,
  ResponseError,
  LSPErrorCodes,
  InitializeRequest,
  InitializedNotification,
  DidOpenTextDocumentNotification,
  DidChangeTextDocumentNotification,
  DidChangeConfigurationNotification,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  ShutdownRequest,
  ExitNotification,
  TextDocumentSyncKind,
} = protocol;

const sep = process.argv.indexOf('--');
const serverCmd = sep >= 0 ? process.argv.slice(sep + 1) : [];
if (serverCmd.length === 0) {
  console.error('usage: node session.mjs -- <server command...>');
  process.exit(2);
}

// What VS Code 1.9x sends for the parts the server cares about.
const capabilities = {
  general: { positionEncodings: ['utf-16'] },
  window: { workDoneProgress: true, showMessage: { messageActionItem: { additionalPropertiesSupport: true } } },
  workspace: {
    applyEdit: true,
    configuration: true,
    workspaceFolders: true,
    didChangeConfiguration: { dynamicRegistration: true },
    executeCommand: { dynamicRegistration: true },
  },
  textDocument: {
    synchronization: { dynamicRegistration: true, willSave: true, willSaveWaitUntil: true, didSave: true },
    completion: {
      dynamicRegistration: true,
      contextSupport: true,
      completionItem: {
        snippetSupport: true,
        insertReplaceSupport: true,
        documentationFormat: ['markdown', 'plaintext'],
        resolveSupport: { properties: ['documentation', 'detail', 'additionalTextEdits'] },
      },
    },
    inlineCompletion: { dynamicRegistration: true },
  },
};

const uri = pathToFileURL(path.join(process.cwd(), 'session_demo.py')).href;
const initialText = [
  'import math',
  '',
  '',
  'def add(a, b):',
  '    """Return the sum of a and b."""',
  '    return a + b',
  '',
  '',
  'def subtract(a, b):',
  '    """Return the difference of a and b."""',
  '    return a - b',
  '',
  '',
  'def mul(a, b):',
  '',
].join('\n');

const summary = { notifications: {}, errors: [], showMessages: [] };
const count = (method) => {
  summary.notifications[method] = (summary.notifications[method] ?? 0) + 1;
};

const child = spawn(serverCmd[0], serverCmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
const stderrChunks = [];
child.stderr.on('data', (d) => stderrChunks.push(d));
const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

const connection = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
// Requests a server may send to VS Code, answered the way VS Code would.
connection.onRequest('window/workDoneProgress/create', () => null);
connection.onRequest('client/registerCapability', () => null);
connection.onRequest('client/unregisterCapability', () => null);
connection.onRequest('workspace/configuration', (params) => params.items.map(() => ({ completion: { max_tokens: 24 } })));
connection.onRequest('window/showMessageRequest', () => null);
connection.onRequest('workspace/applyEdit', () => ({ applied: false }));
for (const method of ['window/logMessage', '$/progress', 'starassist/timings', 'telemetry/event']) {
  connection.onNotification(method, () => count(method));
}
connection.onNotification('window/showMessage', (params) => {
  count('window/showMessage');
  summary.showMessages.push(params);
});
connection.listen();

const withTimeout = (promise, ms, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)),
  ]);

function items(result) {
  if (result === null || result === undefined) return [];
  return Array.isArray(result) ? result : result.items;
}

function insertText(item) {
  return typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
}

async function main() {
  const init = await withTimeout(
    connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      clientInfo: { name: 'Visual Studio Code', version: '1.99.0' },
      locale: 'en',
      rootUri: null,
      workspaceFolders: null,
      capabilities,
      // Small answers keep the test quick; the rest are server defaults.
      initializationOptions: { model: { path: 'embedded' }, completion: { max_tokens: 24 } },
    }),
    120000,
    'initialize',
  );
  const caps = init.capabilities;
  summary.serverInfo = init.serverInfo ?? null;
  summary.capabilities = {
    inlineCompletionProvider: caps.inlineCompletionProvider ?? null,
    completionProvider: caps.completionProvider ?? null,
    textDocumentSync: caps.textDocumentSync ?? null,
    positionEncoding: caps.positionEncoding ?? null,
    executeCommandProvider: caps.executeCommandProvider ?? null,
  };
  assert.ok(caps.inlineCompletionProvider, 'server must advertise inlineCompletionProvider');
  const sync = typeof caps.textDocumentSync === 'number' ? caps.textDocumentSync : caps.textDocumentSync?.change;
  assert.equal(sync, TextDocumentSyncKind.Incremental, 'server must accept incremental changes');
  if (caps.positionEncoding !== undefined) {
    assert.equal(caps.positionEncoding, 'utf-16', 'a VS Code client only offers utf-16');
  }
  await connection.sendNotification(InitializedNotification.type, {});
  await connection.sendNotification(DidChangeConfigurationNotification.type, {
    settings: { starassist: { completion: { max_tokens: 24 } } },
  });

  await connection.sendNotification(DidOpenTextDocumentNotification.type, {
    textDocument: { uri, languageId: 'python', version: 1, text: initialText },
  });
  // Incremental edits, as VS Code sends them: fix the signature on the last line, then type the docstring
  // and the start of the body. The server must apply them in order to see the final text.
  const lastLine = 13; // 'def mul(a, b):'
  await connection.sendNotification(DidChangeTextDocumentNotification.type, {
    textDocument: { uri, version: 2 },
    contentChanges: [
      { range: { start: { line: lastLine, character: 4 }, end: { line: lastLine, character: 7 } }, rangeLength: 3, text: 'multiply' },
    ],
  });
  const body = '    """Return the product of a and b."""\n    return a';
  await connection.sendNotification(DidChangeTextDocumentNotification.type, {
    textDocument: { uri, version: 3 },
    contentChanges: [{ range: { start: { line: 14, character: 0 }, end: { line: 14, character: 0 } }, rangeLength: 0, text: body }],
  });
  const cursor = { line: 15, character: '    return a'.length };

  const invoked = await withTimeout(
    connection.sendRequest(InlineCompletionRequest.type, {
      textDocument: { uri },
      position: cursor,
      context: { triggerKind: InlineCompletionTriggerKind.Invoked },
    }),
    60000,
    'inlineCompletion (invoked)',
  );
  const invokedItems = items(invoked);
  summary.invoked = invokedItems;
  assert.ok(invokedItems.length >= 1, `invoked inline completion returned no items: ${JSON.stringify(invoked)}`);
  for (const item of invokedItems) {
    assert.ok(insertText(item).length > 0, 'an item with empty insertText');
    if (item.range) {
      assert.deepEqual(item.range.start, cursor, 'an item must replace text starting at the cursor');
    }
  }

  const automatic = await withTimeout(
    connection.sendRequest(InlineCompletionRequest.type, {
      textDocument: { uri },
      position: cursor,
      context: { triggerKind: InlineCompletionTriggerKind.Automatic },
    }),
    60000,
    'inlineCompletion (automatic)',
  );
  summary.automatic = items(automatic);
  assert.ok(summary.automatic.length <= 1, 'automatic trigger must return at most one item');

  // A new function the cache cannot answer, requested and cancelled at once ($/cancelRequest).
  const tail = '\n\n\ndef divide(a, b):\n    """Return a divided by b."""\n    return ';
  await connection.sendNotification(DidChangeTextDocumentNotification.type, {
    textDocument: { uri, version: 4 },
    contentChanges: [{ range: { start: cursor, end: cursor }, rangeLength: 0, text: tail }],
  });
  const divideCursor = { line: 20, character: '    return '.length };
  const source = new CancellationTokenSource();
  const cancelled = connection.sendRequest(
    InlineCompletionRequest.type,
    { textDocument: { uri }, position: divideCursor, context: { triggerKind: InlineCompletionTriggerKind.Automatic } },
    source.token,
  );
  source.cancel();
  try {
    const result = await withTimeout(cancelled, 30000, 'cancelled inlineCompletion');
    summary.cancelled = { kind: 'result', items: items(result) };
    assert.equal(items(result).length, 0, `a cancelled request must not return items: ${JSON.stringify(result)}`);
  } catch (err) {
    if (!(err instanceof ResponseError)) throw err;
    summary.cancelled = { kind: 'error', code: err.code, message: err.message };
    assert.equal(err.code, LSPErrorCodes.RequestCancelled, `unexpected error for a cancelled request: ${err.message}`);
  }

  // The server is still serving after the cancellation.
  const after = await withTimeout(
    connection.sendRequest(InlineCompletionRequest.type, {
      textDocument: { uri },
      position: divideCursor,
      context: { triggerKind: InlineCompletionTriggerKind.Invoked },
    }),
    60000,
    'inlineCompletion after cancel',
  );
  summary.afterCancel = items(after);
  assert.ok(summary.afterCancel.length >= 1, 'no completion after a cancelled request');

  // UTF-16 positions (all VS Code offers): an emoji (two code units) and CJK before the cursor on its line.
  const emojiLine = 'banner = "🚀 起飞 " + ';
  const afterDivide = { line: 20, character: divideCursor.character };
  await connection.sendNotification(DidChangeTextDocumentNotification.type, {
    textDocument: { uri, version: 5 },
    contentChanges: [{ range: { start: afterDivide, end: afterDivide }, rangeLength: 0, text: 'a / b\n\n\n' + emojiLine }],
  });
  const emojiCursor = { line: 23, character: emojiLine.length }; // JS string length counts UTF-16 code units
  const unicode = await withTimeout(
    connection.sendRequest(InlineCompletionRequest.type, {
      textDocument: { uri },
      position: emojiCursor,
      context: { triggerKind: InlineCompletionTriggerKind.Invoked },
    }),
    60000,
    'inlineCompletion after emoji',
  );
  summary.unicode = items(unicode);
  assert.ok(summary.unicode.length >= 1, 'a completion after an emoji');
  for (const item of summary.unicode) {
    assert.ok(item.range, 'items carry their range');
    assert.deepEqual(item.range.start, emojiCursor, 'the range starts at the cursor, in UTF-16 code units');
  }

  await withTimeout(connection.sendRequest(ShutdownRequest.type), 10000, 'shutdown');
  await connection.sendNotification(ExitNotification.type);
  const { code, signal } = await withTimeout(exited, 10000, 'process exit after `exit`');
  summary.exitCode = code;
  summary.exitSignal = signal;
  assert.equal(code, 0, `server exited with ${code ?? signal}`);
  const errors = summary.showMessages.filter((m) => m.type === 1);
  assert.equal(errors.length, 0, `the server reported errors: ${JSON.stringify(errors)}`);
}

main().then(
  () => {
    connection.dispose();
    console.log('SUMMARY ' + JSON.stringify(summary));
    process.exit(0);
  },
  (err) => {
    summary.errors.push(String(err?.stack ?? err));
    console.log('SUMMARY ' + JSON.stringify(summary));
    console.error(String(err?.stack ?? err));
    console.error('--- server stderr ---\n' + Buffer.concat(stderrChunks).toString().slice(-4000));
    child.kill();
    process.exit(1);
  },
);
