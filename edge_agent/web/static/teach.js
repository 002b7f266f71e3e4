// The installer's "teach this camera" (page: templates/teach.html, which hands over its data as JSON): each bay
// tinted by the classifier's guess, a click (or its button) flips it, "Add this frame" stores the labels.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("teach-data").textContent);  // no inline script: strict CSP
  const csrf = data.csrf, T = data.t, bays = data.bays;
  const canvas = document.getElementById("teach-draw"), ctx = canvas.getContext("2d");
  const img = document.getElementById("snap"), list = document.getElementById("teach-bays");
  const countsOut = document.getElementById("teach-counts"), resultOut = document.getElementById("teach-result");
  const addButton = document.getElementById("teach-add"), useButton = document.getElementById("teach-use");
  const calButton = document.getElementById("teach-calibrate");
  let job = null;  // the fit whose result is shown: "Use it" names it
  // Calibrate only with enough labels of each kind and no fit running (the fit refused fewer, in English words)
  let enough = false, running = false;
  const calibrable = () => { calButton.disabled = running || !enough; };
  const fmt = (text, values) => Object.keys(values).reduce((s, k) => s.split(`{${k}}`).join(values[k]), text);
  const pct = v => (typeof v === "number" ? (v * 100).toLocaleString(data.lang === "zh" ? "zh-CN" : "en", {maximumFractionDigits: 1}) + "%" : "–");

  function fit() {
    if (img && img.naturalWidth) { canvas.width = img.naturalWidth; canvas.height = img.naturalHeight; }
    draw();
  }
  function inside(p, poly) {  // ray casting: is the picture point p within the bay's outline
    let c = false;
    for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
      const [xi, yi] = poly[i], [xj, yj] = poly[j];
      if ((yi > p[1]) !== (yj > p[1]) && p[0] < (xj - xi) * (p[1] - yi) / (yj - yi) + xi) c = !c;
    }
    return c;
  }
  function draw() {
    const s = canvas.width / (canvas.getBoundingClientRect().width || canvas.width);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    bays.forEach(b => {
      const c = colour(b), pts = b.polygon;
      if (!pts.length) return;
      ctx.beginPath(); pts.forEach((p, k) => k ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])); ctx.closePath();
      ctx.fillStyle = c + "55"; ctx.fill(); ctx.lineWidth = 3 * s; ctx.strokeStyle = c; ctx.stroke();
      const cx = pts.reduce((a, p) => a + p[0], 0) / pts.length, cy = pts.reduce((a, p) => a + p[1], 0) / pts.length;
      ctx.font = `bold ${Math.round(22 * s)}px sans-serif`; ctx.textAlign = "center";
      const text = `${b.id} ${b.unseen ? T.unseen : b.occupied ? T.occupied : T.empty}${b.unsure ? " ?" : ""}`;
      ctx.lineWidth = 4 * s; ctx.strokeStyle = "#000a"; ctx.strokeText(text, cx, cy); ctx.fillStyle = "#fff"; ctx.fillText(text, cx, cy);
    });
    list.innerHTML = "";
    bays.forEach(b => {
      const li = document.createElement("li"), button = document.createElement("button");
      button.type = "button";
      button.dataset.bay = b.id;
      button.textContent = `${b.id} · ${b.unseen ? T.unseen : b.occupied ? T.occupied : T.empty}${b.unsure ? " ?" : ""}` +
        (b.p === null ? "" : ` (p ${b.p.toFixed(2)})`);
      button.disabled = b.unseen;
      button.setAttribute("aria-pressed", String(!!b.occupied));
      button.style.borderLeftColor = colour(b);
      button.onclick = () => flip(b);
      li.appendChild(button);
      list.appendChild(li);
    });
  }
  // red occupied, green empty, amber while the classifier was unsure and nobody has touched it, grey not visible
  function colour(b) { return b.unseen ? "#9ca3af" : b.unsure ? "#d97706" : b.occupied ? "#dc2626" : "#16a34a"; }
  function flip(b) { if (!b.unseen) { b.occupied = !b.occupied; b.unsure = false; draw(); } }
  canvas.addEventListener("click", ev => {
    const r = canvas.getBoundingClientRect(), s = canvas.width / r.width;
    const p = [(ev.clientX - r.left) * s, (ev.clientY - r.top) * s];
    const b = bays.find(x => inside(p, x.polygon));
    if (b) flip(b);
  });
  function showCounts(c) {
    if (!c) return;
    enough = !c.error && !!c.enough; calibrable();
    if (c.error) { countsOut.className = "flash error"; countsOut.textContent = c.error; return; }
    countsOut.className = c.enough ? "flash ok" : "";
    countsOut.textContent = fmt(T.counts, {frames: c.frames, max: c.max_frames, occupied: c.occupied, empty: c.empty}) +
      " " + (c.blank ? fmt(T.blank, {n: c.blank}) : c.enough ? T.enough : fmt(T.more, {min: c.min_per_class}));
  }
  // a refusal the server names by its code in the page's words (numbers as the page shows them), else its text
  function words(said) {
    const text = said && said.code && T.why[said.code];
    if (!text) return "";
    const v = Object.assign({}, said.values || {});
    if (typeof v.before === "number") v.before = pct(v.before);
    return fmt(text, v);
  }
  function problem(r, body) {  // a refusal in the page's words where it has them
    if (words(body)) return words(body);
    if (r.status === 401) return T.login_expired;
    if (r.status === 403) return body.detail ? `${T.not_allowed}: ${body.detail}` : T.page_expired;
    if (body.title) return `${body.title}: ${body.message}`;
    return (body.problems || [body.detail || `${r.status} ${r.statusText}`]).join("; ");
  }
  async function post(path, payload) {
    const r = await fetch(path, {method: "POST", credentials: "same-origin", body: JSON.stringify(payload),
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf}});
    return [r, await r.json().catch(() => ({}))];
  }
  addButton.onclick = async () => {
    addButton.disabled = true;
    const labels = bays.filter(b => !b.unseen).map(b => ({id: b.id, occupied: b.occupied ? 1 : 0}));
    const [r, body] = await post("/installer/teach/frame", {picture: data.picture, labels});
    if (r.ok && body.ok) {
      resultOut.className = "flash ok"; resultOut.textContent = T.added; showCounts(body.counts);
      return;  // this picture is labelled: a new one (the button below) for the next
    }
    addButton.disabled = false;
    resultOut.className = "flash error"; resultOut.textContent = `${T.not_added}: ${problem(r, body)}`;
  };
  function showResult(res) {
    useButton.hidden = true;
    if (!res) return;
    job = res.job;
    running = res.state === "running"; calibrable();
    if (res.state === "running") { resultOut.className = ""; resultOut.textContent = T.running; setTimeout(poll, 1000); return; }
    if (res.state !== "done") { resultOut.className = "flash error"; resultOut.textContent = fmt(T.refused, {why: words(res) || res.message || ""}); return; }
    const numbers = fmt(T.result, {before: pct(res.before), after: pct(res.after), recall_before: pct(res.recall_before),
      recall_after: pct(res.recall_after), frames: res.frames, occupied: res.occupied, empty: res.empty});
    // offered when not worse (as the command writes it): "better" only when the numbers shown say so (under
    // "100% -> 100%" it said "better")
    const better = Math.round(res.after * 1000) > Math.round(res.before * 1000);
    // a frame whose flags look swapped first: its fix is that frame, not "more frames"
    const why = res.swapped && res.swapped.length ? fmt(T.swapped, {frames: res.swapped.join(", ")})
      : res.worse ? T.worse : res.fewer_cars ? T.fewer_cars
      : res.one_light ? fmt(T.one_light, {span: (res.span_h || 0).toFixed(1), min: res.min_span_h})
      : res.one_day ? fmt(T.one_day, {apart: (res.apart_h || 0).toFixed(1), min: res.min_apart_h})
      : better ? T.usable : T.usable_same;
    resultOut.className = res.usable ? "flash ok" : "flash error";
    resultOut.textContent = `${numbers} ${why}`;
    useButton.hidden = !res.usable;
  }
  async function poll() {
    const r = await fetch("/installer/teach/status", {credentials: "same-origin", headers: {"Accept": "application/json"}});
    const body = await r.json().catch(() => ({}));
    showCounts(body.counts); showResult(body.result);
  }
  calButton.onclick = async () => {
    const [r, body] = await post("/installer/teach/calibrate", {});
    if (r.ok && body.ok) { showResult({job: body.job, state: "running"}); return; }
    resultOut.className = "flash error"; resultOut.textContent = fmt(T.refused, {why: problem(r, body)});
  };
  const backButton = document.getElementById("teach-back"), shippedButton = document.getElementById("teach-shipped");
  function showWayBack(w) {  // what the server says can be gone back to, after each change
    if (!w) return;
    backButton.hidden = !w.previous; shippedButton.hidden = !w.shipped;
    document.getElementById("teach-way-back-help").hidden = !(w.previous || w.shipped);
  }
  // "Use it" and both ways back: the same answer (saved, the agent's reload, what can be gone back to now)
  function applied(r, body, done) {
    if (r.ok && body.ok) {
      const ok = !body.reload || body.reload.ok, why = (body.reload && body.reload.message) || "";
      resultOut.className = ok ? "flash ok" : "flash error";
      resultOut.textContent = ok ? `${done} (${why})` : fmt(T.used_not_applied, {why});
      showWayBack(body.way_back);
      return ok;
    }
    resultOut.className = "flash error"; resultOut.textContent = `${T.not_used}: ${problem(r, body)}`;
    return false;
  }
  useButton.onclick = async () => {
    useButton.disabled = true;
    const [r, body] = await post("/installer/teach/use", {job});
    useButton.disabled = false;
    if (applied(r, body, T.used)) useButton.hidden = true;
  };
  // both ways back: asked first, then the same answer as Use it's
  function wayBack(button, question, path, done) {
    button.onclick = async () => {
      if (!window.confirm(question)) return;
      button.disabled = true;
      const [r, body] = await post(path, {});
      button.disabled = false;
      applied(r, body, done);
    };
  }
  wayBack(backButton, T.back_confirm, "/installer/teach/back", T.backed);
  wayBack(shippedButton, T.shipped_confirm, "/installer/teach/shipped", T.shipped_done);
  document.getElementById("teach-new").onclick = () => window.location.reload();
  // the labelled pictures show plates, and a wrong label had no other way back: removed, with their rows
  document.getElementById("teach-forget").onclick = async () => {
    if (!window.confirm(T.forget_confirm)) return;
    const [r, body] = await post("/installer/teach/forget", {});
    if (r.ok && body.ok) {
      resultOut.className = "flash ok"; resultOut.textContent = fmt(T.forgotten, {n: body.removed});
      showCounts(body.counts); addButton.disabled = false;
      return;
    }
    resultOut.className = "flash error"; resultOut.textContent = `${T.not_forgotten}: ${problem(r, body)}`;
  };
  window.addEventListener("resize", draw);
  showCounts(data.counts);
  showResult(data.result);
  if (img) { img.complete ? fit() : img.addEventListener("load", fit); } else draw();
})();
