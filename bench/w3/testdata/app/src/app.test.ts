import { TodoStore } from './lib/store';

describe('TodoStore', () => {
  it('adds and toggles', () => {
    const store = new TodoStore();
    const t = store.add('write the bench');
    expect(store.toggle(t.id)?.done).toBe(true);
    expect(store.list()).toHaveLength(1);
  });
});
