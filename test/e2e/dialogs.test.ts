import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { skipWithoutBrowser, useHarness, waitConnected, type AppPage, type OpenOptions } from './harness.js';

const skip = skipWithoutBrowser();

/**
 * Chromium closes a modal dialog at a second Escape with no click or key in between, whatever its
 * 'cancel' listener does (the first one is cancelable, the second is not, or not fired).
 */
async function escapeTwice(page: Page, field: string): Promise<void> {
  await page.getByLabel(field, { exact: true }).click();
  await page.keyboard.press('Escape');
  await page.keyboard.press('Escape');
  await page.keyboard.press('Escape');
}

describe('web app: dialogs and panels over the chat', { skip }, () => {
  const s = useHarness();
  const open = (options: OpenOptions = {}): Promise<AppPage> => s.open(options);

  it('the first-visit name dialog stays open through repeated Escapes, and the name then typed is used', async () => {
    const { page } = await open({ waitConnected: false });
    const dialog = page.getByRole('dialog', { name: 'Welcome to Switchboard' });
    await dialog.waitFor();
    await escapeTwice(page, 'Your name');
    await page.waitForTimeout(200);
    // Shown again at once when Chromium closed it (a loaded machine may take longer than 200 ms).
    await dialog.waitFor({ state: 'visible', timeout: 3000 }).catch(() => {});
    assert.ok(await dialog.isVisible(), 'the first-visit dialog is still there (before: a blank page)');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'name-input', 'focus is in the name field');
    await page.keyboard.type('Esme');
    await page.keyboard.press('Enter');
    await waitConnected(page);
    assert.match((await page.locator('.user-name').textContent()) ?? '', /Esme/);
  });

  it('Escape pressed repeatedly in the change-name dialog cancels it: the name button opens it again', async () => {
    const { page } = await open({ name: 'Finn' });
    await page.locator('button.user').click();
    const dialog = page.getByRole('dialog', { name: 'Change your name' });
    await dialog.waitFor();
    await escapeTwice(page, 'Your name');
    await dialog.waitFor({ state: 'detached' });
    await page.locator('button.user').click();
    await dialog.waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
  });

  it('on a phone the wire inspector, which covers the chat, takes the focus when opened from the keyboard and gives it back on Escape', async () => {
    const { page } = await open({ name: 'Gwen', viewport: { width: 390, height: 844 } });
    const toggle = page.getByRole('button', { name: 'Wire inspector' });
    await toggle.focus();
    await page.keyboard.press('Enter');
    const close = page.getByRole('button', { name: 'Close wire inspector' });
    await close.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Close wire inspector', 'focus is in the panel (before: on the toggle under it)');
    await page.keyboard.press('Escape');
    await close.waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Wire inspector', 'focus is back on the toggle');
  });
});
