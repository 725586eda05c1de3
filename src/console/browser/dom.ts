// A few helpers to build the page from plain DOM calls: no framework, no HTML strings (so nothing a
// node answers is ever parsed as markup).

type Child = Node | string | null | undefined | false;
type Attributes = Readonly<Record<string, string | boolean | undefined>>;

/** An element with attributes (`true` sets an empty one, `false`/undefined leaves it out) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : value);
  }
  append(element, ...children);
  return element;
}

export function append(parent: Element, ...children: Child[]): void {
  for (const child of children) if (child !== null && child !== undefined && child !== false) parent.append(child);
}

/** The element with this id, of the expected kind (the page's skeleton is static: a miss is a bug). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

export function clear(element: Element): void {
  element.replaceChildren();
}

/** A button; `change` marks it as one that changes something (a read token never sees those). */
export function button(label: string, onClick: (event: MouseEvent) => void, options: { change?: boolean; className?: string; ariaLabel?: string } = {}): HTMLButtonElement {
  const element = h('button', { type: 'button', class: options.className, 'aria-label': options.ariaLabel, 'data-change': options.change === true });
  element.textContent = label;
  element.addEventListener('click', onClick);
  return element;
}

let fieldCount = 0;

/** A labelled input: the label is tied to it by id. */
export function field(labelText: string, attributes: Attributes = {}): { wrapper: HTMLDivElement; input: HTMLInputElement } {
  fieldCount += 1;
  const id = `field-${fieldCount}`;
  const input = h('input', { id, autocomplete: 'off', spellcheck: 'false', ...attributes });
  const wrapper = h('div', {}, h('label', { for: id }, labelText), input);
  return { wrapper, input };
}

/** Says something to screen readers through the page's polite live region. */
export function announce(text: string): void {
  const announcer = byId('announcer');
  // Cleared first, so that the same words twice are announced twice.
  announcer.textContent = '';
  window.setTimeout(() => {
    announcer.textContent = text;
  }, 50);
}

/** Moves focus to a heading or region that is not focusable by itself (it gets tabindex -1). */
export function focusOn(element: HTMLElement): void {
  if (!element.hasAttribute('tabindex')) element.setAttribute('tabindex', '-1');
  element.focus();
}

/**
 * Runs `work` once at a time per control, so that a double click does not send a change twice. The
 * control is marked aria-disabled rather than disabled: a disabled button loses the keyboard focus.
 * Resolves to undefined when the control was already at work.
 */
export async function busy<T>(control: HTMLElement | null, work: () => Promise<T>): Promise<T | undefined> {
  if (control?.getAttribute('aria-disabled') === 'true') return undefined;
  control?.setAttribute('aria-disabled', 'true');
  try {
    return await work();
  } finally {
    control?.removeAttribute('aria-disabled');
  }
}
