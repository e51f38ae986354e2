/* The case study admin: a live preview beside the body, and a copy button for share links.
 *
 * Plain JavaScript with no inline code, styles or eval, talking only to its own origin,
 * so it runs under `Content-Security-Policy: default-src 'self'`. Without it the form
 * works as before; the preview is an addition, never a dependency. */
(function () {
  "use strict";

  const DEBOUNCE_MS = 400;
  const RECOVERED_MESSAGE_MS = 4000;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function setUpLivePreview(textarea) {
    const url = textarea.dataset.previewUrl;
    // Set on a saved study's form: the preview then shows the study's uploaded images.
    const study = textarea.dataset.previewStudy;
    const maxBytes = Number(textarea.dataset.previewMaxBytes) || Infinity;
    const form = textarea.form;
    if (!url || !form || !form.elements.csrfmiddlewaretoken) return;

    // The panel: a heading, a short status line (the only part announced), the rendered body.
    const panel = element("div", "pv-panel");
    const header = element("div", "pv-header");
    const heading = element("h2", "pv-heading", "Preview");
    heading.id = "pv-panel-heading";
    const meta = element("span", "pv-meta");
    const updating = element("span", "pv-updating", "Updating…");
    updating.setAttribute("aria-hidden", "true");
    header.append(heading, meta, updating);
    const hint = element("p", "pv-hint", "As the study page will show it. Updates when you pause typing.");
    const problems = element("ul", "pv-problems");
    problems.hidden = true;
    const status = element("p", "pv-status");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    const scroller = element("div", "pv-scroll");
    scroller.setAttribute("role", "region");
    scroller.setAttribute("aria-labelledby", "pv-panel-heading");
    // Keyboard users can scroll a long preview once it has focus.
    scroller.tabIndex = 0;
    const toc = element("details", "pv-toc");
    toc.append(element("summary", "", "Contents"), element("div", "pv-toc-list"));
    toc.hidden = true;
    const prose = element("div", "pv-prose prose");
    scroller.append(toc, prose);
    panel.append(header, hint, problems, status, scroller);

    // Editor and preview side by side where there is room, the preview below where not (CSS).
    const split = element("div", "pv-split");
    textarea.before(split);
    split.append(textarea, panel);
    textarea.classList.add("pv-editor");

    let timer = null;
    let controller = null;
    let sequence = 0;
    let shown = null; // the body the visible preview was made from
    let hasPreview = false;
    let failing = false;
    let clearStatus = null;

    function say(message) {
      clearTimeout(clearStatus);
      status.textContent = message;
    }

    function showEmpty() {
      prose.replaceChildren(element("p", "pv-empty", "Nothing to preview yet: the body is empty."));
      problems.replaceChildren();
      problems.hidden = true;
      toc.hidden = true;
      meta.textContent = "";
      hasPreview = false;
    }

    function show(payload) {
      // The server's allow-list sanitised this HTML, exactly as for the public page.
      prose.innerHTML = payload.html;
      toc.lastElementChild.innerHTML = payload.toc_html;
      toc.hidden = !payload.toc_html;
      meta.textContent = payload.reading_minutes + " min read";
      // What saving would report (a diagram that cannot be drawn), while there is time to fix it.
      const found = payload.problems || [];
      problems.replaceChildren.apply(problems, found.map(function (problem) {
        return element("li", "", problem);
      }));
      problems.hidden = !found.length;
      keepInPanel(toc);
      keepInPanel(prose);
      hasPreview = true;
    }

    function fail(reason) {
      failing = true;
      panel.classList.toggle("pv-stale", hasPreview);
      say(
        "Couldn't update the preview: " +
          reason +
          (hasPreview ? " Showing the last version that worked; " : " ") +
          "it will try again when you next type."
      );
    }

    function recovered() {
      panel.classList.remove("pv-stale");
      if (!failing) return;
      failing = false;
      say("The preview is up to date again.");
      clearStatus = setTimeout(function () {
        status.textContent = "";
      }, RECOVERED_MESSAGE_MS);
    }

    function reasonFor(response, payload) {
      if (payload && typeof payload.error === "string") return payload.error;
      if (response.status === 403) {
        return "the server refused it (403). If you were logged out, log in again in another tab: what you typed here is safe.";
      }
      if (response.status === 413) return "the body is too large for the live preview.";
      return "the server answered " + response.status + ".";
    }

    async function update() {
      const body = textarea.value;
      if (body === shown && !failing) return;
      if (!body.trim()) {
        if (controller) controller.abort();
        showEmpty();
        shown = body;
        recovered();
        return;
      }
      if (new Blob([body]).size > maxBytes) {
        fail("the body is over " + Math.round(maxBytes / 1024) + " KB, more than the live preview handles. Save and view the study on the site instead.");
        return;
      }
      if (controller) controller.abort();
      controller = new AbortController();
      const mine = ++sequence;
      panel.classList.add("pv-busy");
      scroller.setAttribute("aria-busy", "true");
      const data = new FormData();
      data.append("body", body);
      if (study) data.append("study", study);
      try {
        const response = await fetch(url, {
          method: "POST",
          body: data,
          credentials: "same-origin",
          cache: "no-store",
          // The CSRF cookie is HttpOnly; the form's hidden input carries the token.
          headers: { "X-CSRFToken": form.elements.csrfmiddlewaretoken.value, Accept: "application/json" },
          signal: controller.signal,
        });
        const isJson = (response.headers.get("Content-Type") || "").startsWith("application/json");
        const payload = isJson ? await response.json() : null;
        if (mine !== sequence) return;
        if (response.ok && payload && typeof payload.html === "string") {
          show(payload);
          shown = body;
          recovered();
        } else {
          fail(reasonFor(response, payload));
        }
      } catch (error) {
        if (error.name === "AbortError" || mine !== sequence) return;
        fail("the server could not be reached.");
      } finally {
        if (mine === sequence) {
          panel.classList.remove("pv-busy");
          scroller.removeAttribute("aria-busy");
        }
      }
    }

    textarea.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(update, DEBOUNCE_MS);
    });
    update();
  }

  // A preview inside the admin page must not clash with the page's ids, nor leave the form.
  function keepInPanel(container) {
    container.querySelectorAll("[id]").forEach(function (node) {
      node.id = "preview-" + node.id;
    });
    container.querySelectorAll("a[href]").forEach(function (link) {
      const href = link.getAttribute("href");
      if (href.startsWith("#")) {
        link.setAttribute("href", "#preview-" + href.slice(1));
      } else {
        // Following a link would leave unsaved changes behind: open it beside the form.
        link.target = "_blank";
        link.rel = "noopener noreferrer";
      }
    });
  }

  function scrollToFragment(event) {
    const link = event.target.closest(".pv-panel a[href^='#preview-']");
    if (!link) return;
    // Scroll within the panel without adding the fragment to the page's history.
    const target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) return;
    event.preventDefault();
    target.scrollIntoView({ block: "start" });
  }

  function setUpShareLink(input) {
    // The server knows only the path; the browser knows the address the author uses.
    input.value = new URL(input.value, document.baseURI).href;
    input.addEventListener("focus", function () {
      input.select();
    });
    const button = element("button", "button pv-copy", "Copy link");
    button.type = "button";
    const note = element("span", "pv-copy-status");
    note.setAttribute("role", "status");
    input.after(button);
    input.parentNode.append(note);
    button.addEventListener("click", async function () {
      try {
        await navigator.clipboard.writeText(input.value);
        note.textContent = "Copied.";
      } catch (error) {
        input.focus();
        note.textContent = "Selected: press Ctrl+C (⌘C on a Mac) to copy.";
      }
      setTimeout(function () {
        note.textContent = "";
      }, RECOVERED_MESSAGE_MS);
    });
  }

  function init() {
    document.querySelectorAll("textarea[data-preview-url]").forEach(setUpLivePreview);
    document.querySelectorAll("input[data-share-preview-url]").forEach(setUpShareLink);
    document.addEventListener("click", scrollToFragment);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
