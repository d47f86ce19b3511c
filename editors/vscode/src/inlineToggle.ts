// Inline suggestions on/off, everywhere or per language: one language-overridable setting read per request.

import * as vscode from 'vscode';
import { CONFIG_SECTION } from './constants';

const KEY = 'inlineSuggestions.enabled';

export function inlineEnabled(doc: vscode.TextDocument): boolean {
  return vscode.workspace.getConfiguration(CONFIG_SECTION, doc).get<boolean>(KEY, true);
}

/** Flip the setting globally, or for the active editor's language only (`[python]` section). */
export async function toggleInline(perLanguage: boolean): Promise<void> {
  const doc = vscode.window.activeTextEditor?.document;
  if (perLanguage && !doc) {
    void vscode.window.showWarningMessage('[starassist] open a file to toggle suggestions for its language');
    return;
  }
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION, perLanguage ? doc : undefined);
  const now = doc ? inlineEnabled(doc) : config.get<boolean>(KEY, true);
  await config.update(KEY, !now, vscode.ConfigurationTarget.Global, perLanguage);
  const where = perLanguage && doc ? ` for ${doc.languageId}` : '';
  void vscode.window.setStatusBarMessage(`starassist: inline suggestions ${now ? 'off' : 'on'}${where}`, 3000);
}
