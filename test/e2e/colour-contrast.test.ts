import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { createRoom, keepNames, send, skipWithoutBrowser, useHarness, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

/** Senders posted: enough ids to land on most of the 360 hues (the unit test takes every hue). */
const SENDERS = 300;
const API_KEY = 'e2e-contrast-key-0123456789';
const AUTH = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };

interface Low {
  selector: string;
  text: string;
  ratio: number;
  fg: string;
  bg: string;
}

/**
 * Every `selector` element's text colour against what is really behind it: the computed
 * backgrounds of it and its ancestors, tints (colour-mix with transparent) laid over the first
 * opaque one. Colours are read through a canvas, so any CSS colour syntax the browser computes
 * counts. Returns those under WCAG AA for their size (4.5:1; 3:1 from 24 px, or 18.66 px bold).
 */
async function lowContrast(page: Page, selector: string): Promise<Low[]> {
  await keepNames(page);
  return page.evaluate((sel) => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 1;
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    const rgba = (css: string): number[] => {
      ctx.clearRect(0, 0, 1, 1);
      ctx.fillStyle = 'transparent';
      ctx.fillStyle = css;
      ctx.fillRect(0, 0, 1, 1);
      const d = ctx.getImageData(0, 0, 1, 1).data;
      return [d[0]!, d[1]!, d[2]!, d[3]! / 255];
    };
    const backdrop = (el: Element | null): number[] => {
      const layers: number[][] = [];
      for (; el; el = el.parentElement) {
        const c = rgba(getComputedStyle(el).backgroundColor);
        if (c[3]! === 0) continue;
        layers.push(c);
        if (c[3]! === 1) break;
      }
      let out = [255, 255, 255];
      for (const [r, g, b, a] of layers.reverse()) out = [r!, g!, b!].map((v, i) => v * a! + out[i]! * (1 - a!));
      return out;
    };
    const lum = ([r, g, b]: number[]): number => {
      const f = (v: number): number => ((v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r!) + 0.7152 * f(g!) + 0.0722 * f(b!);
    };
    const low = [];
    for (const el of document.querySelectorAll(sel)) {
      const cs = getComputedStyle(el);
      if (!el.getClientRects().length || cs.visibility === 'hidden') continue;
      const fg = rgba(cs.color);
      const bg = backdrop(el);
      const [x, y] = [lum(fg), lum(bg)];
      const ratio = (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
      const size = Number.parseFloat(cs.fontSize);
      const need = size >= 24 || (Number(cs.fontWeight) >= 700 && size >= 18.66) ? 3 : 4.5;
      if (ratio < need) low.push({ selector: sel, text: el.textContent ?? '', ratio: Math.round(ratio * 100) / 100, fg: cs.color, bg: `rgb(${bg.map(Math.round).join(' ')})` });
    }
    return low;
  }, selector);
}

describe('web app: colours of names and labels reach WCAG AA in both themes', { skip }, () => {
  const suite = useHarness({ apiKey: API_KEY, rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 });

  it(`names of ${SENDERS} senders, the wire inspector's kinds and the transport chips`, async () => {
    await createRoom(suite.h, 'palette');
    const { page } = await suite.open({ name: 'Gus', hash: '#/room/palette', transport: 'websocket', viewport: { width: 1280, height: 800 } });
    // Each text under AA once (many rows share a label), with its theme.
    const low = new Map<string, Low & { scheme: string }>();
    const check = async (selectors: string[]): Promise<void> => {
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        for (const selector of selectors) for (const l of await lowContrast(page, selector)) low.set(`${scheme} ${selector} ${l.text} ${l.bg}`, { scheme, ...l });
      }
    };
    // The inspector first: the frames of 300 messages push the joining HTTP requests out of it.
    await page.locator('.wire-row.kind-http .w-kind').first().waitFor();
    await page.locator('.wire-row.kind-ws .w-kind').first().waitFor();
    await page.locator('.presence-list .chip-websocket').first().waitFor();
    await check(['.wire-row .w-kind', '.chip']);

    // Guests' ids as the QA pass saw them (guest-tNJP, guest-anon), and many more.
    const ids = ['guest-tNJP', 'guest-anon', 'bob', 'piper3', ...Array.from({ length: SENDERS - 4 }, (_, i) => `m-${(i * 7919).toString(36)}-${i}`)];
    for (const [i, member] of ids.entries()) {
      const res = await fetch(`${suite.h.base}/api/rooms/palette/messages`, { method: 'POST', headers: AUTH, body: JSON.stringify({ text: `hello ${i}`, name: member, member }) });
      assert.equal(res.status, 201);
    }
    // 300 messages at once: on two loaded cores (three browser files at a time) the page once took
    // over 10 s to show them all (CI, 2026-12-07).
    await waitForMessage(page, `hello ${SENDERS - 1}`, 30_000);
    // A deleted message has no bubble: its name sits on the page's background.
    assert.equal((await fetch(`${suite.h.base}/api/rooms/palette/messages/1`, { method: 'DELETE', headers: AUTH })).status, 201);
    await page.locator('li.msg.deleted').first().waitFor();
    assert.ok((await page.locator('.msg .sender').count()) >= SENDERS, 'every sender named');
    // Formatting (code on its tint, struck text) in a bubble of another's and in one's own.
    const formatted = 'fmt **b** *i* ~~s~~ `code`\n```\nblock\n```';
    assert.equal((await fetch(`${suite.h.base}/api/rooms/palette/messages`, { method: 'POST', headers: AUTH, body: JSON.stringify({ text: formatted, name: 'bob', member: 'bob' }) })).status, 201);
    await send(page, formatted);
    await page.locator('li.msg.own .msg-pre').waitFor();
    await page.locator('li.msg:not(.own) .msg-pre').waitFor();
    await check(['.msg .sender', '.msg .via', '.avatar', '.chip', '.msg-code', '.msg-pre', '.text strong', '.text em', '.text del']);
    const lines = [...low.values()].map((l) => `${l.scheme}: ${l.selector} "${l.text}" ${l.ratio}:1 (${l.fg} on ${l.bg})`);
    assert.equal(lines.length, 0, `text under AA contrast:\n${lines.slice(0, 20).join('\n')}${lines.length > 20 ? `\n…and ${lines.length - 20} more` : ''}`);
  });
});
