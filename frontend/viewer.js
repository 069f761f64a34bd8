// docroute diagram viewer: case state markers (inbox, audit replay) and version diff.
//
// Bundled as an IIFE that sets `window.DocrouteViewer`; see docs in the report /
// the page templates for usage. Needs docroute-viewer.css on the page.

import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';

import { TEXT_RENDERER, markerSet } from './lib/common.js';
import { diffDiagrams } from './lib/diff.js';

// state key -> marker class (styled in docroute-diagrams.css)
const STATE_MARKERS = {
  completed: 'dr-completed',
  active: 'dr-active',
  path: 'dr-taken',
  incidents: 'dr-incident'
};

function createViewer(container) {
  return new NavigatedViewer({
    container,
    textRenderer: TEXT_RENDERER,

    // A plain mouse wheel scrolls the page, never the diagram out of its box; zoom
    // is on the buttons (and dragging still pans).
    zoomScroll: { enabled: false },

    // camunda:* attributes are then typed, which the diff reads
    moddleExtensions: { camunda: camundaModdle }
  });
}

/**
 * Show `xml` in `element` with the state of a case highlighted.
 *
 * Returns at once; the diagram is imported asynchronously (`handle.ready`
 * resolves to `{warnings}` or rejects with the import error). `update()` may be
 * called before that: the last state wins.
 */
function mount(element, options = {}) {
  const viewer = createViewer(element);
  let markers = null;
  let state = options;
  let destroyed = false;

  function apply() {
    for (const key of Object.keys(STATE_MARKERS)) {
      markers[key].set(state[key]);
    }
  }

  const ready = viewer.importXML(options.xml).then(({ warnings }) => {
    if (destroyed) {
      return { warnings };
    }
    const canvas = viewer.get('canvas');
    const registry = viewer.get('elementRegistry');
    markers = {};
    for (const [ key, marker ] of Object.entries(STATE_MARKERS)) {
      markers[key] = markerSet(canvas, registry, marker);
    }
    apply();
    fitAndCentre(canvas, registry, state.active);
    if (options.controls !== false) {
      // Button titles in the page's language: options.labels, else data-zoom-* attributes.
      const data = element.dataset || {};
      const labels = options.labels ||
        { zoomIn: data.zoomIn, zoomOut: data.zoomOut, fit: data.zoomFit };
      addZoomControls(element, canvas, () => fitAndCentre(canvas, registry, state.active),
        labels);
    }
    return { warnings };
  });

  return {
    viewer,
    ready,

    /**
     * Replace the highlighted state. Each of completed / active / path /
     * incidents is a list of element ids; a missing key means "none", so a
     * replay can pass the state after event k as it is. Only the markers that
     * differ from the previous call are touched: no re-import, no re-render.
     */
    update(next = {}) {
      state = next;
      if (markers) {
        apply();
      }
    },

    /** Fit the diagram into the container (current step centred), e.g. after it was shown. */
    fit() {
      if (markers) {
        viewer.get('canvas').resized();
        fitAndCentre(viewer.get('canvas'), viewer.get('elementRegistry'), state.active);
      }
    },

    destroy() {
      destroyed = true;
      viewer.destroy();
    }
  };
}

// Below this scale Chinese labels are unreadable: a long process is shown at this
// scale around its current step instead of shrunk to fit.
const MIN_READABLE_SCALE = 0.7;
const ZOOM_STEP = 1.25;

/**
 * Fit the diagram into the viewport; when that would make labels unreadable, keep
 * a readable scale and centre the first current step (or the start of the process).
 */
function fitAndCentre(canvas, registry, active) {
  canvas.zoom('fit-viewport', 'auto');
  const scale = canvas.zoom();
  const current = (active || []).map(id => registry.get(id)).find(Boolean);
  if (scale >= MIN_READABLE_SCALE && !current) {
    return;
  }
  const target = Math.max(Math.min(scale, 1), MIN_READABLE_SCALE);
  const outer = canvas.getSize();
  const inner = canvas.viewbox().inner;
  const centre = current
    ? { x: current.x + current.width / 2, y: current.y + current.height / 2 }
    : { x: inner.x + outer.width / target / 2, y: inner.y + inner.height / 2 };
  canvas.viewbox({
    x: centre.x - outer.width / target / 2,
    y: centre.y - outer.height / target / 2,
    width: outer.width / target,
    height: outer.height / target
  });
}

/** Zoom in, zoom out and fit buttons in the diagram's top right corner. */
function addZoomControls(element, canvas, fit, labels) {
  const bar = document.createElement('div');
  bar.className = 'dr-zoom';
  if (window.getComputedStyle(element).position === 'static') {
    element.style.position = 'relative';  // the bar sits in the element's corner
  }
  const buttons = [
    [ 'dr-zoom-in', '+', labels.zoomIn || 'Zoom in', () => canvas.zoom(canvas.zoom() * ZOOM_STEP, 'auto') ],
    [ 'dr-zoom-out', '\u2212', labels.zoomOut || 'Zoom out', () => canvas.zoom(canvas.zoom() / ZOOM_STEP, 'auto') ],
    [ 'dr-zoom-fit', '\u2922', labels.fit || 'Fit', fit ]
  ];
  for (const [ cls, text, title, action ] of buttons) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = cls;
    button.textContent = text;
    button.title = title;
    button.setAttribute('aria-label', title);
    button.addEventListener('click', action);
    bar.appendChild(button);
  }
  element.appendChild(bar);
}

// Fit both canvases to the union of both diagrams, so that an element removed
// on the left and one added on the right are both in view at the same scale.
function fitBoth(left, right) {
  const boxes = [ left, right ].map(v => v.get('canvas').viewbox().inner)
    .filter(b => b.width || b.height);
  if (!boxes.length) {
    return;
  }
  const x = Math.min(...boxes.map(b => b.x));
  const y = Math.min(...boxes.map(b => b.y));
  const width = Math.max(...boxes.map(b => b.x + b.width)) - x;
  const height = Math.max(...boxes.map(b => b.y + b.height)) - y;
  const pad = 20;

  // viewbox() scales to fit and keeps the aspect ratio of the container
  right.get('canvas').viewbox({ x: x - pad, y: y - pad, width: width + 2 * pad, height: height + 2 * pad });
}

// Mirror pan/zoom of one canvas on the other (same scale, same top-left corner,
// whatever the size of each container).
function syncViewboxes(a, b) {
  let syncing = false;
  const follow = (from, to) => {
    from.get('eventBus').on('canvas.viewbox.changed', ({ viewbox }) => {
      if (syncing) {
        return;
      }
      syncing = true;
      try {
        const outer = to.get('canvas').getSize();
        to.get('canvas').viewbox({
          x: viewbox.x,
          y: viewbox.y,
          width: outer.width / viewbox.scale,
          height: outer.height / viewbox.scale
        });
      } finally {
        syncing = false;
      }
    });
  };
  follow(a, b);
  follow(b, a);
}

const DIFF_MARKERS = {
  added: [ 'right' ],
  removed: [ 'left' ],
  changed: [ 'left', 'right' ]
};

/**
 * Show `oldXml` in `leftEl` and `newXml` in `rightEl`, mark what changed.
 *
 * @return {Promise<{changes, left, right, destroy}>} `changes` is
 *   `[{id, kind: 'added'|'removed'|'changed', type, name, details: [string]}]`.
 *   Rejects if either diagram does not import.
 */
async function mountDiff(leftEl, rightEl, { oldXml, newXml } = {}) {
  const viewers = { left: createViewer(leftEl), right: createViewer(rightEl) };
  const destroy = () => {
    viewers.left.destroy();
    viewers.right.destroy();
  };

  let changes;
  try {
    await Promise.all([ viewers.left.importXML(oldXml), viewers.right.importXML(newXml) ]);
    changes = await diffDiagrams(viewers.left, viewers.right);
  } catch (err) {
    destroy();
    throw err;
  }

  for (const change of changes) {
    for (const side of DIFF_MARKERS[change.kind]) {
      viewers[side].get('canvas').addMarker(change.id, 'dr-' + change.kind);
    }
  }

  syncViewboxes(viewers.left, viewers.right);
  fitBoth(viewers.left, viewers.right);

  return { changes, left: viewers.left, right: viewers.right, destroy };
}

export { mount, mountDiff, diffDiagrams };
