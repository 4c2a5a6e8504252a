/**
 * Messages to the host's log, tagged with the plugin's name. Never include
 * secrets or whole payloads.
 *
 * @module
 */

import { log as hostLog } from './host.js';

/**
 * @param {'trace' | 'debug' | 'info' | 'warn' | 'error'} level
 * @param {string} message
 */
export function log(level, message) {
  hostLog(level, message);
}
