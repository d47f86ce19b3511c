// The local model as a VS Code language model (vendor `starassist`), for VS Code 1.104+ where
// `vscode.lm.registerLanguageModelChatProvider` is stable: other extensions (and the chat view's model picker,
// where it offers third-party models) can then use it. The extension targets VS Code 1.91, whose typings lack
// the API, so the few shapes used are declared here and the API is looked up at run time.
//
// Requests go to the server's `starassist.chat` (the last user message, the earlier ones as history); the answer
// streams back as `starassist/text` pieces.

import * as vscode from 'vscode';
import { CONFIG_SECTION, Commands } from './constants';
import type { StarassistClient } from './client';
import { chatArguments, messageText, RequestMessage } from './lmMessages';

export const LM_VENDOR = 'starassist';

interface ModelInfo {
  id: string;
  name: string;
  family: string;
  version: string;
  detail?: string;
  maxInputTokens: number;
  maxOutputTokens: number;
  capabilities: Record<string, never>;
}

interface Provider {
  provideLanguageModelChatInformation(options: unknown, token: vscode.CancellationToken): ModelInfo[];
  provideLanguageModelChatResponse(
    model: ModelInfo,
    messages: readonly RequestMessage[],
    options: unknown,
    progress: vscode.Progress<unknown>,
    token: vscode.CancellationToken,
  ): Promise<void>;
  provideTokenCount(model: ModelInfo, text: string | RequestMessage, token: vscode.CancellationToken): Promise<number>;
}

type Register = (vendor: string, provider: Provider) => vscode.Disposable;

/** Register the provider where this VS Code has the API; undefined elsewhere. */
export function registerLanguageModel(client: StarassistClient): vscode.Disposable | undefined {
  const lm = (vscode as unknown as { lm?: { registerLanguageModelChatProvider?: Register } }).lm;
  const TextPart = (vscode as unknown as { LanguageModelTextPart?: new (value: string) => unknown }).LanguageModelTextPart;
  if (typeof lm?.registerLanguageModelChatProvider !== 'function' || !TextPart) return undefined;
  return lm.registerLanguageModelChatProvider(LM_VENDOR, {
    provideLanguageModelChatInformation() {
      const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
      return [
        {
          id: 'starassist-local',
          name: 'starassist (local)',
          family: 'starassist',
          version: '1',
          detail: String(config.get('model.path') ?? 'embedded'),
          maxInputTokens: Number(config.get('model.context_length') ?? 4096),
          maxOutputTokens: Number(config.get('chat.max_tokens') ?? 512),
          capabilities: {},
        },
      ];
    },
    async provideLanguageModelChatResponse(_model, messages, _options, progress, token) {
      const args = chatArguments(messages);
      if (!args.message.trim()) throw new Error('starassist: the request has no user message');
      let streamed = false;
      const result = (await client.request(Commands.chat, args, token, (piece) => {
        streamed = true;
        progress.report(new TextPart(piece));
      })) as { text?: string } | undefined;
      if (typeof result?.text !== 'string') {
        if (token.isCancellationRequested) return;
        throw new Error('starassist did not answer (see starassist: Show Log)');
      }
      if (!streamed) progress.report(new TextPart(result.text));
    },
    // The server has no tokenize request; ~4 characters a token is what VS Code itself assumes for budgets.
    async provideTokenCount(_model, text) {
      return Math.ceil(messageText(text).length / 4);
    },
  });
}
