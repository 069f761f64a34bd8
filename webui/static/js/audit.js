// Step-through replay of one case (audit/case.html). All frames come from one JSON
// request, so moving the slider only re-colours the diagram and redraws two tables.
// No inline script: the page's configuration is the JSON block #audit-config.
(function () {
  'use strict';

  var config = JSON.parse(document.getElementById('audit-config').textContent);
  var text = config.text;
  var slider = document.getElementById('replay-slider');
  var diagram = document.getElementById('replay-diagram');
  var statusLine = document.getElementById('replay-status');
  var frames = [];
  var shown = [];  // per frame: {name: [label, value as read]} in the page's language
  var definitions = {};
  var viewer = null;
  var viewerDefinition = null;
  var current = 0;

  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (content !== undefined && content !== null) { node.textContent = String(content); }
    return node;
  }

  function show(value) {
    if (value === null || value === undefined) { return '—'; }
    if (typeof value === 'string') { return value; }
    return JSON.stringify(value);
  }

  function labelOf(k, index) {
    var entry = (shown[index] || {})[k] || (index > 0 ? (shown[index - 1] || {})[k] : null);
    return entry ? entry[0] : k;
  }

  function textOf(k, index, value) {
    var entry = (shown[index] || {})[k];
    if (entry && JSON.stringify(value) === JSON.stringify(frames[index].data[k])) {
      return entry[1];
    }
    return show(value);
  }

  function changes(before, after) {
    var out = [];
    var keys = {};
    Object.keys(before || {}).forEach(function (k) { keys[k] = true; });
    Object.keys(after || {}).forEach(function (k) { keys[k] = true; });
    Object.keys(keys).sort().forEach(function (k) {
      var a = before ? before[k] : undefined;
      var b = after ? after[k] : undefined;
      if (JSON.stringify(a) !== JSON.stringify(b)) { out.push([k, a, b]); }
    });
    return out;
  }

  // index: the frame whose change this is (its predecessor holds the "before" values).
  function changeList(list, index) {
    // Variables kept for the machine (case_id, started_by …) have no label: not shown.
    list = list.filter(function (c) {
      return (shown[index] || {})[c[0]] || (index > 0 && (shown[index - 1] || {})[c[0]]);
    });
    if (!list.length) { return el('p', 'muted', text.none); }
    var ul = el('ul', 'changes-list');
    list.forEach(function (c) {
      var li = el('li');
      li.appendChild(el('strong', null, labelOf(c[0], index)));
      li.appendChild(document.createTextNode(': '));
      if (c[1] !== undefined) {
        li.appendChild(el('span', 'before', index > 0 ? textOf(c[0], index - 1, c[1]) : show(c[1])));
        li.appendChild(document.createTextNode(' → '));
      }
      if (c[2] === undefined) {
        li.appendChild(el('span', 'muted', '(' + text.removed + ')'));
      } else {
        li.appendChild(el('span', 'after', textOf(c[0], index, c[2])));
        if (c[1] === undefined) { li.appendChild(el('span', 'muted', ' (' + text.added + ')')); }
      }
      ul.appendChild(li);
    });
    return ul;
  }

  function dataTable(index) {
    var labelled = shown[index] || {};
    var keys = Object.keys(labelled).sort(function (a, b) {
      return labelled[a][0].localeCompare(labelled[b][0]);
    });
    if (!keys.length) { return el('p', 'muted', text.nodata); }
    var table = el('table', 'data-table');
    keys.forEach(function (k) {
      var tr = el('tr');
      tr.appendChild(el('th', null, labelled[k][0]));
      tr.appendChild(el('td', null, labelled[k][1]));
      table.appendChild(tr);
    });
    return table;
  }

  function pair(dl, term, value) {
    if (value === null || value === undefined || value === '') { return; }
    dl.appendChild(el('dt', null, term));
    dl.appendChild(el('dd', null, value));
  }

  function mountFor(frame) {
    if (!window.DocrouteViewer) {
      diagram.classList.add('unavailable');
      diagram.textContent = text.unavailable;
      return;
    }
    if (viewer && viewerDefinition === frame.definition_id) { return; }
    if (viewer) { viewer.destroy(); diagram.textContent = ''; }
    viewerDefinition = frame.definition_id;
    viewer = window.DocrouteViewer.mount(diagram, {
      xml: definitions[String(frame.definition_id)], completed: frame.completed,
      active: frame.active, path: frame.path, incidents: frame.incidents
    });
    viewer.ready.then(function () { diagram.classList.add('ready'); },
      function () { diagram.classList.add('unavailable'); });
  }

  function render(k) {
    if (!frames.length) { return; }
    k = Math.max(1, Math.min(frames.length, k));
    current = k;
    var frame = frames[k - 1];
    var previous = k > 1 ? frames[k - 2] : null;
    slider.value = String(k);
    document.getElementById('replay-position').textContent =
      text.position.replace('{k}', k).replace('{n}', frames.length);
    mountFor(frame);
    if (viewer) {
      viewer.update({ completed: frame.completed, active: frame.active, path: frame.path,
        incidents: frame.incidents });
    }
    var dl = document.getElementById('replay-event');
    dl.textContent = '';
    pair(dl, text.what, config.labels[k - 1] || frame.type);
    pair(dl, text.when, config.times[k - 1]);
    pair(dl, text.who, frame.actor_name + (frame.actor_name !== frame.actor ? ' (' + frame.actor + ')' : ''));
    pair(dl, text.task, frame.task_name);
    pair(dl, text.reason, frame.payload.reason);
    if (frame.payload.data && frame.type !== 'started') {
      pair(dl, text.submitted, Object.keys(frame.payload.data).filter(function (key) {
        return (shown[k - 1] || {})[key];
      }).map(function (key) {
        return labelOf(key, k - 1) + ': ' + textOf(key, k - 1, frame.payload.data[key]);
      }).join('; '));
    }
    pair(dl, text.status, text.statuses[frame.status] || frame.status);
    pair(dl, text.incident, frame.error);
    if (frame.kind !== 'state') {
      dl.appendChild(el('dd', 'muted note', frame.kind === 'unknown' ? text.unknown : text.passive));
    }
    var changed = document.getElementById('replay-changes');
    changed.textContent = '';
    changed.appendChild(changeList(changes(previous ? previous.data : {}, frame.data), k - 1));
    var data = document.getElementById('replay-data');
    data.textContent = '';
    data.appendChild(dataTable(k - 1));
    document.querySelectorAll('tr[data-index]').forEach(function (row) {
      row.classList.toggle('current', row.getAttribute('data-index') === String(k));
    });
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, '', '#step=' + k);
    }
    // Verify reloads the page: it comes back at this step, not at the first.
    var verify = document.getElementById('verify');
    if (verify) {
      var url = new URL(verify.href, window.location.href);
      url.searchParams.set('step', String(k));
      verify.href = url.pathname + url.search + '#verification';
    }
  }

  function fillHistory() {
    frames.forEach(function (frame, i) {
      var cell = document.querySelector('[data-changes="' + (i + 1) + '"]');
      if (!cell || frame.kind !== 'state') { return; }
      cell.appendChild(changeList(changes(i ? frames[i - 1].data : {}, frame.data), i));
    });
  }

  function startAt() {
    var match = /step=(\d+)/.exec(window.location.hash) ||
      /[?&]step=(\d+)/.exec(window.location.search);
    return match ? parseInt(match[1], 10) : 1;
  }

  function wire() {
    slider.addEventListener('input', function () { render(parseInt(slider.value, 10)); });
    document.querySelectorAll('[data-step]').forEach(function (button) {
      button.addEventListener('click', function () {
        var where = button.getAttribute('data-step');
        render(where === 'first' ? 1 : where === 'last' ? frames.length
          : where === 'prev' ? current - 1 : current + 1);
      });
    });
    document.querySelectorAll('[data-jump]').forEach(function (button) {
      button.addEventListener('click', function () {
        render(parseInt(button.getAttribute('data-jump'), 10));
        document.getElementById('replay').scrollIntoView({ behavior: 'smooth' });
      });
    });
  }

  function load() {
    fetch(config.frames, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) { throw new Error(body.error || response.statusText); }
          return body;
        });
      })
      .then(function (body) {
        frames = body.frames;
        shown = body.shown || [];
        definitions = body.definitions;
        slider.max = String(Math.max(1, frames.length));
        statusLine.textContent = text.ready;
        if (body.error) {
          statusLine.textContent = text.failed + ' ' + body.error;
          statusLine.classList.add('error');
        }
        document.getElementById('replay').classList.add('loaded');
        wire();
        fillHistory();
        render(startAt());
      })
      .catch(function (error) {
        statusLine.textContent = text.failed + ' ' + error.message;
        statusLine.classList.add('error');
      });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', load);
  } else {
    load();
  }
})();
