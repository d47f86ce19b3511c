// Language-model requests (src/languageModel.ts) as `starassist.chat` arguments: pure, no `vscode`, unit-tested
// in tests/node/chat_input.test.mjs.

/** A message of a language-model request (the shape VS Code passes). */
export interface RequestMessage {
  role: number; // 1 user, 2 assistant
  content: readonly unknown[];
}

/** The text of a message's parts (text parts only; this model takes no images or tool results). */
export function messageText(message: string | RequestMessage): string {
  if (typeof message === 'string') return message;
  return message.content
    .map((part) => (typeof (part as { value?: unknown })?.value === 'string' ? (part as { value: string }).value : ''))
    .join('');
}

/** `starassist.chat` arguments for a conversation: the last user message asks, the messages before it are the
 * history. */
export function chatArguments(messages: readonly RequestMessage[]): {
  message: string;
  history: { role: 'user' | 'assistant'; content: string }[];
} {
  const turns = messages.map((m) => ({ role: m.role === 2 ? ('assistant' as const) : ('user' as const), content: messageText(m) }));
  let last = turns.length - 1;
  while (last >= 0 && turns[last].role !== 'user') last--;
  return { message: last >= 0 ? turns[last].content : '', history: turns.slice(0, Math.max(last, 0)) };
}
