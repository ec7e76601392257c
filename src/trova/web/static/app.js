// Trova web app: upload progress and drag-and-drop, live progress of a search. No framework.
"use strict";

function bindUpload() {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("leads");
  const drop = document.getElementById("drop");
  const bar = document.getElementById("upload-progress");
  ["dragenter", "dragover"].forEach((name) => drop.addEventListener(name, (event) => {
    event.preventDefault(); drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => drop.addEventListener(name, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) input.files = event.dataTransfer.files;
  });
  form.addEventListener("submit", (event) => {
    if (!window.FormData || !input.files.length) return;
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    bar.hidden = false;
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    });
    request.addEventListener("load", () => {
      if (request.responseURL && new URL(request.responseURL).pathname !== new URL(form.action).pathname) {
        window.location.assign(request.responseURL);
        return;
      }
      const page = new DOMParser().parseFromString(request.responseText, "text/html");
      document.querySelector("main").replaceWith(page.querySelector("main"));
      bindUpload();
    });
    request.addEventListener("error", () => form.submit());
    request.send(new FormData(form));
  });
}

function bindProgress() {
  const box = document.getElementById("progress-box");
  if (!box || box.dataset.status !== "ongoing") return;
  const format = new Intl.NumberFormat(document.documentElement.lang);
  const poll = () => {
    fetch(box.dataset.progressUrl, { credentials: "same-origin" })
      .then((answer) => answer.json())
      .then((state) => {
        // a run that ended is shown by the server's page (results, cost): the status word
        // changes only there, so a reader never sees "completed" above an empty table
        if (state.status !== "ongoing") {
          window.location.reload();
          return;
        }
        document.getElementById("progress").value = state.finished;
        document.getElementById("found").textContent = format.format(state.found);
        document.getElementById("finished").textContent = format.format(state.finished);
        const status = document.getElementById("status");
        status.textContent = state.status;
        status.className = "status " + state.status;
        window.setTimeout(poll, 1000);
      })
      .catch(() => window.setTimeout(poll, 3000));
  };
  window.setTimeout(poll, 500);
}

document.addEventListener("DOMContentLoaded", () => { bindUpload(); bindProgress(); });
