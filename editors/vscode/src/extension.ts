// Activation wiring: one client, its commands, the chat participant. The client class does the work.

import * as vscode from 'vscode';
import { registerChatParticipant } from './chat';
import { StarassistClient } from './client';
import { Commands } from './constants';
import { toggleInline } from './inlineToggle';
import { registerProposals } from './proposal';

let client: StarassistClient | undefined;

/** Focus VS Code's chat view with `@starassist ` typed, ready for a question. */
async function openChat(): Promise<void> {
  try {
    await vscode.commands.executeCommand('workbench.action.chat.open', { query: '@starassist ', isPartialQuery: true });
  } catch {
    void vscode.window.showWarningMessage('[starassist] this VS Code has no chat view; use Explain/Modify Selection');
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  client = new StarassistClient();
  context.subscriptions.push(
    client,
    registerProposals(),
    vscode.commands.registerCommand(Commands.restartServer, () => client?.restart()),
    vscode.commands.registerCommand(Commands.showLog, () => client?.showLog()),
    vscode.commands.registerCommand(Commands.showStatus, () => client?.showStatus()),
    vscode.commands.registerCommand(Commands.openChat, openChat),
    vscode.commands.registerCommand(Commands.toggleInline, () => toggleInline(false)),
    vscode.commands.registerCommand(Commands.toggleInlineForLanguage, () => toggleInline(true)),
  );
  // A VS Code without the chat API still gets completions and the commands.
  if (typeof vscode.chat?.createChatParticipant === 'function') {
    context.subscriptions.push(registerChatParticipant(client));
  }
  // starassist.explain / starassist.modify are registered by the language client when the server advertises
  // them (executeCommandProvider), else by StarassistClient itself.
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
