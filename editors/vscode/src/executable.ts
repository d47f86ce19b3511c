// Finding the server executable before starting it, so a missing install gets one message that names the fix.
// Pure node (no vscode import).

import * as fs from 'node:fs';
import * as path from 'node:path';

function isExecutableFile(file: string): boolean {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) {
      return false;
    }
    if (process.platform === 'win32') {
      return true;
    }
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The full path of `command` (a path, or a name looked up on PATH), or undefined when there is none. */
export function findExecutable(command: string, envPath: string = process.env.PATH ?? ''): string | undefined {
  if (!command) {
    return undefined;
  }
  const exts = process.platform === 'win32' ? ['', ...(process.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  if (command.includes('/') || command.includes(path.sep)) {
    return exts.map((e) => command + e).find(isExecutableFile);
  }
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    for (const ext of exts) {
      const candidate = path.join(dir, command + ext);
      if (isExecutableFile(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}
