/**
 * WCAG 2 contrast arithmetic, and the lightness a hued text needs to be readable.
 *
 * Why computed rather than one lightness for every hue: at a single HSL lightness a yellow or a
 * green is several times brighter than a blue, so the 38 % that suits a blue name on white
 * leaves a green one at 3.2:1. Each hue gets the lightness nearest the wanted one that reaches
 * the ratio, which keeps the palette even and every name readable.
 */

/** sRGB channels, 0-255. */
export type Rgb = readonly [number, number, number];

/** WCAG AA for text under 18.66 px bold / 24 px: the sender names and the inspector's labels. */
export const AA_TEXT = 4.5;

/** `#rrggbb` as channels. */
export function parseHex(hex: string): Rgb {
  const n = Number.parseInt(hex.replace(/^#/, ''), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** CSS `hsl(h s% l%)` as browsers compute it (channels rounded to whole numbers). */
export function hslToRgb(hue: number, saturation: number, lightness: number): Rgb {
  const s = saturation / 100;
  const l = lightness / 100;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number): number => {
    const k = (n + hue / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** WCAG 2 relative luminance, 0 (black) to 1 (white). */
export function relativeLuminance([r, g, b]: Rgb): number {
  const lin = (c: number): number => {
    const v = c / 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** WCAG 2 contrast ratio, 1 to 21, whichever of the two is lighter. */
export function contrastRatio(a: Rgb, b: Rgb): number {
  const [x, y] = [relativeLuminance(a), relativeLuminance(b)];
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}

/**
 * The HSL lightness (0-100, in half steps) nearest `preferred` at which `hue` at `saturation`
 * reaches `minRatio` against every one of `backdrops`: it only ever moves away from them (darker
 * on light backdrops, lighter on dark ones), so a hue already readable keeps `preferred`.
 * Backdrops must all be light or all dark. At 0 or 100 the search stops: black on a light
 * backdrop (or white on a dark one) is the best there is.
 */
export function readableLightness(hue: number, saturation: number, preferred: number, backdrops: readonly Rgb[], minRatio = AA_TEXT): number {
  const darker = backdrops.every((b) => relativeLuminance(b) > 0.18);
  const step = darker ? -0.5 : 0.5;
  let lightness = preferred;
  const readable = (l: number): boolean => backdrops.every((b) => contrastRatio(hslToRgb(hue, saturation, l), b) >= minRatio);
  while (!readable(lightness) && lightness + step >= 0 && lightness + step <= 100) lightness += step;
  return lightness;
}
