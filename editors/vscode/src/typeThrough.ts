// Typing through a shown suggestion: while the characters typed since it was shown are its beginning, the rest
// of it is still the answer, so the client answers VS Code's next request itself instead of asking the server.
// Pure (no vscode import) so node tests can load the compiled module directly.

export interface Shown {
  uri: string;
  line: number;
  character: number; // where the suggestion was inserted
  text: string; // what it inserts there
}

/** The part of `shown` still to come when the cursor is at (`line`, `character`) and `lineText` is that line;
 * undefined when what was typed since departs from the suggestion (or finished it, or left its first line). */
export function remainder(shown: Shown, uri: string, line: number, character: number, lineText: string): string | undefined {
  if (uri !== shown.uri || line !== shown.line || character <= shown.character) {
    return undefined;
  }
  const typed = lineText.slice(shown.character, character);
  if (typed.length !== character - shown.character || !shown.text.startsWith(typed) || typed.includes('\n')) {
    return undefined;
  }
  const rest = shown.text.slice(typed.length);
  return rest.trim() ? rest : undefined;
}
