// Receiving: a scan of the pack (GS1 DataMatrix element string, trace code, EAN-13) fills the row of its order line
// with GTIN, lot and dates; the receiver checks them against the delivery note. Wedge scanners send GS (0x1D) as
// Ctrl+], which Chromium does not insert by itself, so we put the character in (as pos.js does).
(function () {
  const form = document.getElementById("scan-form");
  const field = document.getElementById("scan");
  const message = document.getElementById("scan-message");
  if (!form || !field) return;
  const GS = "\x1d";

  function isGsKey(e) {
    if (e.key === GS) return true;
    return e.ctrlKey && !e.altKey && !e.metaKey && (e.key === "]" || e.code === "BracketRight" || e.keyCode === 221);
  }

  function say(text, kind) {
    message.hidden = false;
    message.className = "flash " + kind;
    message.textContent = text;
  }

  function rowFor(orderLineId) {
    // The first row of that order line without a lot number yet; else a spare row, set to that order line.
    const rows = Array.from(document.querySelectorAll("#receive-lines tbody tr"));
    const named = (row, name) => row.querySelector(`[name$="-${name}"]`);
    let row = rows.find((r) => r.dataset.orderLine === String(orderLineId) && !named(r, "lot_no").value);
    if (!row) {
      row = rows.find((r) => !r.dataset.orderLine && !named(r, "lot_no").value);
      if (row) named(row, "order_line_id").value = String(orderLineId);
    }
    return row ? {row, named: (name) => named(row, name)} : null;
  }

  async function read(code) {
    const response = await fetch(form.dataset.scanUrl + "?code=" + encodeURIComponent(code),
                                 {headers: {"Accept": "application/json"}});
    const body = await response.json();
    if (!response.ok) return say(body.error.message, "error");
    if (!body.order_line_id) return say(body.lot_no ? body.lot_no : code, "warning");
    const target = rowFor(body.order_line_id);
    if (!target) return say(body.drug, "warning");
    for (const name of ["lot_no", "expiry_date", "production_date", "gtin", "trace_code"]) {
      if (body[name]) target.named(name).value = body[name];
    }
    say(`${body.drug} · ${body.lot_no || ""} · ${body.expiry_date || ""}`, "success");
    target.named(body.production_date ? "packages" : "production_date").focus();
  }

  field.addEventListener("keydown", (e) => {
    if (isGsKey(e)) {
      e.preventDefault();
      const start = field.selectionStart ?? field.value.length;
      field.value = field.value.slice(0, start) + GS + field.value.slice(field.selectionEnd ?? start);
      field.selectionStart = field.selectionEnd = start + 1;
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const code = field.value;
    field.value = "";
    if (code.trim()) read(code);
  });
})();
