/**
 * `push` and `reconcile`: the answers in the bindings' shapes, and the
 * change accessors. A change (the WIT `change`) is
 * `{ key, op: 'create' | 'update' | 'delete', id?, baseVersion?, parentId?, title?, content?: Uint8Array, metadata }`.
 *
 * The contract (plugin-guide.md, "Push and reconcile"): change the remote
 * only while it still has `baseVersion`, and store `key` where the remote
 * keeps it with the item, so that `reconcile` recognises the write. One
 * answer per change, in order; a returned {@link SourceError} is that
 * change's `failed`.
 *
 * @module
 */

import { SourceError } from './errors.js';

/** What happened to one pushed change (the WIT `push-outcome`). */
export const outcome = {
  /** The remote accepted it: the item as it is now (none after a deletion). */
  applied: (record) => ({ tag: 'applied', val: record ?? undefined }),
  /** The remote moved on: its item as it is now (none when deleted). Nothing was changed. */
  conflict: (record) => ({ tag: 'conflict', val: record ?? undefined }),
};

/** Whether a change sent before took effect (the WIT `reconciliation`). */
export const reconciliation = {
  /** It took effect: the item as it is now (none after a deletion). */
  applied: (record) => ({ tag: 'applied', val: record ?? undefined }),
  /** It did not take effect and may be sent as it is. */
  notApplied: () => ({ tag: 'not-applied' }),
  /** It did not and cannot take effect anymore: the remote's item now (none when deleted). */
  conflict: (record) => ({ tag: 'conflict', val: record ?? undefined }),
};

/** The item's id; throws `unsupported` naming the change when it has none. */
export function requireId(change) {
  if (!change.id) throw refused(change, 'has no item id');
  return change.id;
}

/** The version the change was based on; throws `unsupported` when it has none. */
export function requireBase(change) {
  if (!change.baseVersion) throw refused(change, 'has no base version');
  return change.baseVersion;
}

/** The content as UTF-8 text; throws `unsupported` when absent or not text. */
export function contentText(change) {
  if (change.content === undefined || change.content === null) {
    throw refused(change, 'has no content');
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(change.content);
  } catch {
    throw refused(change, 'has content that is not UTF-8 text; the remote stores text only');
  }
}

/** The metadata as an object (`{}` when it is not a JSON object). */
export function metadataOf(change) {
  try {
    const value = JSON.parse(change.metadata);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

function refused(change, why) {
  const item = change.id ? ` of \`${change.id}\`` : '';
  return SourceError.unsupported(`change \`${change.key}\` (${change.op}${item}) ${why}`);
}
