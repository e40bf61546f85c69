// The projections page's rebuild column keeps itself current: while a rebuild is shown, its
// figures are asked for every two seconds (progress/, JSON) and written in place; when one is
// done the page loads again to show the projection's new generation. A static file: the
// admin's pages allow no inline script (Content-Security-Policy).
"use strict";
document.addEventListener("DOMContentLoaded", function () {  // the admin loads it in <head>
  const EVERY_MS = 2000;
  const shown = () => document.querySelectorAll(".rebuild[data-projection]");
  if (!shown().length) {
    return;
  }
  const url = new URL("progress/", window.location.href.split("?")[0]);

  async function refresh() {
    let answer;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) {
        throw new Error(response.status);
      }
      answer = await response.json();
    } catch (error) {
      window.setTimeout(refresh, EVERY_MS * 2);  // a hiccup: try again a little later
      return;
    }
    const current = new Map(answer.rebuilds.map((rebuild) => [rebuild.name, rebuild]));
    for (const cell of shown()) {
      const rebuild = current.get(cell.dataset.projection);
      if (!rebuild) {
        window.location.reload();  // switched to the new generation: show the page as it is now
        return;
      }
      const bar = cell.querySelector("progress");
      bar.max = rebuild.head;
      bar.value = rebuild.position;
      cell.querySelector(".rebuild-text").textContent = rebuild.text;
    }
    window.setTimeout(refresh, EVERY_MS);
  }
  window.setTimeout(refresh, EVERY_MS);
});
