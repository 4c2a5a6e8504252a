/**
 * The settings given to `configure` (from `synchost.toml` or `--set`). They
 * never hold secrets: the host adds credentials to requests itself. A value
 * that is empty or only whitespace counts as absent; every failure is an
 * `invalid-config` {@link SourceError} naming the setting.
 *
 * @module
 */

import { SourceError } from './errors.js';

export class Settings {
  /**
   * @param {[string, string][] | Record<string, string>} pairs the WIT's
   *   `list<tuple<string, string>>` (when a name repeats, the last wins), or
   *   an object (tests)
   */
  constructor(pairs = []) {
    this.pairs = Array.isArray(pairs) ? pairs : Object.entries(pairs);
  }

  /** The value of `name`, or `undefined` when absent or blank. */
  get(name) {
    const found = this.pairs.findLast(([k]) => k === name)?.[1];
    return found === undefined || found.trim() === '' ? undefined : found;
  }

  /** The value of `name`; throws `invalid-config` when absent. */
  required(name) {
    const value = this.get(name);
    if (value === undefined) throw SourceError.invalidConfig(`setting \`${name}\` is required`);
    return value;
  }

  /** The value of `name`, or `fallback` when absent. */
  getOr(name, fallback) {
    return this.get(name) ?? fallback;
  }

  /**
   * The value of `name` as an integer within [`min`, `max`], or `fallback`
   * when absent; throws `invalid-config` otherwise.
   */
  integer(name, fallback, { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = {}) {
    const raw = this.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw.trim());
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw SourceError.invalidConfig(
        `setting \`${name}\`: invalid value \`${raw}\`: expected an integer from ${min} to ${max}`,
      );
    }
    return n;
  }

  /**
   * The required setting `name` as a base URL: an absolute http(s) URL with
   * a host, no spaces, no query or fragment. Returned without trailing `/`.
   */
  url(name) {
    const raw = this.required(name).trim();
    const bad = (why) =>
      SourceError.invalidConfig(`setting \`${name}\` must be ${why}, got \`${raw}\``);
    const scheme = /^https?:\/\//i.exec(raw);
    if (!scheme) throw bad('an http:// or https:// URL');
    const rest = raw.slice(scheme[0].length);
    if (rest === '' || rest.startsWith('/')) throw bad('a URL with a host');
    if (/[\s\x00-\x1f\x7f]/.test(raw)) throw bad('a URL without spaces');
    if (/[?#]/.test(raw)) throw bad('a base URL without query or fragment');
    return raw.replace(/\/+$/, '');
  }
}
