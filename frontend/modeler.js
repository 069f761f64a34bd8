// docroute diagram editor for administrators: bpmn-js Modeler with the Camunda
// properties panel, save = validate + deploy on the server.
//
// Bundled as an IIFE that sets `window.DocrouteModeler`. Needs
// docroute-modeler.css on the page.

import Modeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule
} from 'bpmn-js-properties-panel';

// Keeps camunda:* extensions consistent while editing (e.g. drops a formKey
// when a user task becomes a service task), as Camunda Modeler does.
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';

// The properties panel's code editors (CodeMirror) inject a <style> element
// through style-mod; under a Content-Security-Policy without 'unsafe-inline'
// styles that element needs the page's nonce. style-mod keeps one style set
// per document, so registering the nonce once covers every later editor.
import { StyleModule } from 'style-mod';

import { zhTranslateModule } from './lib/translate-zh.js';
import { TEXT_RENDERER, el } from './lib/common.js';

function escapeXml(value) {
  return String(value).replace(/[&<>"']/g, c => '&#' + c.charCodeAt(0) + ';');
}

/**
 * Resolve once the properties panel has subscribed to selection changes.
 *
 * The panel (Preact) registers its listeners in effects that run after the
 * next animation frame (or a 100 ms fallback), so an element selected right
 * after import would otherwise not show in the panel. Same scheduling as
 * Preact's, queued later, hence run after it.
 */
function panelSettled() {
  return new Promise(resolve => {
    let raf = null;
    const done = () => {
      clearTimeout(timeout);
      cancelAnimationFrame(raf);
      setTimeout(resolve);
    };
    const timeout = setTimeout(done, 100);
    raf = requestAnimationFrame(done);
  });
}

/** An executable process with one start event, in the dialect shipped diagrams use. */
function emptyDiagram(key = 'new_process', name = '新流程') {
  key = escapeXml(key);
  name = escapeXml(name);
  return `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    id="Definitions_${key}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="${key}" name="${name}" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="${key}">
      <bpmndi:BPMNShape id="StartEvent_1_di" bpmnElement="StartEvent_1">
        <dc:Bounds x="180" y="160" width="36" height="36" />
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
`;
}

/**
 * Edit a diagram in `element`, its properties in `propertiesPanelElement`.
 *
 * options: xml (default: emptyDiagram()), saveUrl, csrfToken, onResult(result),
 *   filename (default: "<process id>.bpmn"), problemsElement (where the list of
 *   problems goes; default: a list floating over the canvas), cspNonce
 *   (the nonce of the page's style-src, if its CSP has no 'unsafe-inline').
 */
function mount(element, propertiesPanelElement, options = {}) {
  if (options.cspNonce) {
    StyleModule.mount(document, [], { nonce: options.cspNonce });
  }

  const modeler = new Modeler({
    container: element,
    textRenderer: TEXT_RENDERER,
    propertiesPanel: { parent: propertiesPanelElement },
    additionalModules: [
      BpmnPropertiesPanelModule,
      BpmnPropertiesProviderModule,
      CamundaPlatformPropertiesProviderModule,
      CamundaBehaviorsModule,

      // Palette, context pad and properties panel in the page's language.
      ...(options.lang === 'zh' ? [ zhTranslateModule ] : [])
    ],
    moddleExtensions: { camunda: camundaModdle }
  });

  // diagram-js labels palette and context pad entries with aria-label only: copy it to
  // title, so pointing at an icon says what it does.
  const copyTitles = () => {
    for (const entry of element.querySelectorAll('.entry[aria-label]:not([title])')) {
      entry.setAttribute('title', entry.getAttribute('aria-label'));
    }
  };
  const tooltips = new MutationObserver(copyTitles);
  tooltips.observe(element, { childList: true, subtree: true });
  copyTitles();

  // By default the list floats in the canvas' top right corner, which the
  // palette (top left) and the bpmn.io logo (bottom right) leave free, so the
  // page layout does not move when problems come and go.
  let problemsList = options.problemsElement;
  if (!problemsList) {
    problemsList = el('ul', 'dr-problems dr-problems--floating');
    modeler.get('canvas').getContainer().appendChild(problemsList);

    // scroll a long list instead of zooming the canvas underneath
    problemsList.addEventListener('wheel', event => event.stopPropagation());
  }
  problemsList.hidden = true;

  // element ids currently marked as having a problem
  let marked = [];

  function clearProblems() {
    const canvas = modeler.get('canvas');
    const registry = modeler.get('elementRegistry');
    for (const id of marked) {
      if (registry.get(id)) {
        canvas.removeMarker(id, 'dr-problem');
      }
    }
    modeler.get('overlays').remove({ type: 'dr-problem' });
    marked = [];
    problemsList.replaceChildren();
    problemsList.hidden = true;
  }

  function focusElement(element) {
    modeler.get('selection').select(element);
    modeler.get('canvas').scrollToElement(element);
  }

  /** Mark the elements the server named and list every problem (click = go to element). */
  function showProblems(problems) {
    const canvas = modeler.get('canvas');
    const registry = modeler.get('elementRegistry');
    const messagesById = new Map();

    for (const problem of problems) {
      const element = problem.element ? registry.get(problem.element) : null;

      // the process itself (the root) has no shape to mark; list it only
      const drawn = element && element.parent ? element : null;
      const where = [ problem.file, problem.line ].filter(v => v !== undefined && v !== null && v !== '').join(':');
      const text = [ where, problem.element, problem.message ].filter(Boolean).join(': ');
      const item = el('li', 'dr-problem-item' + (drawn ? ' dr-problem-item--link' : ''));

      if (drawn) {
        const button = el('button', 'dr-problem-link', text);
        button.type = 'button';
        button.addEventListener('click', () => focusElement(drawn));
        item.appendChild(button);
        if (!messagesById.has(drawn.id)) {
          messagesById.set(drawn.id, []);
        }
        messagesById.get(drawn.id).push(problem.message || '');
      } else {
        item.textContent = text;
      }
      problemsList.appendChild(item);
    }

    for (const [ id, messages ] of messagesById) {
      canvas.addMarker(id, 'dr-problem');
      marked.push(id);
      modeler.get('overlays').add(id, 'dr-problem', {
        position: { bottom: -6, left: 0 },
        html: el('div', 'dr-problem-overlay', messages.join('\n'))
      });
    }
    problemsList.hidden = problems.length === 0;
  }

  async function loadXml(xml) {
    clearProblems();
    const result = await modeler.importXML(xml);
    modeler.get('canvas').zoom('fit-viewport', 'auto');
    await panelSettled();
    return result;
  }

  async function getXml() {
    const { xml } = await modeler.saveXML({ format: true });
    return xml;
  }

  function filename() {
    if (options.filename) {
      return options.filename;
    }
    const definitions = modeler.getDefinitions();
    const processes = (definitions && definitions.rootElements || []).filter(e => e.$type === 'bpmn:Process');
    const main = processes.find(p => p.isExecutable) || processes[0];
    return (main ? main.id : 'diagram') + '.bpmn';
  }

  /**
   * POST {xml, filename} as JSON to saveUrl. Resolves to
   * {ok: true, status, deployed} or {ok: false, status, problems, error?}
   * (never rejects), after calling options.onResult with the same object.
   */
  async function save() {
    clearProblems();
    let result;
    try {
      const xml = await getXml();
      const response = await fetch(options.saveUrl, {
        method: 'POST',
        credentials: 'same-origin',
        headers: {
          'Content-Type': 'application/json',
          'Accept': 'application/json',
          'X-CSRFToken': options.csrfToken || ''
        },
        body: JSON.stringify({ xml, filename: filename() })
      });
      const body = await response.json().catch(() => null);
      if (response.ok) {
        result = { ok: true, status: response.status, deployed: (body && body.deployed) || [] };
      } else if (body && Array.isArray(body.problems)) {
        result = { ok: false, status: response.status, problems: body.problems };
      } else {
        const error = (body && (body.error || body.message)) || ('HTTP ' + response.status + ' ' + response.statusText);
        result = { ok: false, status: response.status, problems: [ { message: error } ], error };
      }
    } catch (err) {
      // the diagram could not be exported, or the request never reached the server
      const error = String(err && err.message || err);
      result = { ok: false, status: 0, problems: [ { message: error } ], error };
    }
    if (result.problems) {
      showProblems(result.problems);
    }
    if (options.onResult) {
      options.onResult(result);
    }
    return result;
  }

  // A new diagram's process is named in the page's language (options.newName).
  const ready = loadXml(options.xml || emptyDiagram(undefined, options.newName || undefined));

  return {
    modeler,
    ready,
    save,
    loadXml,
    getXml,
    newDiagram: (key, name) => loadXml(emptyDiagram(key, name)),
    clearProblems,
    destroy() {
      tooltips.disconnect();
      modeler.destroy();
      if (!options.problemsElement) {
        problemsList.remove();
      }
    }
  };
}

export { mount, emptyDiagram };
