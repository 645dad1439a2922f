import { v4 as uuid } from 'uuid';
import dayjs from 'dayjs';

export interface Todo {
  id: string;
  title: string;
  done: boolean;
  createdAt: string;
}

/** An in-memory store: enough for a service the bench builds, not runs. */
export class TodoStore {
  private readonly items = new Map<string, Todo>();

  list(): Todo[] {
    return [...this.items.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  add(title: string): Todo {
    const todo: Todo = { id: uuid(), title, done: false, createdAt: dayjs().toISOString() };
    this.items.set(todo.id, todo);
    return todo;
  }

  toggle(id: string): Todo | undefined {
    const todo = this.items.get(id);
    if (todo) todo.done = !todo.done;
    return todo;
  }

  remove(id: string): boolean {
    return this.items.delete(id);
  }
}
