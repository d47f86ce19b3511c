// Every name shared with the server or with package.json, in one place.

export const EXTENSION_ID = 'starassist.starassist';
export const CONFIG_SECTION = 'starassist';
export const CLIENT_ID = 'starassist';
export const CLIENT_NAME = 'starassist';

// Settings sections forwarded to the server (the same tree as the server's settings / TOML config).
export const SERVER_SECTIONS = ['model', 'completion', 'chat'] as const;
// Settings read by the extension only; a change to one of these restarts the server.
export const CLIENT_SETTINGS = ['serverPath', 'serverArgs'] as const;

export const Commands = {
  explain: 'starassist.explain',
  modify: 'starassist.modify',
  restartServer: 'starassist.restartServer',
  showLog: 'starassist.showLog',
  toggleInline: 'starassist.toggleInline',
  toggleInlineForLanguage: 'starassist.toggleInlineForLanguage',
  openChat: 'starassist.openChat',
  showStatus: 'starassist.showStatus',
  chat: 'starassist.chat',
} as const;

// The chat participant (package.json `chatParticipants`) and its slash commands.
export const PARTICIPANT_ID = 'starassist.assistant';
export const PROPOSAL_SCHEME = 'starassist-proposal';

export const Methods = {
  inlineCompletion: 'textDocument/inlineCompletion',
  executeCommand: 'workspace/executeCommand',
  didChangeConfiguration: 'workspace/didChangeConfiguration',
  timings: 'starassist/timings',
  status: 'starassist/status',
  text: 'starassist/text', // streamed pieces of an explain/chat answer: {token, text}
} as const;
