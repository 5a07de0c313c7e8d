// Echo server on Node's `ws`, an interop peer for wsfast's asyncio client tests.
// Usage: node echo_server.js [port]   (port 0 = any; prints "PORT <n>" once listening;
//        PEER_DEFLATE=1: with permessage-deflate)
// Echoes every message as it came (text stays text, binary stays binary). A text
// message "close:<code>:<reason>" makes the server close with that code and reason.
// Every finished connection is reported on stdout as a JSON line. Exits when stdin closes.
"use strict";
const { WebSocketServer } = require("ws");

const port = Number(process.argv[2] || 0);
// PEER_DEFLATE=1: accept permessage-deflate and compress every message (threshold 0)
const perMessageDeflate = process.env.PEER_DEFLATE === "1" ? { threshold: 0 } : false;
const wss = new WebSocketServer({ host: "127.0.0.1", port, maxPayload: 64 * 1024 * 1024, perMessageDeflate });

wss.on("listening", () => {
  process.stdout.write(`PORT ${wss.address().port}\n`);
});

wss.on("connection", (ws, req) => {
  let received = 0;
  ws.on("message", (data, isBinary) => {
    received += 1;
    if (!isBinary) {
      const text = data.toString("utf8");
      if (text.startsWith("close:")) {
        const [, code, ...rest] = text.split(":");
        ws.close(Number(code), rest.join(":"));
        return;
      }
      ws.send(text);
    } else {
      ws.send(data, { binary: true });
    }
  });
  ws.on("ping", (data) => {
    process.stdout.write(JSON.stringify({ event: "ping", data: data.toString("hex") }) + "\n");
  });
  ws.on("close", (code, reason) => {
    process.stdout.write(
      JSON.stringify({ event: "close", code, reason: reason.toString("utf8"), received,
                       protocol: ws.protocol, path: req.url, extensions: ws.extensions }) + "\n",
    );
  });
  ws.on("error", (err) => {
    process.stdout.write(JSON.stringify({ event: "error", message: String(err.message) }) + "\n");
  });
});

process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
