import { svg } from './dom.js';

const W = 240;
const H = 56;

/**
 * A small bar chart in inline SVG: one bar per value (oldest left), scaled to `max` so that
 * charts side by side compare; `marks` are indexes where a message arrived (dots on top).
 */
export function renderBars(target: SVGSVGElement, values: readonly number[], max: number, marks: ReadonlySet<number> = new Set()): void {
  target.setAttribute('viewBox', `0 0 ${W} ${H}`);
  target.setAttribute('preserveAspectRatio', 'none');
  const step = W / Math.max(1, values.length);
  const top = 8;
  const bars: SVGElement[] = [svg('line', { x1: 0, x2: W, y1: H - 0.5, y2: H - 0.5, class: 'axis' })];
  values.forEach((value, i) => {
    if (value > 0) {
      const height = Math.max(1.5, ((H - top) * Math.min(value, max)) / Math.max(1, max));
      bars.push(svg('rect', { x: i * step + 0.5, y: H - height, width: Math.max(1, step - 1), height, class: 'bar' }));
    }
    if (marks.has(i)) bars.push(svg('rect', { x: i * step + 0.5, y: 0, width: Math.max(1, step - 1), height: 4, class: 'mark' }));
  });
  target.replaceChildren(...bars);
}
