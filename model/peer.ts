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
}

/** Limits an MM must fit for a peer: by default those of an OMA MMS content class (docs/mms-content.md). */
export interface MmsLimits {
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
