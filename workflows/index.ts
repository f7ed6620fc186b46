/** The single module the worker bundles. */
export { mmsToCpm } from './mms-to-cpm.workflow.js';
export { cpmToMms } from './cpm-to-mms.workflow.js';
export { mediaJanitor } from './media-janitor.workflow.js';
