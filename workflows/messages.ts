/**
 * Names shared by the workflows and by everything that talks to them (ingress, CLI, tests):
 * search attributes, queries, signals and the workflow-id rules.
 * Imported by workflow code, so: no Node modules here.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AuditEntry, Direction, OperatorEvent } from '../model/delivery.js';
import type { OutcomeBase } from '../model/outcome.js';

/** Search attributes: no phone numbers or addresses in them (they are not encrypted by codecs). */
export const IwfDirection = defineSearchAttributeKey('IwfDirection', SearchAttributeType.KEYWORD);
export const IwfState = defineSearchAttributeKey('IwfState', SearchAttributeType.KEYWORD);
export const IwfPeer = defineSearchAttributeKey('IwfPeer', SearchAttributeType.KEYWORD);
export const IwfOutcome = defineSearchAttributeKey('IwfOutcome', SearchAttributeType.KEYWORD);
export const IwfMm4Status = defineSearchAttributeKey('IwfMm4Status', SearchAttributeType.KEYWORD);

/** Registered with the embedded dev server (`--search-attribute`) and by `iwf`'s setup on a cluster. */
export const SEARCH_ATTRIBUTES = {
  IwfDirection: 'Keyword',
  IwfState: 'Keyword',
  IwfPeer: 'Keyword',
  IwfOutcome: 'Keyword',
  IwfMm4Status: 'Keyword',
} as const;

/** What the `audit` query returns: the machine's state and its timestamped transition history. */
export interface AuditView {
  direction: Direction;
  state: string;
  status: 'active' | 'done' | 'error' | 'stopped';
  trail: AuditEntry[];
  outcome?: OutcomeBase;
}

export const auditQuery = defineQuery<AuditView>('audit');

/** An MM4 `.RES` or report PDU addressed to this delivery, routed by the MM4 front-end. */
export interface Mm4InboundSignal {
  type: string;
  transactionId: string;
  messageId: string;
  status?: string;
  statusText?: string;
  /** X-Mms-MM-Status-Extension of a delivery report (Rel-6). */
  statusExtension?: string;
  receivedAt: string;
  /**
   * What the MM4 reader tolerated in the PDU (the peer's dialect) and headers it could not read,
   * one sentence each, for the audit trail. Absent when none (and in signals sent before it existed).
   */
  notes?: string[];
}
export const mm4InboundSignal = defineSignal<[Mm4InboundSignal]>('mm4.inbound');

/**
 * Workflow id of an MMS -> CPM delivery: the originator MMSE system and its X-Mms-Message-ID,
 * which together identify the MM (23.140 8.4.1), so an MMSC retransmission finds the same workflow.
 * Ingress passes the originator through `originatorKey` (protocols/interworking/ids.ts) first.
 */
export function mmsToCpmWorkflowId(originatorSystem: string, messageId: string): string {
  return `mms-to-cpm/${originatorSystem.toLowerCase()}/${messageId}`;
}

/**
 * Workflow id of a CPM -> MMS delivery: the sender (hashed by the caller, so no phone number
 * appears in ids or search) and its imdn.Message-ID, so a re-sent MESSAGE finds the same workflow.
 */
export function cpmToMmsWorkflowId(senderHash: string, imdnMessageId: string): string {
  return `cpm-to-mms/${senderHash}/${imdnMessageId}`;
}

/**
 * Operator commands (retry now, abandon, reroute) as one Temporal update. Its validator refuses,
 * without touching history, an event the machine's current state does not accept.
 */
export const operatorUpdate = defineUpdate<{ state: string }, [OperatorEvent]>('operator');

/** An IMDN from a CPM recipient about a message of an MMS -> CPM delivery (RFC 5438). */
export interface ImdnSignal {
  recipientUri: string;
  kind: 'delivery' | 'display' | 'processing';
  status: string;
  imdnMessageId: string;
  receivedAt: string;
}
export const imdnSignal = defineSignal<[ImdnSignal]>('sip.imdn');
