/** The single module the worker bundles (conventions.md 1.1). */
export { mmsToCpm } from './mms-to-cpm.workflow.js';
export { cpmToMms } from './cpm-to-mms.workflow.js';
export { mediaJanitor } from './media-janitor.workflow.js';
