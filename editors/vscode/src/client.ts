// The language client: runs `starassist lsp`, keeps its settings in sync, shows timings, runs commands.

import * as vscode from 'vscode';
import { inlineEnabled } from './inlineToggle';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  InlineCompletionRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
} from 'vscode-languageclient/node';
import { findExecutable } from './executable';
import { CLIENT_ID, CLIENT_NAME, CLIENT_SETTINGS, CONFIG_SECTION, Commands, Methods, SERVER_SECTIONS } from './constants';
import { statusText, statusSummary, TimingsParams, tooltipText, unwrapTimings } from './timings';
import { NO_PROPOSAL, previewAndApply, propose } from './proposal';
import { remainder, Shown } from './typeThrough';

type ServerSettings = Record<string, unknown>;

/** The server's part of the configuration: `{model: {...}, completion: {...}, chat: {...}}`. */
export function serverSettings(): ServerSettings {
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
  const settings: ServerSettings = {};
  for (const section of SERVER_SECTIONS) {
    const value = config.get<Record<string, unknown>>(section);
    if (value && typeof value === 'object') {
      settings[section] = { ...value };
    }
  }
  return settings;
}

/** Arguments of the explain/modify commands: the document and the selected range (LSP positions). */
function selectedRange(editor: vscode.TextEditor): vscode.Range {
  const sel = editor.selection;
  return sel.isEmpty ? editor.document.lineAt(sel.active.line).range : new vscode.Range(sel.start, sel.end);
}

function selectionArgument(editor: vscode.TextEditor): { uri: string; range: object } {
  const range = selectedRange(editor);
  return {
    uri: editor.document.uri.toString(),
    range: {
      start: { line: range.start.line, character: range.start.character },
      end: { line: range.end.line, character: range.end.character },
    },
  };
}

function resultText(result: unknown): string | undefined {
  if (typeof result === 'string') {
    return result;
  }
  if (result && typeof result === 'object' && typeof (result as { text?: unknown }).text === 'string') {
    return (result as { text: string }).text;
  }
  return undefined;
}

async function askInstruction(): Promise<string | undefined> {
  const instruction = await vscode.window.showInputBox({ prompt: 'starassist: how should the selection change?' });
  return instruction?.trim() || undefined;
}

export class StarassistClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly log: vscode.LogOutputChannel;
  private readonly status: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];
  // Handlers and fallback registrations of one server run (they depend on its capabilities); disposed on stop.
  private perRun: vscode.Disposable[] = [];
  // Streamed answers: request token -> where its `starassist/text` pieces go.
  private readonly streams = new Map<string, (text: string) => void>();
  private nextToken = 1;
  private lastTimings: TimingsParams | undefined;
  // The suggestion last shown, kept while the user types through it.
  private shown: (Shown & { command?: vscode.Command }) | undefined;

  constructor() {
    this.log = vscode.window.createOutputChannel(CLIENT_NAME, { log: true });
    this.status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
    this.status.command = Commands.showLog;
    this.status.text = 'starassist';
    this.status.tooltip = 'starassist: starting';
    this.status.show();
    this.disposables.push(
      this.log,
      this.status,
      vscode.workspace.onDidChangeConfiguration((e) => this.onConfigurationChanged(e)),
    );
  }

  async start(): Promise<void> {
    const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
    const command = config.get<string>('serverPath') || 'starassist';
    const args = [...(config.get<string[]>('serverArgs') ?? []), 'lsp'];
    if (!findExecutable(command)) {
      this.startFailed(`\`${command}\` not found — install starassist (pip install starassist) or set starassist.serverPath`);
      return;
    }
    // No `transport`: the client talks over the child's stdin/stdout and adds no `--stdio` argument.
    const serverOptions: ServerOptions = { command, args };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      initializationOptions: serverSettings(),
      outputChannel: this.log,
      middleware: {
        // The server's commands become VS Code commands; from the palette they arrive without arguments.
        executeCommand: (cmd, cmdArgs, next) => this.executeCommand(cmd, cmdArgs, next),
        provideInlineCompletionItems: async (doc, pos, ctx, token, next) => {
          if (!inlineEnabled(doc)) return null;
          const kept = this.typedThrough(doc, pos, ctx);
          return kept ?? this.remember(doc, pos, await next(doc, pos, ctx, token));
        },
      },
    };
    const client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
    this.client = client;
    this.perRun.push(
      client.onNotification(Methods.timings, (params: unknown) => this.showTimings(params)),
      client.onNotification(Methods.text, (params: { token?: unknown; text?: unknown }) => {
        if (typeof params?.text === 'string') this.streams.get(String(params.token))?.(params.text);
      }),
      client.onDidChangeState((e) => this.showState(e.newState)),
    );
    try {
      await client.start();
    } catch (err) {
      // vscode-languageclient has shown its own error; this one names the setting to fix.
      this.startFailed(`could not start \`${command} ${args.join(' ')}\` (${String(err)}) — check starassist.serverPath`);
      return;
    }
    this.registerFallbacks(client);
  }

  private startFailed(reason: string): void {
    this.status.text = '$(error) starassist';
    this.status.tooltip = `starassist: ${reason}`;
    this.log.error(reason);
    void vscode.window.showErrorMessage(`[starassist] ${reason}`);
    this.registerFallbacks(undefined);
  }

  async stop(): Promise<void> {
    for (const d of this.perRun.splice(0)) {
      d.dispose();
    }
    const client = this.client;
    this.client = undefined;
    if (client && client.state !== State.Stopped) {
      try {
        await client.stop(10000);
      } catch (err) {
        // A server that failed to start or already died has nothing to shut down.
        this.log.warn(`[starassist] stopping the server: ${String(err)}`);
      }
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  showLog(): void {
    this.log.show(true);
  }

  /** Explain the selection: the server answers with text, shown in a Markdown document beside the code. */
  async explain(): Promise<unknown> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('[starassist] open a file and select code to explain');
      return undefined;
    }
    const result = await this.sendCommand(Commands.explain, selectionArgument(editor));
    await this.showExplanation(result);
    return result;
  }

  /** Modify the selection following an instruction: the server proposes, a diff shows it, the user decides. */
  async modify(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('[starassist] open a file and select code to modify');
      return;
    }
    const instruction = await askInstruction();
    if (!instruction) {
      return;
    }
    const range = selectedRange(editor);
    const version = editor.document.version;
    const newText = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'starassist: modify', cancellable: true },
      (_progress, token) => propose(this, editor.document, range, instruction, token),
    );
    const outcome = newText === undefined ? NO_PROPOSAL : await previewAndApply(editor.document, range, version, newText);
    if (!outcome.applied) {
      vscode.window.setStatusBarMessage(`starassist: ${outcome.message}`, 5000);
    }
  }

  /** The server's counters and effective settings: a one-line summary, the whole status in the log. */
  async showStatus(): Promise<void> {
    const status = await this.request(Methods.status, undefined);
    if (status === undefined) {
      return;
    }
    this.log.info(`status: ${JSON.stringify(status)}`);
    void vscode.window.showInformationMessage(statusSummary(status as Record<string, unknown>, this.lastTimings));
  }

  /** A server command (or, for `starassist/...` methods, a request), with its answer streamed to `onText`. */
  async request(
    method: string,
    arg: unknown,
    token?: vscode.CancellationToken,
    onText?: (text: string) => void,
  ): Promise<unknown> {
    const client = this.client;
    if (!client || client.state !== State.Running) {
      void vscode.window.showWarningMessage('[starassist] the server is not running — run "starassist: Restart Server"');
      return undefined;
    }
    const streamToken = onText ? `vscode-${this.nextToken++}` : undefined;
    if (streamToken && onText) this.streams.set(streamToken, onText);
    const withToken = streamToken && arg && typeof arg === 'object' ? { ...arg, token: streamToken } : arg;
    try {
      if (method.includes('/')) {
        return await client.sendRequest(method, withToken, token);
      }
      return await client.sendRequest(ExecuteCommandRequest.type, { command: method, arguments: [withToken] }, token);
    } catch (err) {
      if (!token?.isCancellationRequested) {
        const message = String((err as { message?: unknown })?.message ?? err);
        this.log.error(`${method} failed: ${message}`);
        void vscode.window.showErrorMessage(`[starassist] ${method.split(/[./]/).pop()} failed: ${message}`);
      }
      return undefined;
    } finally {
      if (streamToken) this.streams.delete(streamToken);
    }
  }

  dispose(): void {
    void this.stop();
    for (const d of this.disposables) {
      d.dispose();
    }
  }

  private async sendCommand(command: string, arg: unknown): Promise<unknown> {
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `starassist: ${command.split('.').pop()}`, cancellable: true },
      (_progress, token) => this.request(command, arg, token),
    );
  }

  private async executeCommand(
    command: string,
    args: unknown[],
    next: (command: string, args: unknown[]) => vscode.ProviderResult<unknown>,
  ): Promise<unknown> {
    const editor = vscode.window.activeTextEditor;
    const needsSelection = command === Commands.explain || command === Commands.modify;
    if (!needsSelection || args.length > 0 || !editor) {
      return next(command, args);
    }
    if (command === Commands.modify) {
      return this.modify();
    }
    return this.explain();
  }

  private async showExplanation(result: unknown): Promise<void> {
    const text = resultText(result);
    if (text === undefined) {
      return;
    }
    const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: text });
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
  }

  /** Commands the server does not advertise, and inline completion if this client library lacks it. */
  private registerFallbacks(client: LanguageClient | undefined): void {
    const caps = client?.initializeResult?.capabilities;
    const advertised = new Set(caps?.executeCommandProvider?.commands ?? []);
    if (!advertised.has(Commands.explain)) {
      this.perRun.push(vscode.commands.registerCommand(Commands.explain, () => this.explain()));
    }
    if (!advertised.has(Commands.modify)) {
      this.perRun.push(vscode.commands.registerCommand(Commands.modify, () => this.modify()));
    }
    // vscode-languageclient >= 9 (proposed) / 10 (LSP 3.18) registers inline completion itself.
    if (!client) {
      return;
    }
    const native = (client as unknown as { getFeature(m: string): unknown }).getFeature(InlineCompletionRequest.method);
    if (!native && caps?.inlineCompletionProvider) {
      this.perRun.push(
        vscode.languages.registerInlineCompletionItemProvider([{ scheme: 'file' }, { scheme: 'untitled' }], {
          provideInlineCompletionItems: (doc, pos, ctx, token) => this.provideInline(doc, pos, ctx, token),
        }),
      );
    }
  }

  /** The rest of the suggestion being typed through, answered here without a request to the server. */
  private typedThrough(
    doc: vscode.TextDocument,
    pos: vscode.Position,
    ctx: vscode.InlineCompletionContext,
  ): vscode.InlineCompletionItem[] | undefined {
    const shown = this.shown;
    if (!shown || ctx.triggerKind !== vscode.InlineCompletionTriggerKind.Automatic || ctx.selectedCompletionInfo) {
      return undefined;
    }
    const rest = remainder(shown, doc.uri.toString(), pos.line, pos.character, doc.lineAt(pos.line).text);
    if (rest === undefined) {
      this.shown = undefined;
      return undefined;
    }
    return [new vscode.InlineCompletionItem(rest, new vscode.Range(pos, pos), shown.command)];
  }

  /** Keep the first suggestion of an answer when it inserts plain text at the cursor. */
  private remember(
    doc: vscode.TextDocument,
    pos: vscode.Position,
    result: vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined,
  ): vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined {
    const first = Array.isArray(result) ? result[0] : result?.items[0];
    const range = first?.range;
    const atCursor = !range || (range.isEmpty && range.start.isEqual(pos));
    this.shown =
      first && typeof first.insertText === 'string' && first.insertText && atCursor
        ? { uri: doc.uri.toString(), line: pos.line, character: pos.character, text: first.insertText, command: first.command }
        : undefined;
    return result;
  }

  private async provideInline(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[]> {
    if (!inlineEnabled(document)) return [];
    const kept = this.typedThrough(document, position, context);
    if (kept) return kept;
    const client = this.client;
    if (!client) {
      return [];
    }
    const selected = context.selectedCompletionInfo;
    const params = {
      textDocument: { uri: document.uri.toString() },
      position: { line: position.line, character: position.character },
      context: {
        // VS Code counts Invoke=0, Automatic=1; LSP counts Invoked=1, Automatic=2.
        triggerKind: context.triggerKind + 1,
        selectedCompletionInfo: selected
          ? { range: client.code2ProtocolConverter.asRange(selected.range), text: selected.text }
          : undefined,
      },
    };
    const result = await client.sendRequest(InlineCompletionRequest.type, params as never, token);
    const items = Array.isArray(result) ? result : (result?.items ?? []);
    const converted = items.map((item) => {
      const text = typeof item.insertText === 'string' ? item.insertText : new vscode.SnippetString(item.insertText.value);
      const range = item.range ? client.protocol2CodeConverter.asRange(item.range) : undefined;
      const command = item.command ? client.protocol2CodeConverter.asCommand(item.command) : undefined;
      return new vscode.InlineCompletionItem(text, range, command);
    });
    this.remember(document, position, converted);
    return converted;
  }

  private onConfigurationChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration(CONFIG_SECTION)) {
      return;
    }
    if (CLIENT_SETTINGS.some((key) => e.affectsConfiguration(`${CONFIG_SECTION}.${key}`))) {
      void this.restart();
      return;
    }
    if (this.client && this.client.state === State.Running) {
      void this.client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { [CONFIG_SECTION]: serverSettings() },
      });
    }
  }

  private showTimings(params: unknown): void {
    const timings = unwrapTimings(params);
    this.lastTimings = timings;
    this.status.text = `$(sparkle) ${statusText(timings)}`;
    this.status.tooltip = tooltipText(timings);
  }

  private showState(state: State): void {
    if (state === State.Running) {
      this.status.text = '$(sparkle) starassist';
      this.status.tooltip = 'starassist: ready';
    } else if (state === State.Starting) {
      this.status.text = '$(sync~spin) starassist';
      this.status.tooltip = 'starassist: starting';
    } else {
      this.status.text = '$(circle-slash) starassist';
      this.status.tooltip = 'starassist: stopped';
    }
  }
}
