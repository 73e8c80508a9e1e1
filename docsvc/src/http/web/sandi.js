// sandi's only script: the compose page (review, PIN, upload with progress) and the print
// button. Everything else works as plain forms and links.
"use strict";

function csrf() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.content : "";
}

function list(text) {
  return text.split(/[\s,;]+/).map((s) => s.trim()).filter((s) => s.length > 0);
}

// A problem document's message in the page's language.
function problemText(form, status, text) {
  let p = {};
  try { p = JSON.parse(text); } catch (_) { /* not JSON */ }
  const lang = form.dataset.lang;
  const why = (lang === "en" ? p.reason : p.alasan) || p.detail || ("HTTP " + status);
  return form.dataset.failed + ": " + why;
}

function compose(form) {
  const sign = document.getElementById("sign");
  const summary = document.getElementById("summary");
  const error = document.getElementById("error");
  const status = document.getElementById("status");
  const progress = document.getElementById("progress");
  const send = document.getElementById("send");
  const showError = (msg) => { error.textContent = msg; error.hidden = false; send.disabled = false; };

  const isi = document.getElementById("isi");
  const file = document.getElementById("body");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    summary.textContent = "";
    if (!isi.value.trim() && file.files.length === 0) { showError(form.dataset.noBody); isi.focus(); return; }
    const fields = [["kode", "kode"], ["nomor", "nomor"], ["perihal", "perihal"], ["sifat", "sifat"], ["derajat", "derajat"],
      ["kepada", "kepada"], ["tembusan", "tembusan"], isi.value.trim() ? ["isi", "isi"] : ["body", "body"]];
    for (const [id] of fields) {
      const el = document.getElementById(id);
      if (!el) { continue; }
      const dt = document.createElement("dt");
      dt.textContent = document.querySelector('label[for="' + id + '"]').textContent;
      const dd = document.createElement("dd");
      dd.textContent = el.tagName === "SELECT" ? el.options[el.selectedIndex].text
        : el.type === "file" ? Array.from(el.files).map((f) => f.name).join(", ")
          : el.value.length > 300 ? el.value.slice(0, 300) + "…" : el.value;
      summary.append(dt, dd);
    }
    sign.hidden = false;
    error.hidden = true;
    document.getElementById("review").hidden = true;
    document.getElementById("pin").focus();
  });

  document.getElementById("back").addEventListener("click", () => {
    sign.hidden = true;
    document.getElementById("review").hidden = false;
    document.getElementById("kode").focus();
  });

  send.addEventListener("click", async () => {
    error.hidden = true;
    send.disabled = true;
    const pin = document.getElementById("pin");
    const step = await fetch("/api/v1/session/step-up", {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf() },
      body: JSON.stringify({ pin: pin.value }),
    });
    pin.value = "";
    if (step.status === 401 || step.status === 400) { showError(form.dataset.wrongPin); pin.focus(); return; }
    if (!step.ok) { showError(problemText(form, step.status, await step.text())); return; }

    const nomor = document.getElementById("nomor");
    const meta = {
      nomor: nomor ? nomor.value : "",
      kode: document.getElementById("kode").value,
      perihal: document.getElementById("perihal").value,
      classification: document.getElementById("sifat").value,
      urgency: document.getElementById("derajat").value,
      recipients: list(document.getElementById("kepada").value),
      copies: list(document.getElementById("tembusan").value),
    };
    const onBehalf = document.getElementById("on-behalf");
    if (onBehalf && onBehalf.value) { meta.on_behalf = onBehalf.value; }
    const refersId = document.getElementById("refers-id");
    if (refersId) {
      meta.refers = { kind: document.getElementById("refers-kind").value, id: refersId.value };
    }
    const data = new FormData();
    data.append("metadata", new Blob([JSON.stringify(meta)], { type: "application/json" }));
    if (isi.value.trim()) {
      // The node renders the words as the letter's PDF and signs it.
      const naskah = { isi: isi.value };
      for (const k of ["tempat", "lampiran"]) {
        const v = document.getElementById(k).value.trim();
        if (v) { naskah[k] = v; }
      }
      naskah.jenis = document.getElementById("c-jenis").value;
      const acara = {};
      for (const [k, id] of [["hari", "c-hari"], ["waktu", "c-waktu"], ["tempat", "c-tempat_acara"], ["acara", "c-acara"]]) {
        acara[k] = document.getElementById(id).value.trim();
      }
      if (naskah.jenis === "surat_undangan" && Object.values(acara).some((v) => v)) { naskah.acara = acara; }
      data.append("naskah", new Blob([JSON.stringify(naskah)], { type: "application/json" }));
    } else {
      // A finished letter as PDF is marked and signed in place by the node; text stays a file.
      const body = file.files[0];
      const pdf = body.type === "application/pdf" || body.name.toLowerCase().endsWith(".pdf");
      data.append(pdf ? "surat" : "body", body, body.name);
    }
    for (const f of document.getElementById("attachments").files) { data.append("attachment", f, f.name); }

    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/documents");
    xhr.setRequestHeader("x-csrf-token", csrf());
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        progress.value = Math.round((100 * e.loaded) / e.total);
        status.textContent = progress.value + "%";
      }
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201) {
        const made = JSON.parse(xhr.responseText);
        window.location.assign("/ui/letters/" + encodeURIComponent(made.id) + "?sent=1");
      } else {
        progress.value = 0;
        showError(problemText(form, xhr.status, xhr.responseText));
      }
    });
    xhr.addEventListener("error", () => showError(form.dataset.failed));
    xhr.send(data);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("compose");
  if (form) { compose(form); }
  const print = document.getElementById("print");
  if (print) { print.addEventListener("click", () => window.print()); }
});
