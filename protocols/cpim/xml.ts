/**
 * A small, bounded XML reader for the documents CPM clients send us (IMDN, FT-over-HTTP
 * descriptors). Pure. Built on saxes, a conformant non-validating parser: well-formedness and
 * namespaces (XML Namespaces 1.0) are checked by it, it never reads anything external and it expands
 * only the five predefined entities and character references. On top of that this reader refuses
 * any document type declaration (so no DTD, internal entities, billion laughs or XXE), and bounds
 * the input size and the element depth before and while parsing. Every failure is a result, never
 * a throw.
 */
import { SaxesParser, type SaxesTagNS } from 'saxes';

export interface XmlElement {
  /** Namespace URI ('' when none is in scope). */
  uri: string;
  /** Local name, without prefix. */
  local: string;
  /** Attributes without a prefix (the ones that are in no namespace), by name. */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own character data (text and CDATA sections), child elements' left out. */
  text: string;
}

export interface XmlLimits {
  /** Largest accepted input, in UTF-16 code units (string length). */
  maxChars: number;
  /** Deepest accepted element nesting; the root is at depth 1. */
  maxDepth: number;
}

/** Thrown from saxes handlers to stop the parse at the first problem; never leaves this module. */
class Refusal extends Error {}

/** A parser's message as it may go into a status line: printable ASCII, bounded. */
const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 160);

export function readXml(xml: string, limits: XmlLimits): { ok: true; root: XmlElement } | { ok: false; error: string } {
  if (xml.length > limits.maxChars) return { ok: false, error: `XML larger than ${limits.maxChars} characters` };
  // A BOM and leading whitespace (left by the CPIM/MIME framing) are tolerated before the XML declaration.
  let start = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (start < xml.length && ' \t\r\n'.includes(xml[start])) start++;

  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;

  parser.on('error', (e) => {
    throw new Refusal(`malformed XML: ${e.message}`);
  });
  parser.on('doctype', () => {
    throw new Refusal('DOCTYPE declarations are not allowed');
  });
  // Before saxes resolves the tag's namespaces (which walks the open-element stack).
  parser.on('opentagstart', () => {
    if (stack.length >= limits.maxDepth) throw new Refusal(`XML nested deeper than ${limits.maxDepth} elements`);
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    const attrs: Record<string, string> = {};
    for (const a of Object.values(tag.attributes)) if (a.prefix === '' && a.name !== 'xmlns') attrs[a.local] = a.value;
    const el: XmlElement = { uri: tag.uri, local: tag.local, attrs, children: [], text: '' };
    if (stack.length) stack[stack.length - 1].children.push(el);
    else root = el;
    stack.push(el);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  const onText = (t: string) => {
    if (stack.length) stack[stack.length - 1].text += t;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);

  try {
    parser.write(start ? xml.slice(start) : xml).close();
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, error: printable(e.message) };
    return { ok: false, error: printable(`malformed XML: ${e instanceof Error ? e.message : String(e)}`) };
  }
  if (!root) return { ok: false, error: 'malformed XML: no root element' };
  return { ok: true, root };
}

/** The first child element with this namespace and local name. */
export const child = (el: XmlElement, uri: string, local: string): XmlElement | undefined =>
  el.children.find((c) => c.uri === uri && c.local === local);

/** The trimmed text of the first such child, or undefined when there is none. */
export const childText = (el: XmlElement, uri: string, local: string): string | undefined =>
  child(el, uri, local)?.text.trim();
