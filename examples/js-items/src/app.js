// The component's entry: the `source` export of the world `source-plugin`.
import { exportSource } from '../../../sdk/js/src/index.js';
import { items } from './items.js';

export const source = exportSource(items);
