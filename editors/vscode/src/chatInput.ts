// What a message typed in the chat panel asks for, and which code goes with it: pure functions (no `vscode`),
// unit-tested in tests/node/chat_input.test.mjs.

export type ChatCommand = 'ask' | 'explain' | 'modify' | 'reset' | 'help';

/** Which code the message is about: `#file`, `#selection`, or (`auto`) the selection when there is one. */
export type Scope = 'file' | 'selection' | 'auto';

export interface ParsedInput {
  command: ChatCommand;
  /** The message (or /modify's instruction) without the slash command and the `#` references. */
  text: string;
  scope: Scope;
}

const COMMANDS: Record<string, ChatCommand> = { explain: 'explain', modify: 'modify', reset: 'reset', help: 'help' };

export const HELP = [
  'Ask about your code; the selection goes with the question (or write #selection / #file).',
  '/explain: explain the selection, or the function at the cursor',
  '/modify <instruction>: propose a change to the selection (or function); applied only when you accept it',
  '/reset: forget the conversation',
].join('\n');

/** `/cmd rest #file ...` -> its parts. An unknown `/word` is a question like any other. */
export function parseInput(input: string): ParsedInput {
  let text = input.trim();
  let command: ChatCommand = 'ask';
  const slash = /^\/(\w+)\b\s*/.exec(text);
  if (slash && COMMANDS[slash[1]]) {
    command = COMMANDS[slash[1]];
    text = text.slice(slash[0].length);
  }
  let scope: Scope = 'auto';
  // A reference is a word of its own: `#file` in `a #file b`, not in `x#files`.
  const refs = /(^|\s)#(file|selection)(?=\s|[.,;:!?]|$)/g;
  for (const match of text.matchAll(refs)) {
    // `#file` is the larger context: it wins when both are written.
    if (match[2] === 'file' || scope === 'auto') scope = match[2] as Scope;
  }
  text = text.replace(refs, '$1').replace(/[ \t]{2,}/g, ' ').trim();
  return { command, text, scope };
}

const FUNCTION_WORDS = /(^|[^\w])(def|function|fn|func|fun|sub|proc|method|class)(?=[^\w]|$)/;

function indentOf(line: string): number {
  return /^\s*/.exec(line)![0].length;
}

function isBlank(line: string | undefined): boolean {
  return line === undefined || line.trim() === '';
}

/** Lines [first, last] (0-based) of the function or class around `row`, guessed from keywords and indentation;
 * the paragraph around `row` when no header encloses it. Used when no language extension offers symbols. */
export function blockAround(lines: readonly string[], row: number): [number, number] {
  let r = Math.min(Math.max(row, 0), lines.length - 1);
  while (r > 0 && isBlank(lines[r])) r--;
  let header: number | undefined;
  if (FUNCTION_WORDS.test(lines[r] ?? '')) {
    header = r;
  } else {
    let limit = indentOf(lines[r] ?? '');
    for (let i = r - 1; i >= 0 && limit > 0; i--) {
      if (isBlank(lines[i])) continue;
      const indent = indentOf(lines[i]);
      if (indent < limit && FUNCTION_WORDS.test(lines[i])) {
        header = i;
        break;
      }
      limit = Math.min(limit, indent);
    }
  }
  if (header === undefined) {
    let first = r;
    let last = r;
    while (first > 0 && !isBlank(lines[first - 1])) first--;
    while (last < lines.length - 1 && !isBlank(lines[last + 1])) last++;
    return [first, last];
  }
  const base = indentOf(lines[header]);
  let first = header;
  while (first > 0 && /^\s*@/.test(lines[first - 1]) && indentOf(lines[first - 1]) === base) first--; // decorators
  let i = header + 1;
  while (i < lines.length && (isBlank(lines[i]) || indentOf(lines[i]) > base)) i++;
  let last = i - 1;
  if (i < lines.length && indentOf(lines[i]) === base && /^\s*([\]})]|end\b)/.test(lines[i])) last = i; // closer
  while (last > header && isBlank(lines[last])) last--;
  return [first, last];
}

/** The label the user sees for attached code: `area.py lines 4-6` (1-based, inclusive). */
export function contextLabel(path: string, firstLine: number, lastLine: number): string {
  return firstLine === lastLine ? `${path} line ${firstLine + 1}` : `${path} lines ${firstLine + 1}-${lastLine + 1}`;
}
