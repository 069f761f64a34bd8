// Compare two imported diagrams element by element (by id).
//
// Only what matters to someone reviewing a new process version is compared:
// names, types, the Camunda assignment/form attributes, conditions, timers,
// scripts, wiring, multi-instance settings and extension elements (which is
// where SpiffArena keeps its properties and pre/post scripts). Layout
// (positions, waypoints) is deliberately ignored.

const CAMUNDA_ATTRS = [
  'formKey', 'assignee', 'candidateGroups', 'candidateUsers',
  'dueDate', 'followUpDate', 'priority', 'resultVariable', 'class', 'expression',
  'delegateExpression', 'type', 'topic'
];

// Values too long to print in a one-line detail: reported as "changed" only.
const LONG = new Set([ 'script', 'documentation', 'extensionElements' ]);

const MAX_VALUE = 60;

function body(expr) {
  return expr ? (expr.body || '').trim() : undefined;
}

function ref(obj) {
  return obj ? obj.id : undefined;
}

/** Flatten one business object into [key, value] pairs worth comparing. */
function describe(bo, extensionXml) {
  const props = [];
  const add = (key, value) => {
    if (value !== undefined && value !== null && value !== '') {
      props.push([ key, String(value) ]);
    }
  };

  add('type', bo.$type);
  add('name', bo.name);

  for (const attr of CAMUNDA_ATTRS) {

    // get() works whether or not the camunda moddle extension knows the attribute
    add('camunda:' + attr, bo.get('camunda:' + attr));
  }

  add('conditionExpression', body(bo.conditionExpression));
  add('default', ref(bo.default));
  add('connects', bo.sourceRef && bo.targetRef ? ref(bo.sourceRef) + ' → ' + ref(bo.targetRef) : undefined);
  add('attachedTo', ref(bo.attachedToRef));
  if (bo.$instanceOf('bpmn:BoundaryEvent')) {
    add('cancelActivity', bo.cancelActivity !== false);
  }
  add('calledElement', bo.calledElement);
  add('scriptFormat', bo.scriptFormat);
  add('script', bo.script);

  (bo.eventDefinitions || []).forEach((def, i) => {
    const prefix = 'event[' + i + ']';
    add(prefix, def.$type);
    add(prefix + '.timeDuration', body(def.timeDuration));
    add(prefix + '.timeDate', body(def.timeDate));
    add(prefix + '.timeCycle', body(def.timeCycle));
    add(prefix + '.message', def.messageRef && (def.messageRef.name || def.messageRef.id));
    add(prefix + '.signal', def.signalRef && (def.signalRef.name || def.signalRef.id));
    add(prefix + '.error', def.errorRef && (def.errorRef.errorCode || def.errorRef.id));
  });

  const loop = bo.loopCharacteristics;
  if (loop) {
    add('loop', loop.$type + (loop.isSequential ? ' (sequential)' : ''));
    add('loop.collection', loop.get('camunda:collection'));
    add('loop.elementVariable', loop.get('camunda:elementVariable'));
    add('loop.cardinality', body(loop.loopCardinality));
    add('loop.completionCondition', body(loop.completionCondition));
  }

  add('documentation', (bo.documentation || []).map(d => d.text || '').join('\n').trim());
  add('extensionElements', extensionXml);

  return new Map(props);
}

function short(value) {
  if (value === undefined) {
    return '∅';
  }
  const oneLine = value.replace(/\s+/g, ' ');
  return JSON.stringify(oneLine.length > MAX_VALUE ? oneLine.slice(0, MAX_VALUE - 1) + '…' : oneLine);
}

function compare(oldProps, newProps) {
  const details = [];
  const keys = new Set([ ...oldProps.keys(), ...newProps.keys() ]);
  for (const key of keys) {
    const before = oldProps.get(key);
    const after = newProps.get(key);
    if (before === after) {
      continue;
    }
    if (LONG.has(key) && before !== undefined && after !== undefined) {
      details.push(key + ' changed');
    } else if (LONG.has(key)) {
      details.push(key + (after === undefined ? ' removed' : ' added'));
    } else {
      details.push(key + ': ' + short(before) + ' → ' + short(after));
    }
  }
  return details;
}

/** Business objects of the drawn elements, by id (labels and the root excluded). */
function drawnElements(viewer) {
  const byId = new Map();
  viewer.get('elementRegistry').forEach(element => {
    if (element.type !== 'label' && element.parent && element.businessObject) {
      byId.set(element.id, element.businessObject);
    }
  });
  return byId;
}

/** Serialize the extension elements of every business object, to compare them as text. */
async function extensionXml(viewer, byId) {
  const moddle = viewer.get('moddle');
  const result = new Map();
  for (const [ id, bo ] of byId) {
    if (bo.extensionElements && (bo.extensionElements.values || []).length) {
      const { xml } = await moddle.toXML(bo.extensionElements, { format: false });
      result.set(id, xml);
    }
  }
  return result;
}

/**
 * @return {Promise<Array<{id, kind, type, name, details}>>} changes from `oldViewer`
 *   to `newViewer`: changed and added elements in the new diagram's order, then removed ones.
 */
export async function diffDiagrams(oldViewer, newViewer) {
  const before = drawnElements(oldViewer);
  const after = drawnElements(newViewer);
  const [ beforeExt, afterExt ] = await Promise.all([
    extensionXml(oldViewer, before),
    extensionXml(newViewer, after)
  ]);

  const changes = [];
  for (const [ id, bo ] of after) {
    const old = before.get(id);
    if (!old) {
      changes.push({ id, kind: 'added', type: bo.$type, name: bo.name || '', details: [] });
      continue;
    }
    const details = compare(describe(old, beforeExt.get(id)), describe(bo, afterExt.get(id)));
    if (details.length) {
      changes.push({ id, kind: 'changed', type: bo.$type, name: bo.name || '', details });
    }
  }
  for (const [ id, bo ] of before) {
    if (!after.has(id)) {
      changes.push({ id, kind: 'removed', type: bo.$type, name: bo.name || '', details: [] });
    }
  }
  return changes;
}
