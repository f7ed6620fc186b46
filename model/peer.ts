/** An MMSC we exchange MM4 with (config `mm4.peers[]`). */
export interface Mm4Peer {
  name: string;
  /** MMSE domains of this peer, e.g. `mms.mnc001.mcc001.gprs`; used to route answers and reports. */
  domains: string[];
  /** Where we deliver MM4 to this peer (SMTP). */
  smtp: { host: string; port: number };
  /** Source IPs (exact or CIDR) allowed to send us MM4 as this peer. */
  allow: string[];
  /** E.164 prefixes (`+49`, `+4915`) of the numbers this MMSC serves: CPM -> MMS routing. */
  numbers: string[];
  /** What this MMSC accepts (content adaptation for CPM -> MMS). */
  accepts: MmsLimits;
  /** Inbound SMTP connections it may hold open at once (config `maxConnections`); more get 421. Absent: no limit. */
  maxConnections?: number;
  /** Outbound MM4 PDUs per second toward it (config `maxPerSecond`, a token bucket). Absent: unlimited. */
  maxPerSecond?: number;
  /**
   * Its MM4 dialect (config `profile` + `mm4`), fully resolved. Config always sets it; a peer built
   * by hand without it is read as {@link STANDARD_MM4_RULES} (use {@link mm4RulesOf}).
   */
  mm4?: Mm4Rules;
  /** TLS toward and from this peer (config `tls`, `ca`, `clientCert`, `clientKey`); absent: `optional`, nothing pinned. */
  tls?: Mm4PeerTls;
}

/**
 * STARTTLS (RFC 3207) with one peer. `none`: never (we do not upgrade; its cleartext is taken);
 * `optional`: upgrade when offered, cleartext otherwise; `required`: our MAIL FROM only inside TLS
 * with its certificate verified, and its MAIL FROM refused with 530 before STARTTLS (RFC 3207 4).
 */
export interface Mm4PeerTls {
  mode: 'none' | 'optional' | 'required';
  /** PEM CA certificates its certificate is verified against (read at start from `ca`). */
  ca?: string;
  /** PEM client certificate and key we present to it (from `clientCert`, `clientKey`). */
  clientCert?: string;
  clientKey?: string;
}

/** Starting points for a peer's MM4 rules: `lenient` takes the tolerant side of every rule. */
export const MM4_PROFILES = ['standard', 'lenient'] as const;
export type Mm4Profile = (typeof MM4_PROFILES)[number];

/** How media parts we write are transfer-encoded (RFC 2045 6; 8bit needs the peer's 8BITMIME, RFC 6152). */
export const MM4_BINARY_ENCODINGS = ['base64', 'quoted-printable', '8bit'] as const;
export type Mm4BinaryEncoding = (typeof MM4_BINARY_ENCODINGS)[number];

/**
 * The MM4 rules of one peer (3GPP TS 23.140 8.4), each a point where real MMSCs differ. Resolved at
 * start from `mm4.peers[].profile` and the single overrides of `mm4.peers[].mm4`.
 */
export interface Mm4Rules {
  /** The profile the rules started from (logs, audit). */
  profile: Mm4Profile;
  /**
   * The peer's system mailbox: our .RES and reports go there when the PDU's X-Mms-Originator-System
   * is not a mailbox (e.g. `system=mmsc.example;party=+12025550100`). None: the Sender/From mailbox.
   */
  systemAddress?: string;
  /** `both`: delivery and read-reply reports also carry X-Mms-Status (the MM1 name of the status). */
  statusHeaders: 'standard' | 'both';
  /** `none`: our reports go with X-Mms-Ack-Request: No, and nobody waits for (or resends on) a .RES. */
  reportAck: 'request' | 'none';
  /** `always`: a text-only MM4_forward.REQ is wrapped in multipart/mixed. */
  multipart: 'auto' | 'always';
  /** Transfer encoding of the media parts we write; 8bit only over 8BITMIME, else base64. */
  binaryEncoding: Mm4BinaryEncoding;
  /** Double-quote X-Mms-Message-ID / X-Mms-Transaction-ID in the PDUs we originate (answers echo the peer). */
  quoteIds: boolean;
}

/** The rules each profile sets; `mm4.peers[].mm4` overrides single ones. */
export const MM4_PROFILE_RULES: Record<Mm4Profile, Omit<Mm4Rules, 'profile' | 'systemAddress'>> = {
  standard: {
    statusHeaders: 'standard',
    reportAck: 'request',
    multipart: 'auto',
    binaryEncoding: 'base64',
    quoteIds: true,
  },
  lenient: {
    statusHeaders: 'both',
    reportAck: 'none',
    multipart: 'always',
    binaryEncoding: 'base64',
    quoteIds: false,
  },
};

export const STANDARD_MM4_RULES: Mm4Rules = { profile: 'standard', ...MM4_PROFILE_RULES.standard };

/** A peer's resolved MM4 rules; a hand-built peer without them follows the standard profile. */
export function mm4RulesOf(peer: Pick<Mm4Peer, 'mm4'>): Mm4Rules {
  return peer.mm4 ?? STANDARD_MM4_RULES;
}

/**
 * Details of a `MessageTooLarge` failure of `sendMm4Forward` (model/errors.ts): the peer refused the
 * MM4_forward.REQ for its size (SMTP 552, RFC 5321 4.2.3 / RFC 1870 6), or it exceeded the SIZE the
 * peer advertised in EHLO (RFC 1870) and was not sent. Adapt to a PDU of at most `limitBytes`.
 */
export interface MessageTooLargeDetails {
  /** Largest PDU, in bytes as written to SMTP DATA (headers and transfer encoding included), to send next. */
  limitBytes: number;
  /** Size of the refused PDU as it was (or would have been) sent. */
  sentBytes: number;
  /**
   * `smtp-size`: the SIZE of the peer's EHLO (RFC 1870); `estimate`: the peer refused with 552 but
   * advertises no limit below what we sent, so `limitBytes` is 3/4 of `sentBytes`.
   */
  limitSource: 'smtp-size' | 'estimate';
  /** The SMTP reply code (552); absent when we did not send because the PDU exceeded the advertised SIZE. */
  smtpCode?: number;
}

/** Limits an MM must fit for a peer: by default those of an OMA MMS content class (docs/mms-content.md). */
export interface MmsLimits {
  /**
   * The whole MM4_forward.REQ as written to SMTP DATA: RFC 5322 and X-Mms-* headers, MIME headers
   * and boundaries, every part after transfer encoding (base64 = 4/3 plus line breaks). The SIZE
   * the peer advertises in EHLO (RFC 1870) lowers it further when smaller.
   */
  maxMessageBytes: number;
  maxImage: { width: number; height: number };
  /** Media types the peer takes (`image/*` style wildcards allowed). */
  mediaTypes: string[];
}

/** Content classes of the OMA MMS Conformance Document (OMA-TS-MMS_CONF): size and image resolution. */
export const CONTENT_CLASSES: Record<string, Omit<MmsLimits, 'mediaTypes'>> = {
  'image-basic': { maxMessageBytes: 30 * 1024, maxImage: { width: 160, height: 120 } },
  'image-rich': { maxMessageBytes: 100 * 1024, maxImage: { width: 640, height: 480 } },
  'video-basic': { maxMessageBytes: 100 * 1024, maxImage: { width: 640, height: 480 } },
  'video-rich': { maxMessageBytes: 300 * 1024, maxImage: { width: 640, height: 480 } },
  megapixel: { maxMessageBytes: 600 * 1024, maxImage: { width: 1600, height: 1200 } },
  'content-basic': { maxMessageBytes: 100 * 1024, maxImage: { width: 640, height: 480 } },
  'content-rich': { maxMessageBytes: 300 * 1024, maxImage: { width: 1600, height: 1200 } },
};

/** Media types of the core content classes plus common MMS ones (OMA-TS-MMS_CONF; docs/mms-content.md). */
export const DEFAULT_MMS_MEDIA_TYPES = [
  'text/plain',
  'image/jpeg',
  'image/gif',
  'image/png',
  'audio/amr',
  'audio/mpeg',
  'audio/mp4',
  'audio/3gpp',
  'video/3gpp',
  'video/mp4',
  'text/x-vcard',
  'text/vcard',
];

/**
 * What an MM4_forward.REQ to one peer must fit, as sent (activity `mm4PeerLimits`): the whole PDU
 * within `limitBytes`, its media parts costing {@link Mm4PeerLimits.partEncoding}'s overhead.
 */
export interface Mm4PeerLimits {
  peer: string;
  /** min(contentClassBytes, smtpSizeBytes): bytes of the whole PDU as written to SMTP DATA. */
  limitBytes: number;
  /** `accepts.maxMessageBytes` (content class or override). */
  contentClassBytes: number;
  /** The SIZE of the peer's EHLO (RFC 1870), when it advertises one. */
  smtpSizeBytes?: number;
  /** How media parts will be transfer-encoded: the peer's binaryEncoding after the 8BITMIME check. */
  partEncoding: Mm4BinaryEncoding;
  /** The peer's EHLO advertises 8BITMIME (RFC 6152). */
  eightBitMime: boolean;
  /** False when the EHLO probe failed: the SIZE is then unknown, not absent. */
  capabilitiesKnown: boolean;
  notes: string[];
}
