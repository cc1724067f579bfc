// The "try it in a browser" page: microphone -> WebSocket -> the bot; the bot's voice and call
// events back. Protocol: see bot/transports/web/server.py and docs/web.md.
"use strict";

const $ = (id) => document.getElementById(id);
const callButton = $("call");
const keys = Array.from(document.querySelectorAll("#keypad button"));

// What each reason code means ("code" or "code:detail"): the server's list (bot/policy/reasons.py),
// sent in the "hello" message.
let reasons = {};
const reasonText = (r) => (r ? reasons[r.split(":")[0]] || r : "");

let ws = null;          // the call's WebSocket (one call per connection)
let capture = null;     // { ctx, stream, node }
let playback = null;    // { ctx, next }
let inCall = false;
let handedOver = false;
let answerId = null;    // the FAQ answer the next bot_say speaks (the "answer" event comes first)
const stats = (window.callStats = { sent: 0, played: 0 }); // 20 ms frames; for diagnostics and tests

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function setInCall(on) {
  inCall = on;
  callButton.textContent = on ? "Kết thúc" : "Gọi";
  callButton.classList.toggle("active", on);
  callButton.disabled = false;
  keys.forEach((k) => (k.disabled = !on));
}

function log(text, cls = "note") {
  const li = document.createElement("li");
  li.className = cls;
  li.textContent = text;
  $("log").appendChild(li);
  li.scrollIntoView({ block: "nearest" });
}

function resetPanels() {
  $("transcript").textContent = "";
  $("intent").textContent = "—";
  $("answer").textContent = "—";
  $("faq").textContent = "";
  $("log").textContent = "";
  $("transfer").hidden = true;
  $("transfer").textContent = "";
  $("handoff").hidden = true;
  ["handoff-reason", "handoff-faq", "handoff-summary", "handoff-call"].forEach((id) => ($(id).textContent = ""));
  $("ended").hidden = true;
  $("ended").textContent = "";
  handedOver = false;
  answerId = null;
  stats.sent = stats.played = 0;
}

// ----- the bot's voice: 8 kHz int16 frames scheduled back to back ------------------------------
const LEAD_S = 0.08; // jitter buffer before the first frame of each utterance

function startPlayback(rate) {
  let ctx;
  try {
    ctx = new AudioContext({ sampleRate: rate, latencyHint: "interactive" }); // no per-frame resampling
  } catch (e) {
    ctx = new AudioContext({ latencyHint: "interactive" });
  }
  playback = { ctx, next: 0, rate };
  ctx.resume().catch(() => {});
}

function play(buffer) {
  if (!playback) return;
  const { ctx, rate } = playback;
  const pcm = new Int16Array(buffer);
  if (!pcm.length) return;
  const audio = ctx.createBuffer(1, pcm.length, rate);
  const data = audio.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 32768;
  const now = ctx.currentTime;
  if (playback.next < now) playback.next = now + LEAD_S; // silence before: start a new run
  if (playback.next - now > 1.0) return; // far behind (tab was asleep): drop, don't drift
  const src = ctx.createBufferSource();
  src.buffer = audio;
  src.connect(ctx.destination);
  src.start(playback.next);
  playback.next += audio.duration;
  stats.played++;
}

function stopPlayback() {
  if (!playback) return;
  const { ctx, next } = playback;
  playback = null;
  const left = Math.max(0, next - ctx.currentTime); // let the goodbye finish
  setTimeout(() => ctx.close().catch(() => {}), 1000 * left + 200);
}

// ----- the microphone -------------------------------------------------------------------------
async function startCapture() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("Trình duyệt không cho dùng micro ở địa chỉ này (cần http://localhost hoặc https).");
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  const ctx = new AudioContext({ latencyHint: "interactive" });
  await ctx.audioWorklet.addModule("/static/capture-worklet.js");
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "pcm-capture", {
    numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: "explicit",
    processorOptions: { frameSamples: Math.round(ctx.sampleRate / 50) },
  });
  const mute = ctx.createGain();
  mute.gain.value = 0; // keeps the node pulled by the graph, plays nothing
  source.connect(node).connect(mute).connect(ctx.destination);
  node.port.onmessage = (e) => {
    $("level").style.width = Math.min(100, Math.round(e.data.peak * 140)) + "%";
    if (ws && ws.readyState === WebSocket.OPEN && inCall) {
      ws.send(e.data.pcm);
      stats.sent++;
    }
  };
  await ctx.resume();
  capture = { ctx, stream, node };
  return ctx.sampleRate;
}

function stopCapture() {
  if (!capture) return;
  capture.node.port.onmessage = null;
  capture.stream.getTracks().forEach((t) => t.stop());
  capture.ctx.close().catch(() => {});
  capture = null;
  $("level").style.width = "0";
}

// ----- the call -------------------------------------------------------------------------------
async function startCall() {
  resetPanels();
  callButton.disabled = true;
  setStatus("Đang mở micro…");
  let rate;
  try {
    rate = await startCapture();
  } catch (e) {
    setStatus("Không mở được micro: " + (e.message || e.name), true);
    callButton.disabled = false;
    return;
  }
  setStatus("Đang kết nối…");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${scheme}//${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => ws.send(JSON.stringify({ start: { rate } }));
  ws.onmessage = (m) => {
    if (typeof m.data === "string") onEvent(JSON.parse(m.data));
    else play(m.data);
  };
  ws.onclose = () => endCall();
  ws.onerror = () => setStatus("Mất kết nối với máy chủ.", true);
}

function endCall() {
  const wasInCall = inCall;
  stopCapture();
  stopPlayback();
  if (ws) {
    const s = ws;
    ws = null;
    s.onclose = null;
    if (s.readyState <= WebSocket.OPEN) s.close();
  }
  setInCall(false);
  if (wasInCall && $("ended").hidden) {
    $("ended").hidden = false;
    $("ended").textContent = "Cuộc gọi đã kết thúc.";
    setStatus("Cuộc gọi đã kết thúc.");
  }
}

function hangUp() {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ hangup: true }));
  else endCall();
  callButton.disabled = true;
  setStatus("Đang kết thúc…");
}

function onEvent(e) {
  switch (e.event) {
    case "hello":
      reasons = e.reasons || {};
      break;
    case "started":
      startPlayback(e.line_rate || 8000);
      setInCall(true);
      setStatus("Đang gọi… hãy nói câu hỏi của anh chị.");
      log("Đã kết nối với tổng đài.");
      break;
    case "busy":
      setStatus(e.message, true);
      log(e.message);
      break;
    case "error":
      log("Lỗi: " + e.message);
      break;
    case "bot_say":
      $("answer").textContent = e.text;
      $("faq").textContent = answerId ? "Câu trả lời: " + answerId : "";
      answerId = null;
      log("Tổng đài: " + e.text, "bot");
      break;
    case "caller_text": {
      const p = document.createElement("p");
      p.textContent = e.text || "(không nghe rõ)";
      $("transcript").appendChild(p);
      log("Anh chị: " + (e.text || "(không nghe rõ)"), "caller");
      break;
    }
    case "nlu": {
      const pct = Math.round(100 * (Number(e.confidence) || 0));
      $("intent").textContent = `${e.intent || "không rõ"} (${pct}%)`;
      log(`Ý định: ${e.intent || "không rõ"} — độ tin cậy ${pct}%`);
      break;
    }
    case "answer":
      answerId = e.faq_id;
      break;
    case "dtmf":
      log("Anh chị bấm phím " + e.digits);
      break;
    case "transfer":
      $("transfer").hidden = false;
      $("transfer").textContent = `Đang chuyển sang nhánh ${e.branch} (lý do: ${reasonText(e.reason)})`;
      log(`Chuyển sang nhánh ${e.branch}`);
      setStatus(`Đang chuyển sang nhánh ${e.branch}`);
      break;
    case "handed_over":
      handedOver = true;
      $("transfer").hidden = false;
      $("transfer").textContent += ` — trên tổng đài thật, cuộc gọi sẽ do nhánh ${e.branch} tiếp nhận.`;
      showHandoff(e);
      break;
    case "transfer_failed":
      log("Không chuyển được máy: " + (e.why || ""));
      break;
    case "hangup":
      log(e.by === "caller" ? "Anh chị đã gác máy." : "Tổng đài kết thúc cuộc gọi (" + reasonText(e.reason) + ").");
      break;
    case "bot_hangup":
      break;
    case "call_ended": {
      $("ended").hidden = false;
      const how = handedOver ? `đã chuyển sang nhánh ${e.branch}` : reasonText(e.reason);
      $("ended").textContent = `Cuộc gọi đã kết thúc${how ? " — " + how : ""} (${Math.round(e.duration_s || 0)} giây).`;
      setStatus("Cuộc gọi đã kết thúc.");
      break;
    }
    default:
      break;
  }
}

// What the agent taking the call is told (only what privacy.share_with_agent allows; text only).
function showHandoff(e) {
  const none = "(không chia sẻ)";
  $("handoff-reason").textContent = e.reason ? `${e.reason_text || e.reason} (${e.reason})` : none;
  $("handoff-faq").textContent = e.faq_id ? (e.faq_question ? `${e.faq_question} (${e.faq_id})` : e.faq_id)
    : e.reason ? "—" : none;
  $("handoff-summary").textContent = e.summary || (e.reason ? "—" : none);
  $("handoff-call").textContent = e.call_id || none;
  $("handoff").hidden = false;
}

callButton.addEventListener("click", () => (inCall || ws ? hangUp() : startCall()));
keys.forEach((k) => {
  k.disabled = true;
  k.addEventListener("click", () => {
    if (ws && ws.readyState === WebSocket.OPEN && inCall) ws.send(JSON.stringify({ dtmf: k.dataset.digit }));
  });
});
