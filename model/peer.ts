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
}
