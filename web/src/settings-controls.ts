import type { TransportName } from 'switchboard-client';
import { TRANSPORTS } from 'switchboard-client';
import { h } from './dom.js';
import { TRANSPORT_LABELS } from './format.js';
import { POLL_INTERVALS } from './storage.js';

let seq = 0;

/** The "Transport" picker: a labelled select whose choices are the four transports. */
export function transportField(value: TransportName, onChange: (t: TransportName) => void, label = 'Transport'): { element: HTMLElement; select: HTMLSelectElement } {
  const id = `transport-${++seq}`;
  const select = h(
    'select',
    { attrs: { id, name: 'transport' }, on: { change: () => onChange(select.value as TransportName) } },
    ...TRANSPORTS.map((t) => h('option', { attrs: { value: t, selected: t === value } }, TRANSPORT_LABELS[t])),
  );
  select.value = value;
  return { element: h('div', 'field', h('label', { attrs: { for: id } }, label), select), select };
}

/** The "Polling interval" picker (short polling's pause between two requests). */
export function pollIntervalField(value: number, onChange: (ms: number) => void): { element: HTMLElement; select: HTMLSelectElement } {
  const id = `poll-interval-${++seq}`;
  const select = h(
    'select',
    { attrs: { id, name: 'pollInterval', title: 'Used by Short polling' }, on: { change: () => onChange(Number(select.value)) } },
    ...POLL_INTERVALS.map((ms) => h('option', { attrs: { value: ms, selected: ms === value } }, ms < 1000 ? `${ms} ms` : `${ms / 1000} s`)),
  );
  select.value = String(value);
  return { element: h('div', 'field poll-field', h('label', { attrs: { for: id } }, 'Polling interval'), select), select };
}
