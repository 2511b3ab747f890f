/* Yaofang counter screen: htmx settings, keyboard-wedge scanner support, hotkeys. Plain JS, no build step.
 *
 * Page contract (templates/pos/counter.html, _workspace.html):
 *   #pos        data-base-url, data-return-url, data-search-url and translated data-msg-* texts
 *   #scan       the scan field (always focused); #scan-form its form
 *   #workspace  the swapped partial; data-last-sale-id; polled every 2 s (204 while unchanged)
 *   input[data-client-uuid]  filled with a fresh UUID (a retry or double click reuses it: one sale)
 *   [data-autofocus]         gets the focus after a swap instead of the scan field (search results, lot choice)
 */
(function () {
  "use strict";

  const root = document.getElementById("pos");
  if (!root) return;
  const scanField = document.getElementById("scan");
  const scanForm = document.getElementById("scan-form");
  const csrf = document.querySelector('meta[name="csrf-token"]');
  const base = root.dataset.baseUrl;

  // --- htmx: CSRF header, and swap refusals (4xx) as well: the server answers them with the workspace ---------------
  if (window.htmx) {
    htmx.config.responseHandling = [
      {code: "204", swap: false},
      {code: "[23]..", swap: true},
      {code: "4..", swap: true, error: false},
      {code: "...", swap: false, error: true},
    ];
    // Settle at once: new content is wired up (hx-post etc.) only when it settles, and a cashier's next key
    // (F6 then Enter, say) may come within htmx's default 20 ms.
    htmx.config.defaultSettleDelay = 0;
    document.addEventListener("htmx:configRequest", (e) => {
      if (csrf) e.detail.headers["X-CSRFToken"] = csrf.content;
    });
    // A whole page (an error page, the login page after a session timeout) is not a partial: never swap it in.
    document.addEventListener("htmx:beforeSwap", (e) => {
      const xhr = e.detail.xhr;
      if (isWholePage(xhr.responseText)) {
        e.detail.shouldSwap = false;
        handleWholePage(xhr.responseURL, xhr.responseText);
      }
    });
    document.addEventListener("htmx:responseError", (e) => showAlert(messageOf(e.detail.xhr.responseText)));
    document.addEventListener("htmx:sendError", () => showAlert(root.dataset.msgFailed));
  }

  function isWholePage(text) {
    return /^\s*<!doctype html/i.test(text || "");
  }

  function messageOf(html) {
    const doc = new DOMParser().parseFromString(html || "", "text/html");
    const el = doc.querySelector(".error-page .message, .flash.error, .flash");
    return el ? el.textContent.trim() : root.dataset.msgFailed;
  }

  function handleWholePage(url, html) {
    if (url && new URL(url, location.href).pathname === "/login") {
      location.href = url; // the session ended: log in again
      return;
    }
    showAlert(messageOf(html));
  }

  const alertBox = document.getElementById("pos-alert");
  function showAlert(text) {
    if (!alertBox) return;
    alertBox.textContent = text || "";
    alertBox.hidden = !text;
  }

  // --- client UUIDs for payments and returns -------------------------------------------------------------------------
  function newUuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // crypto.randomUUID needs a secure context (https or localhost); a till on a LAN address builds the v4 UUID itself.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function fillClientUuids(el) {
    (el || document).querySelectorAll("input[data-client-uuid]").forEach((input) => {
      if (!input.value) input.value = newUuid();
    });
  }

  fillClientUuids(document);
  if (window.htmx) htmx.onLoad(fillClientUuids);
  if (!scanField) return; // the return page needs only the above

  // --- focus: the scan field, unless the new content asks for another element ---------------------------------------
  let failedPanel = null; // id of the panel whose form was just refused: focus its first empty field again

  function workspace() {
    return document.getElementById("workspace");
  }

  function focusAfterSwap(status) {
    const ws = workspace();
    const wanted = ws && ws.querySelector("[data-autofocus]");
    if (wanted) return wanted.focus();
    if (status >= 400 && failedPanel) {
      const panel = document.getElementById(failedPanel);
      const fields = panel ? Array.from(panel.querySelectorAll("input:not([type=hidden]):not([readonly])")) : [];
      const field = (panel && panel.querySelector("[data-focus-on-error]")) || fields.find((i) => !i.value) || fields[0];
      if (field) return field.focus();
    }
    scanField.focus();
  }

  // --- requests in flight, and the 2 s poll -------------------------------------------------------------------------
  let busy = 0;

  function isTyping() {
    const a = document.activeElement;
    return !!(a && a !== scanField && a.closest && a.closest("#workspace") && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName));
  }

  function isPoll(e) {
    return e.detail.elt.hasAttribute("data-poll") && e.detail.requestConfig.verb === "get";
  }

  let actions = 0; // counts actions sent: a poll answer overtaken by an action is dropped (it would wipe its message)

  document.addEventListener("htmx:beforeRequest", (e) => {
    if (isPoll(e)) {
      // Do not swap the workspace away while the cashier types in it or while an action is on its way.
      if (busy || isTyping()) e.preventDefault();
      else e.detail.xhr.actionsBefore = actions;
      return;
    }
    busy++;
    actions++;
    const panel = e.detail.elt.closest && e.detail.elt.closest(".panel[id]");
    failedPanel = panel ? panel.id : null;
  });

  document.addEventListener("htmx:beforeSwap", (e) => {
    if (isPoll(e) && e.detail.xhr.actionsBefore !== actions) e.detail.shouldSwap = false;
  });

  document.addEventListener("htmx:afterRequest", (e) => {
    if (isPoll(e)) return;
    busy = Math.max(0, busy - 1);
    if (e.detail.xhr && e.detail.xhr.status && e.detail.xhr.status < 500) showAlert("");
  });

  document.addEventListener("htmx:afterSettle", (e) => {
    if (e.detail.target && e.detail.target.id === "workspace") {
      const status = e.detail.xhr ? e.detail.xhr.status : 200;
      if (e.detail.requestConfig && isPoll(e)) {
        if (!isTyping()) scanField.focus();
        return;
      }
      focusAfterSwap(status);
    }
  });

  // --- scans: sent in order, one at a time, never lost (htmx would keep only the last of queued requests) -----------
  let queue = Promise.resolve();

  function send(method, url, params) {
    actions++;
    queue = queue.then(async () => {
      busy++;
      try {
        const init = {method, credentials: "same-origin",
                      headers: {"HX-Request": "true", "X-CSRFToken": csrf ? csrf.content : ""}};
        if (method === "POST") init.body = new URLSearchParams(params);
        else url += "?" + new URLSearchParams(params);
        const response = await fetch(url, init);
        const html = await response.text();
        if (response.status === 204) return;
        if (isWholePage(html) || response.status >= 500) {
          handleWholePage(response.url, html);
          return;
        }
        showAlert("");
        failedPanel = null;
        htmx.swap(workspace(), html, {swapStyle: "outerHTML", swapDelay: 0, settleDelay: 0});
        focusAfterSwap(response.status);
      } catch (err) {
        showAlert(root.dataset.msgFailed);
      } finally {
        busy--;
      }
    });
    return queue;
  }

  // --- keyboard wedge ---------------------------------------------------------------------------------------------
  // A wedge scanner "types" its code in a burst (5–20 ms between keys) and ends with Enter; people need 100 ms or
  // more per key. Burst = at least BURST_MIN_CHARS keys with (nearly) every gap, Enter included, under BURST_GAP_MS:
  // one stall of the browser's main thread (a swap, garbage collection) may stretch a gap or two, so 80 % suffice.
  // A scanner programmed to send an AIM identifier first ("]E0" EAN-13, "]C1" GS1-128, "]d2" DataMatrix) is
  // recognised by that prefix too. Scans and typed codes go to /scan; words typed by a person (no digit: a name,
  // pinyin initials) go to the search.
  const BURST_GAP_MS = 30;
  const BURST_MIN_CHARS = 6;
  const BURST_SHARE = 0.8;
  const AIM_PREFIX = /^\][A-Za-z][0-9]/;
  const GS = "\x1d";
  let stamps = []; // key times since the field was last empty

  // GS1 data separates variable-length fields with GS (0x1D). Wedges send it as Ctrl+] (or drop it); Chromium
  // inserts nothing for Ctrl+], so we put the character in ourselves.
  function isGsKey(e) {
    if (e.key === GS) return true;
    return e.ctrlKey && !e.altKey && !e.metaKey && (e.key === "]" || e.code === "BracketRight" || e.keyCode === 221);
  }

  function isBurst(times) {
    if (times.length < BURST_MIN_CHARS + 1) return false; // the characters plus the final Enter
    let fast = 0;
    for (let i = 1; i < times.length; i++) if (times[i] - times[i - 1] < BURST_GAP_MS) fast++;
    return fast >= BURST_SHARE * (times.length - 1);
  }

  function insertAtCursor(field, text) {
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? field.value.length;
    field.value = field.value.slice(0, start) + text + field.value.slice(end);
    field.selectionStart = field.selectionEnd = start + text.length;
  }

  function submitScan(enterTime) {
    const raw = scanField.value;
    const wedge = AIM_PREFIX.test(raw) || (enterTime !== undefined && isBurst(stamps.concat([enterTime])));
    stamps = [];
    scanForm.dataset.lastEntry = wedge ? "wedge" : "keyboard"; // for the curious (and the browser test)
    scanField.value = ""; // cleared at once: the next scan may already be arriving
    if (!raw.trim()) return;
    if (!wedge && !/[0-9]/.test(raw)) {
      send("GET", root.dataset.searchUrl, {q: raw.trim()});
    } else {
      send("POST", scanForm.action, {raw, via: wedge ? "wedge" : "keyboard"});
    }
  }

  scanField.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      submitScan(e.timeStamp);
    } else if (isGsKey(e)) {
      e.preventDefault();
      insertAtCursor(scanField, GS);
      stamps.push(e.timeStamp);
    } else if (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey) {
      stamps.push(e.timeStamp);
    }
  });
  scanField.addEventListener("input", () => {
    if (!scanField.value) stamps = [];
  });
  scanForm.addEventListener("submit", (e) => { // the Enter button, clicked
    e.preventDefault();
    submitScan();
  });

  // --- hotkeys ------------------------------------------------------------------------------------------------------
  function isEditable(el) {
    return el && (/^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName) || el.isContentEditable);
  }

  function lastLine() {
    const rows = document.querySelectorAll("#cart tr.line");
    return rows.length ? rows[rows.length - 1] : null;
  }

  function say(text) {
    showAlert(text);
    setTimeout(() => showAlert(""), 3000);
  }

  const hotkeys = {
    F2() { // quantity of the last line
      const row = lastLine();
      const input = row && row.querySelector(".qty-input");
      if (!input) return say(root.dataset.msgNoLines);
      input.focus();
      input.select();
    },
    F4() { // hold the cart
      const button = document.getElementById("hold-button");
      if (button && !button.disabled) button.click();
    },
    F6() { // held carts: focus the first "resume"
      const button = document.querySelector("#held-panel .resume");
      if (!button) return say(root.dataset.msgNoHeld);
      button.focus();
    },
    F8() { // pay: the cash field
      const cash = document.getElementById("pay-cash");
      if (cash) {
        cash.focus();
        cash.select();
      }
    },
    F9() { // returns
      location.href = root.dataset.returnUrl;
    },
    F10() { // reprint the register's last sale
      const id = workspace() && workspace().dataset.lastSaleId;
      if (!id) return say(root.dataset.msgNoSale);
      htmx.ajax("POST", `${base}/sales/${id}/reprint`, {target: "#workspace", swap: "outerHTML"});
    },
    Escape() {
      document.querySelectorAll("#workspace details[open]").forEach((d) => d.removeAttribute("open"));
      scanField.focus();
    },
  };

  document.addEventListener("keydown", (e) => {
    if (hotkeys[e.key] && !e.ctrlKey && !e.altKey && !e.metaKey) {
      e.preventDefault();
      hotkeys[e.key]();
      return;
    }
    const target = e.target;
    if (e.key === "Delete" && (target === scanField ? !scanField.value : !isEditable(target))) {
      const row = lastLine();
      if (row && confirm(root.dataset.confirmRemove)) {
        row.querySelector(".remove-cell form").requestSubmit();
      }
      e.preventDefault();
      return;
    }
    // Keys typed while no field has the focus (after a click on a button, say) belong to the scan field.
    if (target !== scanField && !isEditable(target) && (isGsKey(e) || e.key === "Enter" && scanField.value ||
        (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey))) {
      if (e.key === "Enter" && target.tagName === "BUTTON") return; // Enter on a button presses it
      e.preventDefault();
      scanField.focus();
      if (e.key === "Enter") return submitScan(e.timeStamp);
      insertAtCursor(scanField, isGsKey(e) ? GS : e.key);
      stamps.push(e.timeStamp);
    }
  });

  // The form in a panel answers with the workspace; the scan field gets the focus back (see focusAfterSwap).
  scanField.focus();
})();
