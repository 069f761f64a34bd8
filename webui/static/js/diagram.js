// Mounts the bpmn-js viewer bundle on every .diagram element of the page; the case
// state comes from the <script type="application/json"> block the element names.
(function () {
  'use strict';

  function mountAll() {
    var viewer = window.DocrouteViewer;
    document.querySelectorAll('.diagram[data-state]').forEach(function (element) {
      var source = document.getElementById(element.dataset.state);
      if (!source) {
        return;
      }
      if (!viewer) {
        element.classList.add('unavailable');
        element.textContent = element.getAttribute('data-unavailable') || '';
        return;
      }
      var state = JSON.parse(source.textContent);
      var handle = viewer.mount(element, state);
      handle.ready.then(function () {
        element.classList.add('ready');
      }, function () {
        element.classList.add('unavailable');
      });
      element.addEventListener('dblclick', function () { handle.fit(); });
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', mountAll);
  } else {
    mountAll();
  }
})();
