// Formatting of the server's `starassist/timings` notification for the status bar. Pure (no vscode import)
// so node tests can load the compiled module directly.

export interface TimingsParams {
  uri?: string;
  model?: string;
  cached?: boolean;
  prompt_tokens?: number;
  reused_tokens?: number;
  prompt_ms?: number;
  generated_tokens?: number;
  generation_ms?: number;
  total_ms?: number;
  [key: string]: unknown;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The timings object itself: servers may send it flat or nested under `timings`. */
export function unwrapTimings(params: unknown): TimingsParams {
  if (!params || typeof params !== 'object') {
    return {};
  }
  const outer = params as Record<string, unknown>;
  const inner = outer.timings;
  if (inner && typeof inner === 'object') {
    return { ...outer, ...(inner as Record<string, unknown>) } as TimingsParams;
  }
  return outer as TimingsParams;
}

/** Total wall time of the request: `total_ms` when given, else prompt + generation. */
export function totalMs(t: TimingsParams): number | undefined {
  const total = num(t.total_ms);
  if (total !== undefined) {
    return total;
  }
  const prompt = num(t.prompt_ms);
  const gen = num(t.generation_ms);
  if (prompt === undefined && gen === undefined) {
    return undefined;
  }
  return (prompt ?? 0) + (gen ?? 0);
}

/** Short status bar text, e.g. "starassist 212 ms". */
export function statusText(t: TimingsParams): string {
  if (t.cached === true) {
    return 'starassist cached';
  }
  const total = totalMs(t);
  return total === undefined ? 'starassist' : `starassist ${Math.round(total)} ms`;
}

/** Multi-line tooltip with everything the server reported. */
export function tooltipText(t: TimingsParams): string {
  const lines: string[] = ['starassist: last completion'];
  if (typeof t.model === 'string') {
    lines.push(`model: ${t.model}`);
  }
  if (t.cached === true) {
    lines.push('served from cache (no model call)');
  }
  const promptTokens = num(t.prompt_tokens);
  const reused = num(t.reused_tokens);
  const promptMs = num(t.prompt_ms);
  if (promptTokens !== undefined) {
    const reuse = reused !== undefined ? ` (${reused} reused from the KV cache)` : '';
    const ms = promptMs !== undefined ? ` in ${Math.round(promptMs)} ms` : '';
    lines.push(`prompt: ${promptTokens} tokens${reuse}${ms}`);
  }
  const generated = num(t.generated_tokens);
  const genMs = num(t.generation_ms);
  if (generated !== undefined) {
    const ms = genMs !== undefined ? ` in ${Math.round(genMs)} ms` : '';
    const rate = genMs && genMs > 0 ? ` (${((generated * 1000) / genMs).toFixed(0)} tok/s)` : '';
    lines.push(`generated: ${generated} tokens${ms}${rate}`);
  }
  const total = totalMs(t);
  if (total !== undefined) {
    lines.push(`total: ${Math.round(total)} ms`);
  }
  return lines.join('\n');
}

/** One line for "starassist: Show Status": model, counters, the completion limit and the last completion. */
export function statusSummary(status: Record<string, unknown>, last?: TimingsParams): string {
  const parts: string[] = [];
  if (typeof status.error === 'string' && status.error) {
    parts.push(`error: ${status.error}`);
  } else {
    parts.push(status.ready === true ? `model ${String(status.model ?? '?')}` : 'loading the model');
  }
  parts.push(`${num(status.requests) ?? 0} requests, ${num(status.model_calls) ?? 0} model calls, ${num(status.cache_hits) ?? 0} cache hits`);
  const completion = (status.settings as { completion?: { max_tokens?: unknown } } | undefined)?.completion;
  const maxTokens = num(completion?.max_tokens);
  if (maxTokens !== undefined) {
    parts.push(`max_tokens ${maxTokens}`);
  }
  if (last) {
    const generated = num(last.generated_tokens);
    const total = totalMs(last);
    if (last.cached === true) {
      parts.push('last completion: cached');
    } else if (generated !== undefined || total !== undefined) {
      parts.push(`last completion: ${generated ?? '?'} tokens in ${total === undefined ? '?' : Math.round(total)} ms`);
    }
  }
  return `starassist: ${parts.join(' · ')}`;
}
