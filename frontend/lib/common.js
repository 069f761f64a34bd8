// Helpers shared by the viewer and the modeler bundles.

/**
 * Font stack for diagram labels. bpmn-js measures label text with this font to
 * wrap it, so naming the CJK fonts an office machine actually has (Windows:
 * Microsoft YaHei, macOS: PingFang, Linux: Noto/WenQuanYi) keeps the wrapping
 * of Chinese labels close to what is drawn.
 */
export const FONT_FAMILY =
  '"Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei", Arial, sans-serif';

export const TEXT_RENDERER = {
  defaultStyle: { fontFamily: FONT_FAMILY },
  externalStyle: { fontFamily: FONT_FAMILY }
};

/**
 * Keep one marker class on a changing set of element ids.
 *
 * `set(ids)` only adds and removes the difference to the previous call, so a
 * replay slider can call it on every input event without touching the rest of
 * the SVG. Ids that are not in the diagram are ignored (a history may name an
 * element of another version of the process).
 */
export function markerSet(canvas, elementRegistry, marker) {
  let current = new Set();

  return {
    set(ids) {
      const next = new Set();
      for (const id of ids || []) {
        if (elementRegistry.get(id)) {
          next.add(id);
        }
      }
      for (const id of current) {
        if (!next.has(id)) {
          canvas.removeMarker(id, marker);
        }
      }
      for (const id of next) {
        if (!current.has(id)) {
          canvas.addMarker(id, marker);
        }
      }
      current = next;
    },
    ids() {
      return [ ...current ];
    }
  };
}

/** Create an element with a class and plain text (never HTML: messages carry user text). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined && text !== null) {
    node.textContent = String(text);
  }
  return node;
}
