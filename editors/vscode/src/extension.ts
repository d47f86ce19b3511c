// Activation wiring: one client, four commands. The client class does the work.

import * as vscode from 'vscode';
import { StarassistClient } from './client';
import { Commands } from './constants';
import { toggleInline } from './inlineToggle';

let client: StarassistClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  client = new StarassistClient();
  context.subscriptions.push(
    client,
    vscode.commands.registerCommand(Commands.restartServer, () => client?.restart()),
    vscode.commands.registerCommand(Commands.showLog, () => client?.showLog()),
    vscode.commands.registerCommand(Commands.toggleInline, () => toggleInline(false)),
    vscode.commands.registerCommand(Commands.toggleInlineForLanguage, () => toggleInline(true)),
  );
  // starassist.explain / starassist.modify are registered by the language client when the server advertises
  // them (executeCommandProvider), else by StarassistClient itself.
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
