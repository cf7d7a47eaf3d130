// The course's script, on top of sphinx-book-theme (see course.css).
// - the site's title in the sidebar, the one piece of the theme's page outside any landmark
//   (axe-core's "region" rule), becomes a navigation landmark;
// - a control whose spoken name differs from its visible text (the theme's search button, the
//   "Show code cell source" toggles) is named by its visible text (axe-core's
//   label-content-name-mismatch), so that a voice user can say what they see;
// - every figure of a notebook's outputs opens full size in a new tab on click;
// - a display equation or a table that is wider than its column becomes a scrolling box that
//   the keyboard can reach (tabindex) and that a screen reader can name.
document.addEventListener("DOMContentLoaded", () => {
  for (const item of document.querySelectorAll(".sidebar-primary-item")) {
    if (item.querySelector(".navbar-brand") && !item.closest("nav, [role=navigation]")) {
      item.setAttribute("role", "navigation");
      item.setAttribute("aria-label", "Course home");
    }
  }
  for (const control of document.querySelectorAll(
      'summary[aria-label="Toggle hidden content"], button.search-button-field[aria-label]')) {
    control.removeAttribute("aria-label");
  }
  for (const img of document.querySelectorAll(".bd-article .cell_output img")) {
    if (img.closest("a")) continue;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.className = "course-figure";
    link.target = "_blank";
    link.rel = "noopener";
    img.replaceWith(link);
    link.appendChild(img);
  }
});

function courseMarkScrollingBoxes() {
  const boxes = document.querySelectorAll(
    ".bd-article div.math, .bd-article .pst-scrollable-table-container");
  const counts = {equation: 0, table: 0};
  for (const box of boxes) {
    const kind = box.matches("div.math") ? "equation" : "table";
    counts[kind] += 1;
    const scrolls = box.scrollWidth > box.clientWidth + 1;
    if (scrolls && !box.hasAttribute("data-course-scrolls")) {
      box.setAttribute("data-course-scrolls", "");
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      // a landmark's name must be unique on the page
      box.setAttribute("aria-label", `${kind} ${counts[kind]} (scrolls sideways)`);
    } else if (!scrolls && box.hasAttribute("data-course-scrolls")) {
      for (const name of ["data-course-scrolls", "tabindex", "role", "aria-label"]) {
        box.removeAttribute(name);
      }
    }
  }
}
window.addEventListener("load", () => {
  // MathJax typesets after the page has loaded: look again once it is done.
  const typeset = window.MathJax && MathJax.startup && MathJax.startup.promise;
  (typeset || Promise.resolve()).then(courseMarkScrollingBoxes);
});
window.addEventListener("resize", courseMarkScrollingBoxes);
