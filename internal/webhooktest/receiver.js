// A webhook receiver for the tests: it verifies every delivery with the
// Standard Webhooks reference library (not with tursync's code), records
// what it got, and answers as the test tells it.
//
//   WEBHOOK_SECRET=whsec_... NODE_PATH=... node receiver.js
//
// It prints "listening PORT" once it listens on 127.0.0.1.
//   POST /hook      a delivery
//   POST /control   {"respond": [{"status": 500}, {"status": 429, "retry_after": "7"},
//                    {"delay_ms": 2000}, {"close": true}]}: the next answers, in order
//                    (then 204 again, or 401 for a delivery that does not verify)
//   GET  /received  every delivery so far: [{id, timestamp, verified, error, body, answered}]
"use strict";
const http = require("http");
const { Webhook } = require("standardwebhooks");

const wh = new Webhook(process.env.WEBHOOK_SECRET);
const received = [];
let respond = [];

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

const server = http.createServer(async (req, res) => {
  const body = await readBody(req);
  if (req.method === "POST" && req.url === "/control") {
    respond = JSON.parse(body).respond || [];
    res.writeHead(204).end();
    return;
  }
  if (req.method === "GET" && req.url === "/received") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(received));
    return;
  }
  if (req.method !== "POST" || req.url !== "/hook") {
    res.writeHead(404).end();
    return;
  }
  const rec = { id: req.headers["webhook-id"], timestamp: req.headers["webhook-timestamp"], verified: false, error: "", body: null };
  try {
    rec.body = wh.verify(body, req.headers);
    rec.verified = true;
  } catch (e) {
    rec.error = String(e.message || e);
  }
  // A delivery that does not verify is refused, as a real receiver would.
  const how = respond.shift() || { status: rec.verified ? 204 : 401 };
  rec.answered = how.close ? "close" : how.status || 204;
  received.push(rec);
  if (how.close) {
    req.socket.destroy();
    return;
  }
  const answer = () => {
    const headers = how.retry_after ? { "retry-after": how.retry_after } : {};
    res.writeHead(how.status || 204, headers).end();
  };
  if (how.delay_ms) setTimeout(answer, how.delay_ms);
  else answer();
});

server.listen(0, "127.0.0.1", () => {
  console.log("listening " + server.address().port);
});
