/**
 * A tiny element builder. Text children become Text nodes, so data is never parsed as HTML:
 * the app has no innerHTML anywhere.
 */

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  /** Attributes, set with setAttribute (a `false` or `undefined` value leaves it out). */
  attrs?: Record<string, string | number | boolean | undefined>;
  /** Event listeners. */
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props | string | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (typeof props === 'string') el.className = props;
  else if (props) {
    if (props.class) el.className = props.class;
    for (const [name, value] of Object.entries(props.attrs ?? {})) {
      if (value === undefined || value === false) continue;
      el.setAttribute(name, value === true ? '' : String(value));
    }
    for (const [type, listener] of Object.entries(props.on ?? {})) {
      el.addEventListener(type, listener as EventListener);
    }
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes (numbers and fixed strings only: no data as markup). */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, ...children: SVGElement[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.appendChild(child);
  return el;
}

/** Icons drawn with fixed path data (24x24, stroke). Decorative: hidden from assistive tech. */
const ICONS = {
  send: 'M4 12l16-8-6 16-2.5-6.5z M11.5 13.5L20 4',
  menu: 'M4 6h16 M4 12h16 M4 18h16',
  pause: 'M8 5v14 M16 5v14',
  play: 'M7 5l12 7-12 7z',
  trash: 'M5 7h14 M10 7V4h4v3 M7 7l1 13h8l1-13',
  wire: 'M3 12h4l3-7 4 14 3-7h4',
  bell: 'M6 16v-5a6 6 0 0 1 12 0v5l2 2H4z M10 21h4',
  'bell-off': 'M6 16v-5a6 6 0 0 1 12 0v5l2 2H4z M10 21h4 M4 4l16 16',
  close: 'M6 6l12 12 M18 6L6 18',
  plus: 'M12 5v14 M5 12h14',
  users: 'M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z M2 21c0-4 3-6 7-6s7 2 7 6 M17 11a3 3 0 1 0 0-6 M22 21c0-3-2-5-5-5.5',
  edit: 'M4 20h4L19 9l-4-4L4 16z',
  search: 'M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14z M20 20l-4-4',
  key: 'M15 13a4 4 0 1 0 0-8 4 4 0 0 0 0 8z M12.2 11.8L4 20 M7 17l2 2 M9.5 14.5l2 2',
} as const;

export type IconName = keyof typeof ICONS;

export function icon(name: IconName): SVGSVGElement {
  const el = svg('svg', { viewBox: '0 0 24 24', width: 18, height: 18, fill: 'none', stroke: 'currentColor', 'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true', focusable: 'false', class: 'icon' }, svg('path', { d: ICONS[name] }));
  return el;
}
