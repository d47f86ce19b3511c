// "starassist Chat": our own webview panel, because code-server's chat view dispatches to a participant only
// once a vendor's language model is signed in (see README). Questions go to the server's `starassist.chat` (the
// Tech Assistant prompt) with the history kept here, `/explain` to `starassist.explain`, `/modify` to
// `starassist.modify` as a proposal shown as a diff and applied only on Accept. Answers stream in as the
// server's `starassist/text` notifications. The page (webview/chat.js) only renders what it is sent.
//
// The transcript lives here, not in the page: a hidden panel's page is discarded and rebuilt from it when shown
// again (cheaper than retainContextWhenHidden, and hidden pages get no messages anyway).

import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { blockAround, contextLabel, HELP, parseInput, ParsedInput } from './chatInput';
import { Commands } from './constants';
import type { StarassistClient } from './client';
import { NO_PROPOSAL, previewAndApply, propose } from './proposal';

interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

/** One message in the panel. `done` is false while an answer is streaming. */
interface Entry {
  id: number;
  role: 'user' | 'assistant' | 'note';
  text: string;
  context?: string;
  done: boolean;
}

/** Code that goes with a message. */
interface Code {
  editor: vscode.TextEditor;
  range: vscode.Range;
  version: number;
  label: string;
}

type FromPage = { type: 'ready' } | { type: 'ask'; text: string } | { type: 'stop' };

export const CHAT_VIEW_TYPE = 'starassist.chat';

export class ChatPanel implements vscode.Disposable {
  private static current: ChatPanel | undefined;

  private readonly panel: vscode.WebviewPanel;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly entries: Entry[] = [];
  private history: Turn[] = [];
  private nextId = 1;
  private running: vscode.CancellationTokenSource | undefined;
  // The code editor questions are about: the panel takes the focus, so remember the last one.
  private editor: vscode.TextEditor | undefined = vscode.window.activeTextEditor;

  /** Show the panel beside the code (creating it the first time). */
  static show(client: StarassistClient, extensionUri: vscode.Uri): void {
    if (ChatPanel.current) {
      ChatPanel.current.panel.reveal();
      return;
    }
    ChatPanel.current = new ChatPanel(client, extensionUri);
  }

  private constructor(
    private readonly client: StarassistClient,
    private readonly extensionUri: vscode.Uri,
  ) {
    const media = vscode.Uri.joinPath(extensionUri, 'webview');
    this.panel = vscode.window.createWebviewPanel(
      CHAT_VIEW_TYPE,
      'starassist Chat',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false },
      { enableScripts: true, localResourceRoots: [media] },
    );
    this.panel.webview.html = this.html();
    this.disposables.push(
      this.panel.onDidDispose(() => this.dispose()),
      this.panel.webview.onDidReceiveMessage((msg: FromPage) => this.onMessage(msg)),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor && editor.document.uri.scheme !== 'output') this.editor = editor;
      }),
    );
  }

  dispose(): void {
    if (ChatPanel.current === this) ChatPanel.current = undefined;
    this.running?.cancel();
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }

  private html(): string {
    const webview = this.panel.webview;
    const nonce = randomBytes(16).toString('base64');
    const asset = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'webview', name));
    // Nothing remote, no inline script or style: only our two files, the script by nonce.
    const csp = `default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${nonce}';`;
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('chat.css')}">
<title>starassist Chat</title>
</head>
<body>
<main id="messages" aria-live="polite"></main>
<form id="ask">
<textarea id="input" rows="3" aria-label="Message"
 placeholder="Ask about the selection (or #file) · /explain · /modify how · /reset · /help"></textarea>
<div class="buttons"><button id="stop" type="button" hidden>Stop</button><button id="send" type="submit">Send</button></div>
</form>
<script nonce="${nonce}" src="${asset('chat.js')}"></script>
</body>
</html>`;
  }

  private post(message: object): void {
    void this.panel.webview.postMessage(message); // a hidden page misses it; `ready` replays the transcript
  }

  private add(role: Entry['role'], text: string, done = true, context?: string): Entry {
    const entry: Entry = { id: this.nextId++, role, text, done, ...(context ? { context } : {}) };
    this.entries.push(entry);
    this.post({ type: 'add', entry });
    return entry;
  }

  private append(entry: Entry, piece: string): void {
    if (!this.entries.includes(entry)) return; // gone with /reset
    entry.text += piece;
    this.post({ type: 'append', id: entry.id, text: piece });
  }

  private finish(entry: Entry, text: string, role: Entry['role'] = entry.role): void {
    if (!this.entries.includes(entry)) return; // gone with /reset
    Object.assign(entry, { text, role, done: true });
    this.post({ type: 'finish', entry });
  }

  private onMessage(msg: FromPage): void {
    if (msg.type === 'ready') {
      this.post({ type: 'entries', entries: this.entries, busy: this.running !== undefined });
    } else if (msg.type === 'stop') {
      this.running?.cancel();
    } else if (msg.type === 'ask' && typeof msg.text === 'string') {
      void this.handle(parseInput(msg.text));
    }
  }

  private async handle(input: ParsedInput): Promise<void> {
    if (input.command === 'reset') {
      this.running?.cancel();
      this.running = undefined;
      this.entries.length = 0;
      this.history = [];
      this.post({ type: 'entries', entries: [], busy: false });
      return;
    }
    if (input.command === 'help') {
      this.add('note', HELP);
      return;
    }
    if (this.running) {
      this.add('note', 'Still answering: wait, press Stop, or /reset.');
      return;
    }
    if (!input.text && input.command !== 'explain') {
      this.add('note', input.command === 'modify' ? 'Say how the code should change, e.g. /modify add type hints.' : HELP);
      return;
    }
    const run = new vscode.CancellationTokenSource();
    this.running = run; // before any await: a second message meanwhile is told to wait
    this.post({ type: 'busy', busy: true });
    try {
      const code = await this.code(input);
      if (typeof code === 'string') this.add('note', code);
      else if (input.command === 'explain') await this.explain(code!, run.token);
      else if (input.command === 'modify') await this.modify(input.text, code!, run.token);
      else await this.ask(input.text, code, run.token);
    } finally {
      run.dispose();
      if (this.running === run) {
        this.running = undefined;
        this.post({ type: 'busy', busy: false });
      }
    }
  }

  private async ask(message: string, code: Code | undefined, token: vscode.CancellationToken): Promise<void> {
    this.add('user', message, true, code?.label);
    const reply = this.add('assistant', '', false);
    const history = this.history;
    const context = code ? { uri: code.editor.document.uri.toString(), range: lspRange(code.range) } : undefined;
    const result = (await this.client.request(
      Commands.chat,
      { message, history, ...(context ? { context } : {}) },
      token,
      (piece) => this.append(reply, piece),
    )) as { text?: string; message?: string } | undefined;
    if (typeof result?.text !== 'string') {
      this.finish(reply, token.isCancellationRequested ? 'Stopped.' : 'starassist did not answer (see starassist: Show Log).', 'note');
      return;
    }
    // The server's final text (trimmed) replaces the pieces; the history keeps the turn as the model read it.
    this.finish(reply, result.text);
    if (this.history === history) {
      history.push({ role: 'user', content: result.message ?? message }, { role: 'assistant', content: result.text });
    }
  }

  private async explain(code: Code, token: vscode.CancellationToken): Promise<void> {
    this.add('user', '/explain', true, code.label);
    const reply = this.add('assistant', '', false);
    const args = { uri: code.editor.document.uri.toString(), range: lspRange(code.range) };
    const text = await this.client.request(Commands.explain, args, token, (piece) => this.append(reply, piece));
    if (typeof text === 'string') this.finish(reply, text);
    else this.finish(reply, token.isCancellationRequested ? 'Stopped.' : 'starassist did not answer (see starassist: Show Log).', 'note');
  }

  private async modify(instruction: string, code: Code, token: vscode.CancellationToken): Promise<void> {
    this.add('user', `/modify ${instruction}`, true, code.label);
    const reply = this.add('note', 'Writing the change…', false);
    const document = code.editor.document;
    const newText = await propose(this.client, document, code.range, instruction, token);
    if (newText === undefined) {
      this.finish(reply, token.isCancellationRequested ? 'Stopped.' : NO_PROPOSAL.message);
      return;
    }
    reply.text = 'Proposed change shown as a diff: Accept or Reject it.';
    if (this.entries.includes(reply)) this.post({ type: 'finish', entry: { ...reply, done: false } });
    const outcome = await previewAndApply(document, code.range, code.version, newText, code.editor.viewColumn);
    this.finish(reply, outcome.message);
  }

  /** The editor questions are about: the last one focused, if it is still open, else any visible one. */
  private codeEditor(): vscode.TextEditor | undefined {
    const visible = vscode.window.visibleTextEditors.filter((e) => e.document.uri.scheme !== 'output');
    const last = this.editor;
    if (last && visible.includes(last)) return last;
    return visible.find((e) => e.document === last?.document) ?? visible[0];
  }

  /** The code for a message, or a note saying what is missing. Questions take the selection when there is one
   * (`#selection` insists on it, `#file` takes the whole file); /explain and /modify fall back to the function
   * at the cursor. */
  private async code(input: ParsedInput): Promise<Code | undefined | string> {
    const needsCode = input.command !== 'ask';
    const editor = this.codeEditor();
    if (!editor) {
      return needsCode || input.scope !== 'auto' ? 'Open a file first (the chat works on the code beside it).' : undefined;
    }
    const document = editor.document;
    let range: vscode.Range | undefined;
    if (input.scope === 'file') {
      range = document.validateRange(new vscode.Range(0, 0, document.lineCount, 0));
    } else if (!editor.selection.isEmpty) {
      range = editor.selection;
    } else if (input.scope === 'selection') {
      return 'Nothing is selected: select some code (or write #file).';
    } else if (needsCode) {
      range = await functionAt(document, editor.selection.active);
    }
    if (!range) return undefined;
    const name = path.posix.basename(document.uri.path) || 'untitled';
    // A selection that ends at the start of a line does not include that line.
    const last = range.end.character === 0 && range.end.line > range.start.line ? range.end.line - 1 : range.end.line;
    const label = input.scope === 'file' ? `${name} (whole file)` : contextLabel(name, range.start.line, last);
    return { editor, range, version: document.version, label };
  }
}

/** The function at `position`: a language extension's symbol if one offers it, else a guess from the text. */
async function functionAt(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.Range> {
  const kinds = [vscode.SymbolKind.Function, vscode.SymbolKind.Method, vscode.SymbolKind.Constructor];
  try {
    let symbols = (await vscode.commands.executeCommand<vscode.DocumentSymbol[]>(
      'vscode.executeDocumentSymbolProvider',
      document.uri,
    )) ?? [];
    let found: vscode.DocumentSymbol | undefined;
    while (symbols.length) {
      const inner = symbols.find((s) => s.range?.contains(position));
      if (!inner) break;
      if (kinds.includes(inner.kind)) found = inner;
      symbols = inner.children ?? [];
    }
    if (found) return found.range;
  } catch {
    // No symbol provider for this language: guess below.
  }
  const lines = document.getText().split(/\r?\n/);
  const [first, last] = blockAround(lines, position.line);
  return document.validateRange(new vscode.Range(first, 0, last, lines[last]?.length ?? 0));
}

function lspRange(range: vscode.Range): object {
  return {
    start: { line: range.start.line, character: range.start.character },
    end: { line: range.end.line, character: range.end.character },
  };
}
