/**
 * Builders for the contract's values, in the shapes the component bindings
 * take: record fields in camelCase (`updatedAt`, `contentType`), an absent
 * `option<T>` as `undefined`, `list<u8>` as a `Uint8Array`, `u64` as a
 * `BigInt`, an `enum` as its name (`'ids-only'`), a `variant` as
 * `{ tag, val }`. Use them rather than object literals: they fill every
 * field, and convert what needs converting.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * @typedef {object} Record The WIT `record`.
 * @property {string} id
 * @property {string} version
 * @property {string} [updatedAt]
 * @property {string} [parentId]
 * @property {string} [title]
 * @property {string} [path]
 * @property {string} contentType
 * @property {Uint8Array} [content] absent: a partial record (the host calls `fetch`)
 * @property {string} metadata a JSON object
 * @property {object[]} blobs
 */

/**
 * A record. Without `content` it is partial: the host calls `fetch` for it
 * when its version changed.
 *
 * @param {string} id
 * @param {string | number} version
 * @param {object} [fields]
 * @param {string | null} [fields.title]
 * @param {string | null} [fields.updatedAt] RFC 3339
 * @param {string | null} [fields.parentId]
 * @param {string | null} [fields.path] relative, `/`-separated, for exports
 * @param {string} [fields.text] text content (`text/plain; charset=utf-8`)
 * @param {unknown} [fields.json] content as JSON (`application/json`)
 * @param {Uint8Array} [fields.content] raw content; give `contentType` too
 * @param {string} [fields.contentType]
 * @param {object | string} [fields.metadata] extra fields: an object, or its JSON (default `{}`)
 * @param {object[]} [fields.blobs] see {@link blob}
 * @returns {Record}
 */
export function record(id, version, fields = {}) {
  let content = fields.content;
  let contentType = fields.contentType ?? '';
  if (fields.text !== undefined) {
    content = encoder.encode(fields.text);
    contentType = 'text/plain; charset=utf-8';
  } else if (fields.json !== undefined) {
    content = encoder.encode(JSON.stringify(fields.json));
    contentType = 'application/json';
  }
  const metadata = fields.metadata ?? {};
  return {
    id: String(id),
    version: String(version),
    updatedAt: opt(fields.updatedAt),
    parentId: opt(fields.parentId),
    title: opt(fields.title),
    path: opt(fields.path),
    contentType,
    content,
    metadata: typeof metadata === 'string' ? metadata : JSON.stringify(metadata),
    blobs: fields.blobs ?? [],
  };
}

/**
 * A binary the host downloads itself (never through the plugin).
 *
 * @param {string} name unique within the record
 * @param {string} url absolute
 * @param {object} fields
 * @param {string} fields.version changes whenever the content does
 * @param {string} [fields.mediaType] default `application/octet-stream`
 * @param {number | bigint} [fields.size] bytes (a u64: converted to BigInt)
 * @param {[string, string][]} [fields.headers]
 * @param {string} [fields.member] a member of the tar.gz at `url`
 */
export function blob(name, url, fields) {
  return {
    name,
    url,
    headers: fields.headers ?? [],
    mediaType: fields.mediaType ?? 'application/octet-stream',
    size: fields.size === undefined || fields.size === null ? undefined : BigInt(fields.size),
    version: String(fields.version),
    member: opt(fields.member),
  };
}

/**
 * One page of a listing.
 *
 * @param {Record[]} records
 * @param {object} [fields]
 * @param {string | null} [fields.nextCursor] absent or null: the listing is complete
 * @param {string | null} [fields.watermark] stored as `since` once the enumeration completes
 * @param {string[]} [fields.deleted] ids the remote reports deleted
 * @param {number | bigint | null} [fields.totalHint] a u64: converted to BigInt
 */
export function page(records, fields = {}) {
  return {
    records,
    deleted: fields.deleted ?? [],
    nextCursor: opt(fields.nextCursor),
    watermark: opt(fields.watermark),
    totalHint:
      fields.totalHint === undefined || fields.totalHint === null
        ? undefined
        : BigInt(fields.totalHint),
  };
}

/**
 * A stream.
 *
 * @param {string} name
 * @param {string} description
 * @param {{ delta?: boolean, push?: boolean }} [flags] `delta`: `list` honours `since`
 */
export function stream(name, description, flags = {}) {
  return {
    name,
    description,
    supportsDelta: Boolean(flags.delta),
    supportsPush: Boolean(flags.push),
  };
}

/** Settings as the manifest declares them. */
export const setting = {
  /** A setting that must be given. */
  required(name, description) {
    return { name, description, required: true, defaultValue: undefined };
  },
  /** A setting that may be absent; `defaultValue` documents what absent means. */
  optional(name, description, defaultValue) {
    return { name, description, required: false, defaultValue: opt(defaultValue) };
  },
};

/** The credentials a plugin expects (the host adds them; the plugin never sees them). */
export const auth = {
  /** `Authorization: Bearer`, the token in `tokenEnv`. */
  bearer(tokenEnv) {
    return authInfo('bearer', [['token_env', tokenEnv]]);
  },
  /** `Authorization: Basic`. */
  basic(usernameEnv, passwordEnv) {
    return authInfo('basic', [
      ['username_env', usernameEnv],
      ['password_env', passwordEnv],
    ]);
  },
  /** One custom header `name`, its value in `valueEnv`. */
  header(name, valueEnv) {
    return { ...authInfo('header', [['value_env', valueEnv]]), headerName: name };
  },
};

function authInfo(scheme, env) {
  return { scheme, env, headerName: undefined };
}

/**
 * The manifest, with defaults: no settings, a max page size of 100, push
 * batches of 50, no auth, no extra hosts.
 *
 * @param {object} fields
 * @param {string} fields.name short machine name
 * @param {string} fields.version the plugin's semver
 * @param {string} fields.description
 * @param {object[]} [fields.streams] see {@link stream}
 * @param {object[]} [fields.settings] see {@link setting}
 * @param {number} [fields.maxPageSize]
 * @param {number} [fields.maxPushBatch]
 * @param {object} [fields.auth] see {@link auth}
 * @param {string[]} [fields.extraHosts]
 */
export function manifest(fields) {
  return {
    name: fields.name,
    version: fields.version,
    description: fields.description,
    streams: fields.streams ?? [],
    settings: fields.settings ?? [],
    maxPageSize: Math.max(1, fields.maxPageSize ?? 100),
    maxPushBatch: Math.max(1, fields.maxPushBatch ?? 50),
    auth: fields.auth,
    extraHosts: fields.extraHosts ?? [],
  };
}

/** `undefined` for null and undefined (an absent WIT option), else `String(value)`. */
function opt(value) {
  return value === undefined || value === null ? undefined : String(value);
}
