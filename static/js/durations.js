// Lengths of time as people read them, for the clocks that tick in the browser: the same
// words as common.text.duration and the `ago` template filter ("42 s", "3 min 12 s ago"),
// which tests/test_durations.py compares over a range of values.
(function () {
  "use strict";

  // The two largest units, the rest cut off (never rounded up); under a second is "under 1 s".
  function duration(seconds) {
    if (seconds === null || seconds === undefined) { return ""; }
    if (!(seconds >= 1)) { return "under 1 s"; }
    var whole = Math.floor(seconds);
    var days = Math.floor(whole / 86400), hours = Math.floor(whole % 86400 / 3600);
    var minutes = Math.floor(whole % 3600 / 60), secs = whole % 60;
    var pairs = [[days, "d", hours, "h"], [hours, "h", minutes, "min"], [minutes, "min", secs, "s"]];
    for (var i = 0; i < pairs.length; i++) {
      var big = pairs[i][0], small = pairs[i][2];
      if (big) {
        return big + " " + pairs[i][1] + (small ? " " + small + " " + pairs[i][3] : "");
      }
    }
    return secs + " s";
  }

  function ago(seconds) {
    return seconds >= 1 ? duration(seconds) + " ago" : "just now";
  }

  window.vigilDurations = { duration: duration, ago: ago };
})();
