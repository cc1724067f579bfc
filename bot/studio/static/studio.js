// The voice studio page: list the sentences, record or upload a take, show its checks, accept it.
// Everything goes to /studio/api on this server (no external requests); every change carries the
// session's CSRF token. Texts shown to editors are Vietnamese.
"use strict";

const API = "/studio/api";
const STATUS = { current: "đã thu", stale: "bản thu cũ", synthetic: "giọng máy" };
const $ = (id) => document.getElementById(id);
const state = { csrf: "", sentences: [], selected: null, take: null, recorder: null, busy: false };
window.studio = state; // for tests and the curious: what the page currently holds

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  const response = await fetch(API + path, Object.assign({}, options, { headers, credentials: "same-origin" }));
  if (response.status === 401) { location.href = "/studio/login"; throw new Error("Cần đăng nhập lại."); }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || `Lỗi ${response.status}`);
  return data;
}

function message(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = "message" + (kind === "info" ? " info" : "");
  box.hidden = !text;
}

async function loadSentences() {
  const data = await api("/sentences");
  state.sentences = data.sentences;
  if (data.content_error) {
    message("Nội dung trong data/faq/ đang có lỗi (chạy make validate để xem): " + data.content_error +
      ". Danh sách dưới đây là bản đúng gần nhất.");
  }
  renderList();
  if (state.selected) select(state.selected, false);
}

function renderList() {
  const filter = $("filter").value;
  const query = $("search").value.trim().toLowerCase();
  const groups = $("groups");
  groups.replaceChildren();
  const counts = { current: 0, stale: 0, synthetic: 0 };
  let section = null, list = null, lastGroup = null;
  for (const s of state.sentences) {
    counts[s.status] += 1;
    if (filter !== "all" && s.status !== filter) continue;
    if (query && !(s.id.toLowerCase().includes(query) || s.text.toLowerCase().includes(query))) continue;
    if (s.group !== lastGroup) {
      section = document.createElement("section");
      section.className = "group";
      const h = document.createElement("h2");
      h.textContent = s.group_title;
      list = document.createElement("ul");
      section.append(h, list);
      groups.append(section);
      lastGroup = s.group;
    }
    const li = document.createElement("li");
    li.dataset.id = s.id;
    li.tabIndex = 0;
    if (s.id === state.selected) li.className = "selected";
    const badge = document.createElement("span");
    badge.className = "badge " + s.status;
    badge.textContent = STATUS[s.status];
    const id = document.createElement("span");
    id.className = "id";
    id.textContent = s.id;
    const text = document.createElement("div");
    text.textContent = s.text.length > 110 ? s.text.slice(0, 110) + "…" : s.text;
    li.append(badge, id, text);
    li.addEventListener("click", () => select(s.id));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") select(s.id); });
    list.append(li);
  }
  $("summary").textContent = `${state.sentences.length} câu: ${counts.current} đã thu, ` +
    `${counts.stale} bản thu cũ (câu đã đổi, đang dùng giọng máy), ${counts.synthetic} chưa thu.`;
}

function select(id, resetTake = true) {
  const s = state.sentences.find((x) => x.id === id);
  if (!s) return;
  state.selected = id;
  document.querySelectorAll(".group li").forEach((li) => li.classList.toggle("selected", li.dataset.id === id));
  $("detail").hidden = false;
  $("sentence-id").textContent = s.id;
  $("sentence-text").textContent = s.text;
  const where = s.status === "current" ? "Tổng đài đang phát bản thu." :
    s.status === "stale" ? "Câu đã đổi sau khi thu: tổng đài đang dùng giọng máy. Hãy thu lại." :
    "Chưa có bản thu: tổng đài đang dùng giọng máy.";
  $("sentence-status").textContent = `${STATUS[s.status]} — ${where}`;
  $("synthetic-audio").src = `${API}/sentences/${encodeURIComponent(id)}/synthetic.wav`;
  $("current-box").hidden = s.status === "synthetic";
  if (s.status !== "synthetic") {
    $("current-audio").src = `${API}/sentences/${encodeURIComponent(id)}/current.wav?t=${Date.now()}`;
    $("current-who").textContent = s.recorded_by ? `Duyệt bởi ${s.recorded_by} lúc ${s.recorded_at}` : "";
  }
  $("previous-box").hidden = !s.previous;
  if (s.previous) $("previous-audio").src = `${API}/sentences/${encodeURIComponent(id)}/previous.wav?t=${Date.now()}`;
  if (resetTake) { state.take = null; $("report").hidden = true; $("take-status").textContent = ""; $("clarity").textContent = ""; }
}

// How well a caller follows the sentence: the recogniser's character error rate over a phone
// line (the same measure as `bot prompts --check --jsonl`), synthetic voice and recording.
async function measure() {
  const id = state.selected;
  if (!id) return;
  $("clarity").textContent = "Đang đo (vài giây)…";
  try {
    const r = await api(`/sentences/${encodeURIComponent(id)}/clarity`);
    if (state.selected !== id) return;
    const pct = (x) => `${Math.round(x.cer * 100)} %`;
    $("clarity").textContent = `Máy nghe sai: giọng máy ${pct(r.synthetic)}` +
      (r.recording ? `, bản thu ${pct(r.recording)}` : "") + " số ký tự (càng thấp càng dễ nghe).";
  } catch (e) { $("clarity").textContent = e.message; }
}

// ----- recording ------------------------------------------------------------------------------
async function toggleRecording() {
  if (state.recorder) { state.recorder.stop(); return; }
  let stream;
  try {
    // Raw microphone: the studio levels the take itself; the browser's voice-call processing
    // (echo cancellation, noise suppression, automatic gain) would colour the recording.
    stream = await navigator.mediaDevices.getUserMedia({ audio: {
      echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 } });
  } catch (e) {
    message("Không mở được micro: " + e.message + " (trình duyệt chỉ cho dùng micro trên localhost hoặc https).");
    return;
  }
  const type = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm"].find(
    (t) => window.MediaRecorder && MediaRecorder.isTypeSupported(t)) || "";
  const recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
  const chunks = [];
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = () => {
    stream.getTracks().forEach((t) => t.stop());
    state.recorder = null;
    $("record").textContent = "● Thu âm";
    $("record").classList.remove("on");
    upload(new Blob(chunks, { type: recorder.mimeType || "audio/webm" }));
  };
  state.recorder = recorder;
  recorder.start(250);
  $("record").textContent = "■ Dừng";
  $("record").classList.add("on");
  $("take-status").textContent = "Đang thu… bấm Dừng khi đọc xong.";
}

async function upload(blob) {
  if (!state.selected) return;
  if (blob.size > state.maxUpload) { message("Tệp quá lớn."); return; }
  state.busy = true;
  $("take-status").textContent = "Đang xử lý và kiểm tra bản thu (vài giây)…";
  $("report").hidden = true;
  message("");
  try {
    const data = await api(`/sentences/${encodeURIComponent(state.selected)}/takes`, {
      method: "POST", body: blob, headers: { "Content-Type": blob.type || "application/octet-stream" } });
    state.take = data;
    showReport(data);
    $("take-status").textContent = "";
  } catch (e) {
    $("take-status").textContent = "";
    message(e.message);
  } finally {
    state.busy = false;
  }
}

function showReport(data) {
  const r = data.report;
  $("report").hidden = false;
  const loud = r.loudness_out === null ? "—" : `${r.loudness_out.toFixed(1)} LUFS`;
  $("take-facts").textContent = `Dài ${r.seconds.toFixed(1)} giây sau khi cắt khoảng lặng ` +
    `(cắt ${r.trimmed_start_s.toFixed(1)} s đầu, ${r.trimmed_end_s.toFixed(1)} s cuối); độ to đã chỉnh về ${loud}.`;
  const flags = $("flags");
  flags.replaceChildren();
  for (const f of r.flags) {
    const li = document.createElement("li");
    li.textContent = f.message;
    li.dataset.code = f.code;
    if (f.blocking) li.className = "blocking";
    flags.append(li);
  }
  const words = r.words;
  $("words").hidden = !words;
  if (words) {
    const verdict = $("words-verdict");
    verdict.textContent = words.ok
      ? `Khớp lời: máy nghe đúng câu (sai lệch ${(words.cer * 100).toFixed(0)} % ký tự, trong mức cho phép).`
      : `Không khớp lời: ${words.reason}. Xem chỗ tô màu bên dưới.`;
    verdict.className = words.ok ? "verdict-ok" : "verdict-bad";
    renderWords(words);
  }
  $("take-audio").src = data.blocked ? "" : `${API}/takes/${data.take}.wav`;
  $("override-box").hidden = !data.needs_override || data.blocked;
  $("override").checked = false;
  updateAccept();
}

function renderWords(words) {
  // The sentence with each difference marked, and what was heard, built as text nodes (no HTML).
  const expected = $("words-expected");
  expected.replaceChildren();
  $("words-heard").textContent = words.heard || "(không nghe được gì)";
  const diffs = words.differences.slice();
  const text = state.sentences.find((s) => s.id === state.selected).text;
  let rest = text.normalize("NFC").toLowerCase().replace(/[^\p{L}\p{N}\s]/gu, " ").replace(/\s+/g, " ").trim();
  for (const d of diffs) {
    if (d.kind === "extra") {
      const span = document.createElement("span");
      span.className = "extra";
      span.title = "máy nghe thừa";
      span.textContent = ` [+ ${d.heard}] `;
      expected.append(span);
      continue;
    }
    const at = (" " + rest + " ").indexOf(" " + d.expected + " ");
    if (at < 0) continue;
    expected.append(document.createTextNode(rest.slice(0, at)));
    const span = document.createElement("span");
    span.className = d.serious ? d.kind : "minor";
    span.title = d.kind === "missing" ? "máy không nghe thấy" : `máy nghe thành: ${d.heard}`;
    span.textContent = d.expected + (d.kind === "wrong" ? ` (→ ${d.heard})` : "");
    expected.append(span);
    rest = rest.slice(at + d.expected.length);
  }
  expected.append(document.createTextNode(rest));
}

function updateAccept() {
  const t = state.take;
  $("accept").disabled = !t || t.blocked || (t.needs_override && !$("override").checked);
}

async function accept() {
  const t = state.take;
  if (!t) return;
  try {
    await api(`/takes/${t.take}/accept`, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ override: $("override").checked }) });
    message("Đã đưa bản thu lên tổng đài: từ câu nói tiếp theo người gọi sẽ nghe bản thu này.", "info");
    state.take = null;
    $("report").hidden = true;
    await loadSentences();
  } catch (e) { message(e.message); }
}

async function restore() {
  if (!state.selected) return;
  if (!confirm("Khôi phục bản thu trước cho câu này? Bản đang dùng sẽ được giữ lại làm bản trước.")) return;
  try {
    await api(`/sentences/${encodeURIComponent(state.selected)}/restore`, { method: "POST" });
    message("Đã khôi phục bản thu trước.", "info");
    await loadSentences();
  } catch (e) { message(e.message); }
}

async function start() {
  const session = await api("/session");
  state.csrf = session.csrf;
  state.maxUpload = session.max_upload_bytes;
  $("user").textContent = session.user;
  $("filter").addEventListener("change", renderList);
  $("search").addEventListener("input", renderList);
  $("record").addEventListener("click", toggleRecording);
  $("upload").addEventListener("change", (e) => { if (e.target.files[0]) upload(e.target.files[0]); e.target.value = ""; });
  $("override").addEventListener("change", updateAccept);
  $("accept").addEventListener("click", accept);
  $("restore").addEventListener("click", restore);
  $("measure").addEventListener("click", measure);
  $("logout").addEventListener("click", async () => {
    await fetch("/studio/logout", { method: "POST", headers: { "X-CSRF-Token": state.csrf } }).catch(() => {});
    location.href = "/studio/login";
  });
  await loadSentences();
  state.ready = true;
}

start().catch((e) => message(e.message));
