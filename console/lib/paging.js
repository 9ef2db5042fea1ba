// A list read from the server a page at a time, with a button that reads the next page.

import { onScreen } from "./shell.js";

/**
 * The rows of the view `seq`'s list so far (`rows`, `done`): `loadPage` reads the next page (one
 * request; one load at a time, `more` disabled meanwhile) and `restart` reads it afresh for the
 * query `fresh` returns once the load under way is over. An answer for an earlier query, or for
 * a page the person has left, is dropped, its failure too. `read(cursor)` answers a page
 * ({ items, next_cursor }), `add(rows, items)` picks the items to add, `draw` shows the rows.
 */
export function pagedList({ seq, more, read, add = (rows, items) => items, draw }) {
  const list = { cursor: null, done: false, loading: null, rows: [], query: "" };
  list.loadPage = () => {
    list.loading ??= (async () => {
      more.disabled = true;
      const query = list.query;
      const current = () => query === list.query && onScreen(seq);
      try {
        const page = await read(list.cursor);
        if (!current()) return;
        list.rows.push(...add(list.rows, page.items));
        list.cursor = page.next_cursor ?? null;
        list.done = !list.cursor;
        draw();
      } catch (e) {
        if (current()) throw e;
      } finally {
        more.disabled = false;
        list.loading = null;
      }
    })();
    return list.loading;
  };
  list.restart = async (fresh) => {
    await list.loading?.catch(() => {});
    list.query = fresh();
    list.rows = [];
    list.cursor = null;
    list.done = false;
    await list.loadPage();
  };
  return list;
}
