// `@starassist` in VS Code's chat view: questions go to the server's Tech Assistant prompt (`starassist.chat`),
// `/explain` to `starassist.explain`, `/modify` to `starassist.modify` as a proposal that is applied only when the
// user accepts it. Answers stream in as the server's `starassist/text` notifications.

import * as vscode from 'vscode';
import { Commands, PARTICIPANT_ID } from './constants';
import type { StarassistClient } from './client';
import { NO_PROPOSAL, previewAndApply, propose } from './proposal';

interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

interface CodeContext {
  document: vscode.TextDocument;
  range: vscode.Range;
}

/** The code the question is about: `#selection` / `#file` references first, else the active selection. */
export async function questionContext(references: readonly vscode.ChatPromptReference[]): Promise<CodeContext | undefined> {
  for (const ref of references) {
    const value = ref.value;
    // Opening the document also tells the server about it (didOpen), which it needs to read the range.
    if (value instanceof vscode.Location) {
      return { document: await vscode.workspace.openTextDocument(value.uri), range: value.range };
    } else if (value instanceof vscode.Uri) {
      const document = await vscode.workspace.openTextDocument(value);
      return { document, range: wholeDocument(document) };
    }
  }
  const editor = vscode.window.activeTextEditor;
  if (editor && !editor.selection.isEmpty) {
    return { document: editor.document, range: editor.selection };
  }
  return undefined;
}

function wholeDocument(document: vscode.TextDocument): vscode.Range {
  return new vscode.Range(0, 0, document.lineCount, 0);
}

/** The conversation so far, as the server wants it (it keeps none itself). */
export function historyTurns(context: vscode.ChatContext): Turn[] {
  const turns: Turn[] = [];
  for (const turn of context.history) {
    if (turn.participant !== PARTICIPANT_ID) continue;
    if (turn instanceof vscode.ChatRequestTurn) {
      if (!turn.command) turns.push({ role: 'user', content: turn.prompt });
    } else if (turn.result.metadata?.message !== undefined && !turn.command) {
      // The user turn as the model read it (with the attached code) replaces the bare prompt.
      const last = turns[turns.length - 1];
      if (last?.role === 'user') last.content = String(turn.result.metadata.message);
      turns.push({ role: 'assistant', content: String(turn.result.metadata.text ?? '') });
    }
  }
  return turns;
}

export function registerChatParticipant(client: StarassistClient): vscode.Disposable {
  const participant = vscode.chat.createChatParticipant(PARTICIPANT_ID, (request, context, stream, token) =>
    answer(client, request, context, stream, token),
  );
  participant.iconPath = new vscode.ThemeIcon('sparkle');
  return participant;
}

async function answer(
  client: StarassistClient,
  request: vscode.ChatRequest,
  context: vscode.ChatContext,
  stream: vscode.ChatResponseStream,
  token: vscode.CancellationToken,
): Promise<vscode.ChatResult> {
  const code = await questionContext(request.references);
  const where = code ? { uri: code.document.uri.toString(), range: lspRange(code.range) } : undefined;
  if (request.command === 'explain' || request.command === 'modify') {
    if (!code || code.document.getText(code.range).trim() === '') {
      stream.markdown('Select some code first (or add `#selection` / `#file`).');
      return {};
    }
  }
  if (request.command === 'modify') {
    const instruction = request.prompt.trim();
    if (!instruction) {
      stream.markdown('Say how the code should change, e.g. `/modify add type hints`.');
      return {};
    }
    stream.progress('starassist is writing the change…');
    const version = code!.document.version;
    const newText = await propose(client, code!.document, code!.range, instruction, token);
    const outcome = newText === undefined ? NO_PROPOSAL : await previewAndApply(code!.document, code!.range, version, newText);
    stream.markdown(outcome.message);
    return { metadata: { command: 'modify', applied: outcome.applied } };
  }
  if (request.command === 'explain') {
    let streamed = false;
    const text = await client.request(Commands.explain, { ...where }, token, (piece) => {
      streamed = true;
      stream.markdown(piece);
    });
    if (!streamed && typeof text === 'string') stream.markdown(text);
    return { metadata: { command: 'explain', text: typeof text === 'string' ? text : '' } };
  }
  let streamed = false;
  const result = (await client.request(
    Commands.chat,
    { message: request.prompt, history: historyTurns(context), ...(where ? { context: where } : {}) },
    token,
    (piece) => {
      streamed = true;
      stream.markdown(piece);
    },
  )) as { text?: string; message?: string } | undefined;
  if (!result) return { errorDetails: { message: 'starassist did not answer (see starassist: Show Log)' } };
  if (!streamed && result.text) stream.markdown(result.text);
  return { metadata: { text: result.text ?? '', message: result.message ?? request.prompt } };
}

export function lspRange(range: vscode.Range): object {
  return {
    start: { line: range.start.line, character: range.start.character },
    end: { line: range.end.line, character: range.end.character },
  };
}
