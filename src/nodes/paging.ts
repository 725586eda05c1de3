// Keyset paging of the lists (CONTRACT section 5, Paging; README, Paging). A page is "the items
// after this key in the list's order", read with a WHERE on the list's ORDER BY columns: each
// page is an index range of `limit + 1` rows however deep it is, and an item added or removed
// between two pages neither shifts nor repeats the rest (OFFSET would do both).

/** Which part of a list to read. */
export interface PageRequest<Key> {
  /** Only the items after this key in the list's order; null: from the first. */
  readonly after: Key | null;
  /** At most this many items; null: every item (after `after`). */
  readonly limit: number | null;
}

/** The whole list, from its first item. */
export const WHOLE: PageRequest<never> = { after: null, limit: null };

export interface Page<Item, Key> {
  readonly items: Item[];
  /** The `after` of the following page; undefined on the last page, and always without a limit. */
  readonly next?: Key;
}

/**
 * The page among `rows`, which a store read with `LIMIT limit + 1` (see `rowsToRead`): the extra
 * row only tells that more items follow, and the last item kept is then where the next page begins.
 */
export function cutPage<Item, Key>(rows: Item[], limit: number | null, keyOf: (item: Item) => Key): Page<Item, Key> {
  if (limit === null || rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, next: keyOf(items[items.length - 1]) };
}

/** The LIMIT a store reads with: one row more than the page, to know whether another page follows. */
export function rowsToRead(limit: number): number {
  return limit + 1;
}

/** The ok answer of a page: the items under `member`, and `next` only while more items follow. */
export function pageAnswer<Item, Key>(member: string, page: Page<Item, Key>): Record<string, unknown> {
  return page.next === undefined ? { [member]: page.items } : { [member]: page.items, next: page.next };
}

/** A list node's long-work judgement: a request without `limit` reads the whole list (from `after` on). */
export function readsWholeList(params: { limit?: number }): boolean {
  return params.limit === undefined;
}
