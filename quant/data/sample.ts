// Typed helpers for a small task tracker.

export type Priority = "low" | "normal" | "high";

export interface Task {
  id: number;
  title: string;
  done: boolean;
  priority: Priority;
  tags: string[];
  due?: Date;
}

const PRIORITY_ORDER: Record<Priority, number> = { high: 0, normal: 1, low: 2 };

export class TaskList {
  private tasks = new Map<number, Task>();
  private nextId = 1;

  add(title: string, priority: Priority = "normal", tags: string[] = []): Task {
    const task: Task = { id: this.nextId++, title: title.trim(), done: false, priority, tags };
    this.tasks.set(task.id, task);
    return task;
  }

  complete(id: number): boolean {
    const task = this.tasks.get(id);
    if (!task || task.done) {
      return false;
    }
    task.done = true;
    return true;
  }

  open(): Task[] {
    return [...this.tasks.values()]
      .filter((t) => !t.done)
      .sort((a, b) => PRIORITY_ORDER[a.priority] - PRIORITY_ORDER[b.priority] || a.id - b.id);
  }

  overdue(now: Date = new Date()): Task[] {
    return this.open().filter((t) => t.due !== undefined && t.due.getTime() < now.getTime());
  }

  withTag(tag: string): Task[] {
    const wanted = tag.toLowerCase();
    return [...this.tasks.values()].filter((t) => t.tags.some((x) => x.toLowerCase() === wanted));
  }

  toJSON(): string {
    return JSON.stringify([...this.tasks.values()], null, 2);
  }
}

export function summarize(tasks: Task[]): Record<Priority, number> {
  const counts: Record<Priority, number> = { high: 0, normal: 0, low: 0 };
  for (const task of tasks) {
    counts[task.priority] += 1;
  }
  return counts;
}

export function chunk<T>(items: T[], size: number): T[][] {
  if (size <= 0) {
    throw new RangeError(`chunk size must be positive, got ${size}`);
  }
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(items.slice(i, i + size));
  }
  return out;
}
