// Scripted client on Node's `ws`, an interop peer for wsfast's asyncio server tests.
// Usage: node client.js <url> <steps-json>      (PEER_DEFLATE=1: with permessage-deflate)
// Steps, run in order:
//   {"send": "text"|"binary", "size": n}  send n bytes, expect the same message echoed back
//   {"send_text": "..."}                    send this text, expect nothing back
//   {"ping": "<hex>"}                       send a ping, expect the matching pong
//   {"close": code, "reason": "..."}        start the closing handshake
//   {"wait_close": true}                    wait for the server to close
// Prints one JSON line per step and a final {"event":"close", code, reason, wasClean}.
"use strict";
const WebSocket = require("ws");

const [url, stepsJson] = process.argv.slice(2);
const steps = JSON.parse(stepsJson || "[]");

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function textOfBytes(n) {
  // 10 bytes per unit with 1-, 2-, 3- and 4-byte UTF-8 sequences, padded with ASCII.
  const unit = "a\u00e9\u20ac\u{1F600}";
  return unit.repeat(Math.floor(n / 10)) + "x".repeat(n % 10);
}

function binaryOfBytes(n) {
  const buf = Buffer.alloc(n);
  for (let i = 0; i < n; i++) buf[i] = (i * 31 + 7) & 0xff;
  return buf;
}

// PEER_DEFLATE=1: offer permessage-deflate and compress every message (threshold 0)
const deflate = process.env.PEER_DEFLATE === "1" ? { threshold: 0 } : false;
const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024, perMessageDeflate: deflate });
let waiting = null; // {kind, resolve, expect}

ws.on("message", (data, isBinary) => {
  if (waiting && waiting.kind === "message") {
    const w = waiting;
    waiting = null;
    w.resolve({ data, isBinary });
  } else {
    out({ event: "unexpected-message", size: data.length });
  }
});
ws.on("pong", (data) => {
  if (waiting && waiting.kind === "pong") {
    const w = waiting;
    waiting = null;
    w.resolve(data);
  }
});
ws.on("error", (err) => out({ event: "error", message: String(err.message) }));

const closed = new Promise((resolve) => {
  ws.on("close", (code, reason) => resolve({ code, reason: reason.toString("utf8") }));
});

function expect(kind) {
  return new Promise((resolve) => {
    waiting = { kind, resolve };
  });
}

async function run() {
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  out({ event: "open", protocol: ws.protocol, extensions: ws.extensions });
  for (const step of steps) {
    if (step.send) {
      const binary = step.send === "binary";
      const payload = binary ? binaryOfBytes(step.size) : textOfBytes(step.size);
      const reply = expect("message");
      ws.send(payload, { binary });
      const { data, isBinary } = await reply;
      const same = binary ? Buffer.compare(Buffer.from(data), payload) === 0
                          : data.toString("utf8") === payload;
      out({ event: "echo", kind: step.send, size: step.size, ok: same && isBinary === binary });
    } else if (step.send_text !== undefined) {
      ws.send(step.send_text);
    } else if (step.ping !== undefined) {
      const payload = Buffer.from(step.ping, "hex");
      const reply = expect("pong");
      ws.ping(payload);
      const data = await reply;
      out({ event: "pong", ok: Buffer.compare(Buffer.from(data), payload) === 0 });
    } else if (step.close !== undefined) {
      ws.close(step.close, step.reason || "");
    } else if (step.wait_close) {
      break;
    }
  }
  const { code, reason } = await closed;
  out({ event: "close", code, reason });
}

const timer = setTimeout(() => {
  out({ event: "timeout" });
  process.exit(2);
}, Number(process.env.PEER_TIMEOUT_MS || 60000));

run().then(
  () => {
    clearTimeout(timer);
    process.exit(0);
  },
  (err) => {
    out({ event: "failed", message: String(err && err.message) });
    process.exit(1);
  },
);
