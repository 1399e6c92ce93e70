// wikimem export: search the exported pages in the browser (no network, no framework).
// The index (search-index.js) lists each page's title, path, kind, status, date, summary and
// distinct words. A page matches when every query word starts a word of the page (or is in
// its title or path); title and path matches rank higher, then the newer page.
(function () {
  "use strict";
  var index = window.WIKIMEM_INDEX || { pages: [] };
  var params = new URLSearchParams(window.location.search);
  var query = (params.get("q") || "").toLowerCase();
  var box = document.querySelector("form.search input[name=q]");
  if (box) { box.value = params.get("q") || ""; }
  var terms = query.match(/[\p{L}\p{N}_][\p{L}\p{N}_.-]*/gu) || [];
  var list = document.getElementById("hits");
  var none = document.getElementById("none");
  if (!terms.length || !list) { return; }
  var found = [];
  index.pages.forEach(function (page) {
    var words = " " + page.w + " ";
    var title = (page.t + " " + page.p).toLowerCase();
    var score = 0;
    for (var i = 0; i < terms.length; i++) {
      var t = terms[i];
      var inTitle = title.indexOf(t) !== -1;
      var inWords = words.indexOf(" " + t) !== -1;
      if (!inTitle && !inWords) { return; }
      score += (inTitle ? 3 : 0) + (inWords ? 1 : 0);
    }
    if (page.s === "superseded" || page.s === "retracted") { score -= 0.5; }
    found.push([score, page]);
  });
  found.sort(function (a, b) {
    return b[0] - a[0] || (b[1].d > a[1].d ? 1 : b[1].d < a[1].d ? -1 : 0);
  });
  found.slice(0, 50).forEach(function (pair) {
    var page = pair[1];
    var item = document.createElement("li");
    var link = document.createElement("a");
    link.href = page.u;
    link.textContent = page.t;
    var meta = document.createElement("small");
    meta.textContent = " " + page.p + " · " + page.k + (page.d ? " · " + page.d : "") +
      (page.s ? " · " + page.s : "");
    var snippet = document.createElement("p");
    snippet.className = "snippet";
    snippet.textContent = page.x;
    item.appendChild(link);
    item.appendChild(meta);
    item.appendChild(snippet);
    list.appendChild(item);
  });
  if (!found.length && none) { none.hidden = false; }
}());
