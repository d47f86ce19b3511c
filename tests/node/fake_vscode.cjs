// A stand-in for the `vscode` module, for the one thing that cannot run here: VS Code itself. It implements the
// part of the API that the starassist extension and vscode-languageclient use, records what they register and
// lets a test drive documents and configuration. Anything else resolves to an inert placeholder.
'use strict';

const { pathToFileURL, fileURLToPath } = require('node:url');

class Disposable {
  constructor(fn) {
    this._fn = fn;
  }
  static from(...items) {
    return new Disposable(() => items.forEach((d) => d && d.dispose && d.dispose()));
  }
  dispose() {
    if (this._fn) this._fn();
    this._fn = undefined;
  }
}

class EventEmitter {
  constructor() {
    this._listeners = new Set();
    this.event = (listener, thisArg, disposables) => {
      const fn = thisArg ? listener.bind(thisArg) : listener;
      this._listeners.add(fn);
      const d = new Disposable(() => this._listeners.delete(fn));
      if (Array.isArray(disposables)) disposables.push(d);
      return d;
    };
  }
  fire(value) {
    for (const fn of [...this._listeners]) fn(value);
  }
  dispose() {
    this._listeners.clear();
  }
}

class Uri {
  constructor(scheme, fsPath, raw) {
    this.scheme = scheme;
    this.fsPath = fsPath;
    this.path = fsPath;
    this._raw = raw;
  }
  static file(p) {
    return new Uri('file', p, pathToFileURL(p).href);
  }
  static parse(s) {
    const scheme = s.split(':', 1)[0];
    return new Uri(scheme, scheme === 'file' ? fileURLToPath(s) : s.slice(scheme.length + 1), s);
  }
  toString() {
    return this._raw;
  }
  toJSON() {
    return this._raw;
  }
  with() {
    return this;
  }
}

class Position {
  constructor(line, character) {
    this.line = line;
    this.character = character;
  }
  isEqual(o) {
    return o.line === this.line && o.character === this.character;
  }
  isBefore(o) {
    return this.line < o.line || (this.line === o.line && this.character < o.character);
  }
}

class Range {
  constructor(a, b, c, d) {
    if (typeof a === 'number') {
      this.start = new Position(a, b);
      this.end = new Position(c, d);
    } else {
      this.start = a;
      this.end = b;
    }
  }
  get isEmpty() {
    return this.start.isEqual(this.end);
  }
}

class Selection extends Range {
  constructor(anchor, active) {
    super(anchor, active);
    this.anchor = anchor;
    this.active = active;
  }
}

class SnippetString {
  constructor(value) {
    this.value = value;
  }
}

class InlineCompletionItem {
  constructor(insertText, range, command) {
    this.insertText = insertText;
    this.range = range;
    this.command = command;
  }
}

class InlineCompletionList {
  constructor(items) {
    this.items = items;
  }
}

class TextEdit {
  constructor(range, newText) {
    this.range = range;
    this.newText = newText;
  }
}

class WorkspaceEdit {
  constructor() {
    this._entries = [];
  }
  set(uri, edits) {
    for (const e of edits) this._entries.push([uri, Array.isArray(e) ? e[0] : e]);
  }
  replace(uri, range, newText) {
    this._entries.push([uri, new TextEdit(range, newText)]);
  }
  insert(uri, position, newText) {
    this._entries.push([uri, new TextEdit(new Range(position, position), newText)]);
  }
  entries() {
    return this._entries.map(([uri, edit]) => [uri, [edit]]);
  }
  get size() {
    return this._entries.length;
  }
}

class MarkdownString {
  constructor(value) {
    this.value = value ?? '';
  }
}

class CancellationTokenSource {
  constructor() {
    const emitter = new EventEmitter();
    this._emitter = emitter;
    this.token = { isCancellationRequested: false, onCancellationRequested: emitter.event };
  }
  cancel() {
    if (!this.token.isCancellationRequested) {
      this.token.isCancellationRequested = true;
      this._emitter.fire(undefined);
    }
  }
  dispose() {}
}

class CancellationError extends Error {}

/** A text document whose edits a test applies with `applyEdit`, reporting them like VS Code does. */
class TextDocument {
  constructor(fsPath, languageId, text) {
    this.uri = Uri.file(fsPath);
    this.fileName = fsPath;
    this.languageId = languageId;
    this.version = 1;
    this.isClosed = false;
    this.isDirty = false;
    this.isUntitled = false;
    this.eol = 1;
    this._text = text;
  }
  getText(range) {
    if (!range) return this._text;
    return this._text.slice(this.offsetAt(range.start), this.offsetAt(range.end));
  }
  get lineCount() {
    return this._text.split('\n').length;
  }
  lineAt(lineOrPos) {
    const line = typeof lineOrPos === 'number' ? lineOrPos : lineOrPos.line;
    const text = this._text.split('\n')[line];
    return { lineNumber: line, text, range: new Range(line, 0, line, text.length), isEmptyOrWhitespace: !text.trim() };
  }
  offsetAt(pos) {
    const lines = this._text.split('\n');
    let offset = 0;
    for (let i = 0; i < pos.line; i++) offset += lines[i].length + 1;
    return offset + pos.character;
  }
  positionAt(offset) {
    const before = this._text.slice(0, offset).split('\n');
    return new Position(before.length - 1, before[before.length - 1].length);
  }
  /** Replace `range` with `text`; returns the change event VS Code would fire. */
  applyEdit(range, text) {
    const start = this.offsetAt(range.start);
    const end = this.offsetAt(range.end);
    this._text = this._text.slice(0, start) + text + this._text.slice(end);
    this.version += 1;
    return { document: this, contentChanges: [{ range, rangeOffset: start, rangeLength: end - start, text }], reason: undefined };
  }
}

// ---- recorded state and the namespaces -------------------------------------------------------------------

const registry = {
  commands: new Map(),
  inlineProviders: [],
  completionProviders: [],
  statusBarItems: [],
  outputLines: [],
  messages: [],
  documents: [],
  config: {},
  inputBoxAnswer: undefined,
  opened: [], // documents opened by the extension (e.g. an explanation)
  appliedEdits: [],
  diffs: [], // vscode.diff calls: [left, right, title]
  messageChoice: undefined,
  contentProviders: new Map(),
};

const events = {
  openDocument: new EventEmitter(),
  closeDocument: new EventEmitter(),
  changeDocument: new EventEmitter(),
  saveDocument: new EventEmitter(),
  willSaveDocument: new EventEmitter(),
  changeConfiguration: new EventEmitter(),
  changeWorkspaceFolders: new EventEmitter(),
  changeActiveEditor: new EventEmitter(),
  changeVisibleEditors: new EventEmitter(),
};

function getPath(obj, dotted) {
  return dotted.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), obj);
}

function getConfiguration(section) {
  const root = section ? getPath(registry.config, section) ?? {} : registry.config;
  return {
    get(key, fallback) {
      const v = getPath(root, key);
      return v === undefined ? fallback : JSON.parse(JSON.stringify(v));
    },
    has(key) {
      return getPath(root, key) !== undefined;
    },
    inspect() {
      return undefined;
    },
    update() {
      return Promise.resolve();
    },
  };
}

function matches(selector, document) {
  const filters = Array.isArray(selector) ? selector : [selector];
  return filters.some((f) => {
    if (typeof f === 'string') return f === document.languageId || f === '*';
    if (f.scheme && f.scheme !== document.uri.scheme) return false;
    if (f.language && f.language !== document.languageId) return false;
    return true;
  })
    ? 10
    : 0;
}

function outputChannel(name) {
  const log = (level) => (msg) => registry.outputLines.push(`[${level}] ${msg}`);
  return {
    name,
    logLevel: 1, // Trace: the client logs every message it sends, which the test reads
    onDidChangeLogLevel: new EventEmitter().event,
    append: (s) => registry.outputLines.push(s),
    appendLine: (s) => registry.outputLines.push(s),
    replace: () => {},
    clear: () => {},
    show: () => {},
    hide: () => {},
    dispose: () => {},
    trace: log('trace'),
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
  };
}

function statusBarItem() {
  const item = { text: '', tooltip: '', command: undefined, show() {}, hide() {}, dispose() {} };
  registry.statusBarItems.push(item);
  return item;
}

// A message with buttons answers with `registry.messageChoice` (the button a test "clicks").
const message = (kind) => (text, ...items) => {
  registry.messages.push({ kind, text: String(text), items });
  return Promise.resolve(items.length ? registry.messageChoice : undefined);
};

function register(list) {
  return (selector, provider) => {
    const entry = { selector, provider };
    list.push(entry);
    return new Disposable(() => list.splice(list.indexOf(entry), 1));
  };
}

const inert = () => new Disposable(() => {});

const api = {
  version: '1.99.0',
  Disposable,
  EventEmitter,
  Uri,
  Position,
  Range,
  Selection,
  SnippetString,
  MarkdownString,
  InlineCompletionItem,
  InlineCompletionList,
  TextEdit,
  WorkspaceEdit,
  CancellationTokenSource,
  CancellationError,
  InlineCompletionTriggerKind: { Invoke: 0, Automatic: 1 },
  StatusBarAlignment: { Left: 1, Right: 2 },
  ViewColumn: { Active: -1, Beside: -2, One: 1 },
  ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
  LogLevel: { Off: 0, Trace: 1, Debug: 2, Info: 3, Warning: 4, Error: 5 },
  ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
  TextDocumentSaveReason: { Manual: 1, AfterDelay: 2, FocusOut: 3 },
  env: { appName: 'Visual Studio Code', language: 'en', machineId: 'test', sessionId: 'test', openExternal: () => Promise.resolve(true) },
  workspace: {
    get textDocuments() {
      return registry.documents.filter((d) => !d.isClosed);
    },
    notebookDocuments: [],
    workspaceFolders: undefined,
    getConfiguration,
    onDidOpenTextDocument: events.openDocument.event,
    onDidCloseTextDocument: events.closeDocument.event,
    onDidChangeTextDocument: events.changeDocument.event,
    onDidSaveTextDocument: events.saveDocument.event,
    onWillSaveTextDocument: events.willSaveDocument.event,
    onDidChangeConfiguration: events.changeConfiguration.event,
    onDidChangeWorkspaceFolders: events.changeWorkspaceFolders.event,
    onDidOpenNotebookDocument: inert,
    onDidCloseNotebookDocument: inert,
    onDidChangeNotebookDocument: inert,
    onDidSaveNotebookDocument: inert,
    onDidCreateFiles: inert,
    onDidRenameFiles: inert,
    onDidDeleteFiles: inert,
    onWillCreateFiles: inert,
    onWillRenameFiles: inert,
    onWillDeleteFiles: inert,
    createFileSystemWatcher: () => ({ onDidCreate: inert, onDidChange: inert, onDidDelete: inert, dispose() {} }),
    // Applies edits to the test's open documents (last edit first, so earlier ranges stay valid).
    applyEdit(edit) {
      const entries = [...edit._entries].reverse();
      for (const [uri, textEdit] of entries) {
        const doc = registry.documents.find((d) => d.uri.toString() === uri.toString());
        if (!doc) return Promise.resolve(false);
        registry.appliedEdits.push({ uri: uri.toString(), newText: textEdit.newText });
        events.changeDocument.fire(doc.applyEdit(textEdit.range, textEdit.newText));
      }
      return Promise.resolve(true);
    },
    registerTextDocumentContentProvider(scheme, provider) {
      registry.contentProviders.set(scheme, provider);
      return new Disposable(() => registry.contentProviders.delete(scheme));
    },
    openTextDocument(opts) {
      const doc = new TextDocument('/untitled', opts?.language ?? 'plaintext', opts?.content ?? '');
      registry.opened.push({ language: doc.languageId, content: doc.getText() });
      return Promise.resolve(doc);
    },
  },
  window: {
    activeTextEditor: undefined,
    visibleTextEditors: [],
    tabGroups: { all: [], onDidChangeTabs: inert, onDidChangeTabGroups: inert, close: () => Promise.resolve(true) },
    setStatusBarMessage: (text) => {
      registry.messages.push({ kind: 'status', text: String(text) });
      return new Disposable(() => {});
    },
    onDidChangeActiveTextEditor: events.changeActiveEditor.event,
    onDidChangeVisibleTextEditors: events.changeVisibleEditors.event,
    createOutputChannel: outputChannel,
    createStatusBarItem: statusBarItem,
    showInformationMessage: message('info'),
    showWarningMessage: message('warning'),
    showErrorMessage: message('error'),
    showInputBox: () => Promise.resolve(registry.inputBoxAnswer),
    showTextDocument: () => Promise.resolve(undefined),
    withProgress: (_opts, task) => task({ report() {} }, new CancellationTokenSource().token),
  },
  languages: {
    match: matches,
    registerInlineCompletionItemProvider: register(registry.inlineProviders),
    registerCompletionItemProvider: register(registry.completionProviders),
    createDiagnosticCollection: () => ({ set() {}, delete() {}, clear() {}, dispose() {}, forEach() {} }),
  },
  commands: {
    registerCommand(name, fn) {
      if (registry.commands.has(name)) throw new Error(`command '${name}' already exists`);
      registry.commands.set(name, fn);
      return new Disposable(() => registry.commands.delete(name));
    },
    executeCommand(name, ...args) {
      if (name === 'vscode.diff') {
        const [left, right, title] = args;
        const provider = registry.contentProviders.get(right.scheme);
        registry.diffs.push({ left: left.toString(), right: provider?.provideTextDocumentContent(right) ?? null, title });
        return Promise.resolve(undefined);
      }
      const fn = registry.commands.get(name);
      if (!fn) return Promise.reject(new Error(`command '${name}' not found`));
      return Promise.resolve(fn(...args));
    },
  },
};

// Providers this test does not exercise (hover, rename, ...) register as no-ops.
const languagesProxy = new Proxy(api.languages, {
  get: (target, prop) => (prop in target ? target[prop] : inert),
});
api.languages = languagesProxy;

// Enum-like or class names this test does not use: an inert class whose unknown members are numbers.
function placeholder(name) {
  const cls = class {};
  Object.defineProperty(cls, 'name', { value: name });
  return new Proxy(cls, { get: (target, prop) => (prop in target ? target[prop] : 0) });
}

const module_ = new Proxy(api, { get: (target, prop) => (prop in target ? target[prop] : placeholder(String(prop))) });

module.exports = module_;
module.exports.__test = { registry, events, TextDocument };
