import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AA_TEXT, contrastRatio, hslToRgb, parseHex, readableLightness, relativeLuminance } from '../web/src/contrast.js';
import { hueOf, nameColourStyle } from '../web/src/format.js';

/** `--name-light` and `--name-dark` of a style, as channels. */
function themes(style: string): { light: [number, number, number]; dark: [number, number, number] } {
  const colour = (key: string): [number, number, number] => {
    const m = new RegExp(`--${key}:hsl\\(([\\d.]+) ([\\d.]+)% ([\\d.]+)%\\)`).exec(style);
    assert.ok(m, `${key} in ${style}`);
    return hslToRgb(Number(m[1]), Number(m[2]), Number(m[3])) as [number, number, number];
  };
  return { light: colour('name-light'), dark: colour('name-dark') };
}

describe('the web app colours names readably', () => {
  it('computes WCAG contrast as the standard does', () => {
    assert.equal(contrastRatio(parseHex('#000000'), parseHex('#ffffff')), 21);
    assert.equal(relativeLuminance(parseHex('#ffffff')), 1);
    assert.deepEqual(hslToRgb(120, 100, 25), [0, 128, 0]);
    assert.equal(contrastRatio(parseHex('#767676'), parseHex('#ffffff')).toFixed(2), '4.54');
  });

  it('gives every hue a name colour of at least 4.5:1 on both backdrops of each theme', () => {
    const backdrops = { light: ['#ffffff', '#f6f7f9'], dark: ['#1d222c', '#0e1016'] };
    // Every hue hueOf can give: find an id for each.
    const idOfHue = new Map<number, string>();
    for (let i = 0; idOfHue.size < 360; i++) {
      const id = `m-${i}`;
      if (!idOfHue.has(hueOf(id))) idOfHue.set(hueOf(id), id);
    }
    for (const [hue, id] of idOfHue) {
      const colours = themes(nameColourStyle(id));
      for (const theme of ['light', 'dark'] as const) {
        for (const bg of backdrops[theme]) assert.ok(contrastRatio(colours[theme], parseHex(bg)) >= AA_TEXT, `hue ${hue} (${id}), ${theme} on ${bg}: ${contrastRatio(colours[theme], parseHex(bg)).toFixed(2)}`);
      }
    }
  });

  it('moves a lightness only as far as it must', () => {
    const white = [parseHex('#ffffff')];
    assert.equal(readableLightness(240, 55, 38, white), 38, 'a blue at 38 % is readable already');
    const green = readableLightness(120, 55, 38, white);
    assert.ok(green < 38 && contrastRatio(hslToRgb(120, 55, green), white[0]!) >= AA_TEXT && contrastRatio(hslToRgb(120, 55, green + 0.5), white[0]!) < AA_TEXT);
    const dark = [parseHex('#1d222c')];
    const blue = readableLightness(240, 75, 60, dark);
    assert.ok(blue > 60 && contrastRatio(hslToRgb(240, 75, blue), dark[0]!) >= AA_TEXT);
  });
});
