// A small event queue with retries, written the way browser and Node.js code usually looks.
"use strict";

const DEFAULT_RETRIES = 3;

class EventQueue {
  constructor(handler, { retries = DEFAULT_RETRIES, delayMs = 100 } = {}) {
    this.handler = handler;
    this.retries = retries;
    this.delayMs = delayMs;
    this.pending = [];
    this.failed = [];
    this.running = false;
  }

  push(event) {
    if (!event || typeof event.type !== "string") {
      throw new TypeError("an event needs a string type");
    }
    this.pending.push({ event, attempts: 0 });
    return this.pending.length;
  }

  async drain() {
    if (this.running) {
      return;
    }
    this.running = true;
    try {
      while (this.pending.length > 0) {
        const item = this.pending.shift();
        await this.deliver(item);
      }
    } finally {
      this.running = false;
    }
  }

  async deliver(item) {
    for (;;) {
      try {
        await this.handler(item.event);
        return true;
      } catch (err) {
        item.attempts += 1;
        if (item.attempts > this.retries) {
          this.failed.push({ ...item, error: String(err) });
          return false;
        }
        await sleep(this.delayMs * 2 ** (item.attempts - 1));
      }
    }
  }

  stats() {
    const byType = {};
    for (const { event } of this.failed) {
      byType[event.type] = (byType[event.type] || 0) + 1;
    }
    return { pending: this.pending.length, failed: this.failed.length, byType };
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function groupBy(items, key) {
  return items.reduce((groups, item) => {
    const k = typeof key === "function" ? key(item) : item[key];
    (groups[k] = groups[k] || []).push(item);
    return groups;
  }, {});
}

function debounce(fn, waitMs) {
  let timer = null;
  return function debounced(...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), waitMs);
  };
}

function parseQuery(search) {
  const params = {};
  for (const part of search.replace(/^\?/, "").split("&")) {
    if (!part) continue;
    const [rawKey, rawValue = ""] = part.split("=");
    params[decodeURIComponent(rawKey)] = decodeURIComponent(rawValue.replace(/\+/g, " "));
  }
  return params;
}

module.exports = { EventQueue, groupBy, debounce, parseQuery, sleep };
