// The installer's bay drawing (page: templates/installer.html, which hands over its data as JSON).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("installer-data").textContent);  // no inline script: strict CSP
  const csrf = data.csrf, T = data.t, bays = data.bays;  // bays: where the agent places them on this picture
  const canvas = document.getElementById("draw"), ctx = canvas.getContext("2d");
  const img = document.getElementById("snap");
  const list = document.getElementById("bay-list"), idInput = document.getElementById("bay-id");
  const cornerList = document.getElementById("corner-list"), say = document.getElementById("corner-say");
  const COLOURS = ["#16a34a", "#2563eb", "#ea580c", "#9333ea", "#0891b2", "#ca8a04"];
  // A Save refused with "reload the page and draw again" (the camera moved, a Save elsewhere, the session ended)
  // lost the drawing with the reload it asked for. The drawing is kept in this tab (sessionStorage) and put back
  // once on the next load, on the new picture: the Save is then on that picture (the 409 rule is the server's).
  const DRAFT = "edge-agent.installer.draft";
  let kept = null;
  try { kept = JSON.parse(sessionStorage.getItem(DRAFT) || "null"); sessionStorage.removeItem(DRAFT); } catch (e) { kept = null; }
  if (kept && Array.isArray(kept.bays)) {
    bays.splice(0, bays.length, ...kept.bays);
    document.getElementById("kept").hidden = false;
  } else kept = null;
  let sel = bays.length ? 0 : -1, drag = -1, last = -1;  // last: the corner touched last (phones have no double-click)
  let pick = -1;  // a corner pressed in the list: the next click on the picture puts it there (no drag: WCAG 2.5.7)

  function pictureSize() { return img && img.naturalWidth ? [img.naturalWidth, img.naturalHeight] : undefined; }
  function keepDraft() {
    try { sessionStorage.setItem(DRAFT, JSON.stringify({bays, size: pictureSize()})); } catch (e) { /* private mode */ }
  }
  function fit() {  // the canvas uses image pixels; CSS scales it, so saved points are never guessed
    if (img && img.naturalWidth) { canvas.width = img.naturalWidth; canvas.height = img.naturalHeight; }
    const was = kept && kept.size;  // a kept drawing made on a picture of another size: the same place in this one
    if (was && img && img.naturalWidth && (was[0] !== img.naturalWidth || was[1] !== img.naturalHeight)) {
      const kx = img.naturalWidth / was[0], ky = img.naturalHeight / was[1];
      bays.forEach(b => { b.polygon = b.polygon.map(p => [Math.round(p[0] * kx), Math.round(p[1] * ky)]); });
    }
    kept = null;
    draw();
  }
  function scale() { return canvas.width / canvas.getBoundingClientRect().width; }
  function pos(ev) {
    const r = canvas.getBoundingClientRect(), s = scale();
    return [Math.round((ev.clientX - r.left) * s), Math.round((ev.clientY - r.top) * s)];
  }
  function hit(p) {  // index of a corner of the selected bay near p, or -1
    if (sel < 0) return -1;
    const tol = 14 * scale();
    return bays[sel].polygon.findIndex(q => Math.hypot(q[0] - p[0], q[1] - p[1]) <= tol);
  }
  function draw() {
    const s = scale() || 1;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    bays.forEach((b, i) => {
      const c = COLOURS[i % COLOURS.length], pts = b.polygon;
      ctx.lineWidth = (i === sel ? 4 : 2.5) * s; ctx.strokeStyle = c; ctx.fillStyle = c + (i === sel ? "40" : "22");
      if (pts.length) {
        ctx.beginPath(); pts.forEach((p, k) => k ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1]));
        ctx.closePath(); if (pts.length > 2) ctx.fill(); ctx.stroke();
        pts.forEach(p => { ctx.beginPath(); ctx.arc(p[0], p[1], (i === sel ? 8 : 5) * s, 0, 7);
          ctx.fillStyle = i === sel ? "#fff" : c; ctx.fill(); ctx.stroke(); });
        const cx = pts.reduce((a, p) => a + p[0], 0) / pts.length, cy = pts.reduce((a, p) => a + p[1], 0) / pts.length;
        ctx.font = `bold ${Math.round(22 * s)}px sans-serif`; ctx.textAlign = "center";
        ctx.lineWidth = 4 * s; ctx.strokeStyle = "#000a"; ctx.strokeText(b.id, cx, cy); ctx.fillStyle = "#fff"; ctx.fillText(b.id, cx, cy);
      }
    });
    list.innerHTML = "";
    bays.forEach((b, i) => {  // a button each: a bay is selected by keyboard too (Tab, Enter / Space)
      const li = document.createElement("li"), button = document.createElement("button");
      button.type = "button";
      button.textContent = `${b.id} · ${b.polygon.length} ${T.corners}`;
      button.style.borderLeftColor = COLOURS[i % COLOURS.length];
      button.setAttribute("aria-pressed", String(i === sel));
      button.onclick = () => select(i);
      li.appendChild(button);
      list.appendChild(li);
    });
    idInput.disabled = sel < 0;
    drawCorners();
  }
  // The selected bay's corners as buttons: Tab to one, the arrow keys move it (1 px, Shift 10 px) in the picture's
  // pixels, the ones the pointer and the Save use; Delete removes it. Drawing needed a pointer before (WCAG 2.1.1).
  const px = v => Math.round(v * 10) / 10;  // a placed outline may carry tenths (a followed shift)
  function say_(text, k) {  // a message's {bay}, {n}, {x}, {y}, {left} for corner k of the selected bay
    const p = bays[sel].polygon[k] || ["", ""];
    return text.replace("{bay}", bays[sel].id).replace("{n}", k + 1).replace("{x}", px(p[0]))
      .replace("{y}", px(p[1])).replace("{left}", bays[sel].polygon.length);
  }
  // A corner's name is its whole sentence ("A1 角点 1：x 40，y 300"); the part from its number on is shown, the rest
  // read only: the shown words are in the name (WCAG 2.5.3, a voice user says what is seen), and it fits two columns.
  const SHOWN_FROM = T.corner_at.indexOf("{n}");
  function drawCorners() {
    const pts = sel >= 0 ? bays[sel].polygon : [];
    const focused = cornerList.contains(document.activeElement);
    if (cornerList.children.length !== pts.length || cornerList.dataset.bay !== String(sel)) {
      cornerList.innerHTML = "";
      pts.forEach((p, k) => {
        const li = document.createElement("li"), button = document.createElement("button");
        button.type = "button";
        const hidden = document.createElement("span");
        hidden.className = "visually-hidden";
        button.append(hidden, document.createElement("span"));
        button.onclick = () => { last = pick = k; draw(); announce(T.corner_pick, k); };
        button.addEventListener("keydown", ev => cornerKey(ev, k));
        li.appendChild(button);
        cornerList.appendChild(li);
      });
      cornerList.dataset.bay = String(sel);
    }
    pts.forEach((p, k) => {  // in place: a keyboard user's focus stays on the corner it moves
      const button = cornerList.children[k].firstChild;
      button.children[0].textContent = say_(T.corner_at.slice(0, SHOWN_FROM), k);
      button.children[1].textContent = say_(T.corner_at.slice(SHOWN_FROM), k);
      button.setAttribute("aria-pressed", String(k === last));
    });
    if (focused && last >= 0 && last < pts.length && !cornerList.contains(document.activeElement)) {
      cornerList.children[last].firstChild.focus();
    }
  }
  function announce(text, k) { say.textContent = say_(text, k); }  // a live region: where the corner is now
  function clamp(p) {  // as a dragged corner: on the picture
    return [Math.max(0, Math.min(canvas.width, Math.round(p[0]))), Math.max(0, Math.min(canvas.height, Math.round(p[1])))];
  }
  const STEPS = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};
  function cornerKey(ev, k) {
    const pts = bays[sel].polygon, step = STEPS[ev.key];
    if (step) {
      const n = ev.shiftKey ? 10 : 1;
      pts[k] = clamp([Math.round(pts[k][0]) + step[0] * n, Math.round(pts[k][1]) + step[1] * n]);
      last = k; pick = -1; ev.preventDefault(); draw(); announce(T.corner_at, k);
    } else if (ev.key === "Delete" || ev.key === "Backspace") {
      pts.splice(k, 1); ev.preventDefault();
      last = pts.length ? Math.min(k, pts.length - 1) : -1; pick = -1;
      draw(); announce(T.corner_gone, k);
      if (last >= 0) cornerList.children[last].firstChild.focus(); else document.getElementById("add-corner").focus();
    }
  }
  function select(i) {
    const focused = list.contains(document.activeElement);  // draw() rebuilds the list: keep a keyboard user's place
    sel = i; last = pick = -1; idInput.value = sel >= 0 ? bays[sel].id : ""; draw();
    if (focused && sel >= 0) list.children[sel].firstChild.focus();
  }
  canvas.addEventListener("pointerdown", ev => {
    const p = pos(ev); let k = hit(p);
    if (pick >= 0 && sel >= 0 && pick < bays[sel].polygon.length && k < 0) {  // the corner pressed in the list
      bays[sel].polygon[pick] = clamp(p); last = pick; pick = -1; draw(); announce(T.corner_at, last);
      return;
    }
    pick = -1;
    if (sel < 0) { bays.push({id: "bay" + (bays.length + 1), polygon: []}); select(bays.length - 1); }
    if (k < 0) { bays[sel].polygon.push(p); k = bays[sel].polygon.length - 1; }
    drag = last = k; canvas.setPointerCapture(ev.pointerId); draw();
  });
  canvas.addEventListener("pointermove", ev => {
    if (drag < 0) return;
    const p = pos(ev);
    bays[sel].polygon[drag] = [Math.max(0, Math.min(canvas.width, p[0])), Math.max(0, Math.min(canvas.height, p[1]))];
    draw();
  });
  canvas.addEventListener("pointerup", () => { drag = -1; });
  canvas.addEventListener("dblclick", ev => {
    const k = hit(pos(ev));
    if (k >= 0) { bays[sel].polygon.splice(k, 1); draw(); }
  });
  document.getElementById("add-bay").onclick = () => {
    let n = bays.length + 1; while (bays.some(b => b.id === "bay" + n)) n++;
    bays.push({id: "bay" + n, polygon: []}); select(bays.length - 1); idInput.focus();
  };
  document.getElementById("add-corner").onclick = () => {  // by keyboard: then the arrow keys put it in place
    if (sel < 0) { bays.push({id: "bay" + (bays.length + 1), polygon: []}); select(bays.length - 1); }
    const pts = bays[sel].polygon, a = pts[pts.length - 1], b = pts[0];
    // on the closing edge (between the last corner and the first), else the middle of the picture
    const p = pts.length >= 2 ? [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]
      : pts.length === 1 ? [a[0] + 40, a[1]] : [canvas.width / 2, canvas.height / 2];
    pts.push(clamp(p)); last = pts.length - 1; pick = -1; draw();
    cornerList.children[last].firstChild.focus(); announce(T.corner_at, last);
  };
  document.getElementById("del-corner").onclick = () => {
    if (sel < 0 || !bays[sel].polygon.length) return;
    const pts = bays[sel].polygon;
    pts.splice(last >= 0 && last < pts.length ? last : pts.length - 1, 1); last = -1; draw();
  };
  document.getElementById("del-bay").onclick = () => {
    if (sel >= 0) { bays.splice(sel, 1); select(bays.length - 1); }
  };
  idInput.addEventListener("input", () => { if (sel >= 0) { bays[sel].id = idInput.value.trim(); draw(); } });
  document.getElementById("save").onclick = async () => {
    const out = document.getElementById("result");
    out.className = ""; out.textContent = "…";
    const size = pictureSize();  // what was drawn on
    newPicture.hidden = true;
    const r = await fetch("/installer", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf}, body: JSON.stringify({bays, size, picture: data.picture})});
    const body = await r.json().catch(() => ({}));
    if (r.ok && body.ok) {
      try { sessionStorage.removeItem(DRAFT); } catch (e) { /* private mode */ }
      // saved, but the agent may have refused the reload (a lock change waiting for a restart, models it cannot
      // load): green "Saved; the agent is reloading" then read as applied while the old bays ran on
      const applied = !body.reload || body.reload.ok;
      out.className = applied ? "flash ok" : "flash error";
      const why = (body.reload && body.reload.message) || "";
      out.textContent = applied ? `${T.saved} (${why})` : `${T.saved_not_applied}: ${why}`;
      return;
    }
    out.className = "flash error";
    // the camera moved beyond what the bays follow since this picture: nothing was saved (the server carries a
    // drawing over a smaller move to the view as it is now)
    if (body.view_moved) out.textContent = T.view_moved;
    // another page's Save (or a confirmed view) took a new reference since this picture: nothing was saved
    else if (body.stale) out.textContent = T.stale;
    else if (body.problems) out.textContent = `${T.invalid}: ` + body.problems.join("; ");
    // not the config: the session ended, a later login replaced this page's token, or the role was taken
    // away ("Invalid config: 401 Unauthorized" before). Nothing was saved; the drawing is still on the page.
    else if (r.status === 401) out.textContent = T.login_expired;
    else if (r.status === 403) out.textContent = body.detail ? `${T.not_allowed}: ${body.detail}` : T.page_expired;
    // the audit log or the database cannot be written, a full disk: the error page's words, in the page's language
    // ("未保存: 503 Service Unavailable" before); the drawing is kept for a reload when it can be saved
    else if (body.title) { out.textContent = `${body.title}: ${body.message}`; keepDraft(); }
    else out.textContent = `${T.not_saved}: ${r.status} ${body.detail || r.statusText}`;
    // each of these asks for a reload: the drawing goes with it (the button, or the browser's own reload)
    if (body.view_moved || body.stale || r.status === 401 || (r.status === 403 && !body.detail)) {
      keepDraft();
      newPicture.hidden = false;
    }
  };
  const newPicture = document.getElementById("new-picture");
  newPicture.onclick = () => { keepDraft(); window.location.reload(); };
  window.addEventListener("resize", draw);
  if (img) { img.complete ? fit() : img.addEventListener("load", fit); }
  select(sel);
})();
