// Undo and redo over whole documents: each change that a person makes (not each mouse move of
// a drag) pushes the document before it.
export interface History<T> {
  past: T[];
  present: T;
  future: T[];
}

const LIMIT = 200;

export function start<T>(present: T): History<T> {
  return { past: [], present, future: [] };
}

/** `next` becomes the present; with `record`, the old present can be returned to by undo. */
export function push<T>(h: History<T>, next: T, record = true): History<T> {
  if (next === h.present) return h;
  if (!record) return { ...h, present: next };
  return { past: [...h.past.slice(-LIMIT + 1), h.present], present: next, future: [] };
}

export function undo<T>(h: History<T>): History<T> {
  if (h.past.length === 0) return h;
  return { past: h.past.slice(0, -1), present: h.past[h.past.length - 1], future: [h.present, ...h.future] };
}

export function redo<T>(h: History<T>): History<T> {
  if (h.future.length === 0) return h;
  return { past: [...h.past, h.present], present: h.future[0], future: h.future.slice(1) };
}

/** Marks the present as the state to return to (at the start of a drag). */
export function checkpoint<T>(h: History<T>): History<T> {
  return { past: [...h.past.slice(-LIMIT + 1), h.present], present: h.present, future: [] };
}
