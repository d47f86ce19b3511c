// Activation wiring: one client, its commands, the chat panel and participant. The client class does the work.

import * as vscode from 'vscode';
import { registerChatParticipant } from './chat';
import { ChatPanel } from './chatPanel';
import { StarassistClient } from './client';
import { Commands } from './constants';
import { registerLanguageModel } from './languageModel';
import { toggleInline } from './inlineToggle';
import { registerProposals } from './proposal';

let client: StarassistClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  client = new StarassistClient();
  context.subscriptions.push(
    client,
    registerProposals(),
    vscode.commands.registerCommand(Commands.restartServer, () => client?.restart()),
    vscode.commands.registerCommand(Commands.showLog, () => client?.showLog()),
    vscode.commands.registerCommand(Commands.showStatus, () => client?.showStatus()),
    // Our webview panel: it works without signing in to a vendor's chat (README, "Chat").
    vscode.commands.registerCommand(Commands.openChat, () => client && ChatPanel.show(client, context.extensionUri)),
    vscode.commands.registerCommand(Commands.toggleInline, () => toggleInline(false)),
    vscode.commands.registerCommand(Commands.toggleInlineForLanguage, () => toggleInline(true)),
  );
  // `@starassist` in VS Code's own chat view, where that view works (it needs a signed-in model in code-server).
  if (typeof vscode.chat?.createChatParticipant === 'function') {
    context.subscriptions.push(registerChatParticipant(client));
  }
  // The local model as a VS Code language model, where the API exists (stable since VS Code 1.104).
  const model = registerLanguageModel(client);
  if (model) context.subscriptions.push(model);
  // starassist.explain / starassist.modify are registered by the language client when the server advertises
  // them (executeCommandProvider), else by StarassistClient itself.
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
