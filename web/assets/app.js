// Offgrid-Net dashboard: marks the live feed badge when the socket drops.
// The server sets it back to "live" (an out-of-band swap) once it has
// subscribed again, so "live" always means no event is being missed.
(function () {
  'use strict';
  function mark(state, label) {
    var badge = document.getElementById('feed-status');
    if (badge) {
      badge.setAttribute('data-state', state);
      badge.textContent = label;
    }
  }
  document.addEventListener('htmx:wsClose', function () { mark('offline', 'reconnecting'); });
  document.addEventListener('htmx:wsError', function () { mark('offline', 'reconnecting'); });
})();
