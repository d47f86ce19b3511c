// Modify with a preview: the server only proposes the new text (`apply: false`), VS Code shows it as a diff,
// and the change is applied — as one undoable edit — only when the user accepts it.

import * as vscode from 'vscode';
import * as path from 'node:path';
import { Commands, PROPOSAL_SCHEME } from './constants';
import type { StarassistClient } from './client';

/** Proposed documents shown on the right of the diff, by URI. */
class ProposalDocuments implements vscode.TextDocumentContentProvider {
  private readonly texts = new Map<string, string>();
  private next = 1;

  add(original: vscode.Uri, text: string): vscode.Uri {
    const name = path.posix.basename(original.path) || 'untitled';
    const uri = vscode.Uri.parse(`${PROPOSAL_SCHEME}:/${this.next++}/${encodeURIComponent(name)}`);
    this.texts.set(uri.toString(), text);
    return uri;
  }

  remove(uri: vscode.Uri): void {
    this.texts.delete(uri.toString());
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }
}

const proposals = new ProposalDocuments();

export function registerProposals(): vscode.Disposable {
  return vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, proposals);
}

/** The whole document with `range` replaced: what the right side of the diff shows. */
export function replaced(text: string, start: number, end: number, newText: string): string {
  return text.slice(0, start) + newText + text.slice(end);
}

export interface Outcome {
  applied: boolean;
  message: string;
}

/** The server's proposal for `range` (nothing is applied), or undefined when it has none. */
export async function propose(
  client: StarassistClient,
  document: vscode.TextDocument,
  range: vscode.Range,
  instruction: string,
  token?: vscode.CancellationToken,
): Promise<string | undefined> {
  const args = {
    uri: document.uri.toString(),
    range: {
      start: { line: range.start.line, character: range.start.character },
      end: { line: range.end.line, character: range.end.character },
    },
    instruction,
    apply: false,
  };
  const result = (await client.request(Commands.modify, args, token)) as { newText?: string } | undefined;
  return typeof result?.newText === 'string' ? result.newText : undefined;
}

export const NO_PROPOSAL: Outcome = { applied: false, message: 'starassist proposed no change (see starassist: Show Log).' };

/** Show the proposal as a diff (in `column`, default the active one) and apply it — one undoable edit — only if
 * the user accepts. */
export async function previewAndApply(
  document: vscode.TextDocument,
  range: vscode.Range,
  version: number,
  newText: string,
  column?: vscode.ViewColumn,
): Promise<Outcome> {
  const proposed = replaced(document.getText(), document.offsetAt(range.start), document.offsetAt(range.end), newText);
  const right = proposals.add(document.uri, proposed);
  const title = `starassist: proposed change ↔ ${path.posix.basename(document.uri.path)}`;
  await vscode.commands.executeCommand('vscode.diff', document.uri, right, title, { preview: true, viewColumn: column });
  const choice = await vscode.window.showInformationMessage('starassist: apply the proposed change?', 'Accept', 'Reject');
  void closeDiff(right).finally(() => proposals.remove(right));
  if (choice !== 'Accept') {
    return { applied: false, message: 'Change rejected; the file is as it was.' };
  }
  if (document.version !== version) {
    void vscode.window.showWarningMessage('[starassist] the file changed while the change was prepared; not applied');
    return { applied: false, message: 'The file changed meanwhile; the change was not applied.' };
  }
  const edit = new vscode.WorkspaceEdit();
  edit.replace(document.uri, range, newText);
  // One WorkspaceEdit is one undo step.
  const applied = await vscode.workspace.applyEdit(edit, { isRefactoring: false });
  if (applied) {
    await vscode.window.showTextDocument(document, { viewColumn: column });
  }
  return applied
    ? { applied: true, message: 'Change applied (one undo step reverts it).' }
    : { applied: false, message: 'VS Code refused the edit; nothing changed.' };
}

async function closeDiff(right: vscode.Uri): Promise<void> {
  for (const group of vscode.window.tabGroups.all) {
    for (const tab of group.tabs) {
      if (tab.input instanceof vscode.TabInputTextDiff && tab.input.modified.toString() === right.toString()) {
        await vscode.window.tabGroups.close(tab);
      }
    }
  }
}
