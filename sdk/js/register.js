/**
 * Run plugin code under node: `node --import <this file> --test`. Maps the
 * host's imports (`synchost:source/http@0.2.0`, `synchost:source/log@0.2.0`)
 * to the test transport of `src/testing.js`.
 *
 * @module
 */

import { register } from 'node:module';

register('./src/native/hooks.js', import.meta.url);
