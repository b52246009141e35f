// Soak test for `devops-model serve`: starts the server, sends N requests (a fixed mix: chats, streamed
// chats, streams the client drops after the first chunk, completions, embeddings, malformed JSON,
// /health, /metrics) from C concurrent keep-alive clients, and samples the server's RSS every N/20
// requests. Prints the RSS curve (a table and a JSON line) and exits 1 if any request failed at the
// transport level or got a status outside the mix's expectations (503 when more than --parallel +
// --queue arrive at once is counted as refused, not failed). Bounded: gives up after LIMIT_S.
// Usage: node scripts/serve-soak.mjs BINARY MODEL_DIR [N=20000] [C=8] [LIMIT_S=1800] [-- serve flags]
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const [bin, model, nArg, cArg, limitArg] = dash < 0 ? argv : argv.slice(0, dash);
const extra = dash < 0 ? [] : argv.slice(dash + 1);
if (!bin || !model) {
  console.error("usage: node scripts/serve-soak.mjs BINARY MODEL_DIR [N] [C] [LIMIT_S] [-- serve flags]");
  process.exit(2);
}
const n = +(nArg || 20000), conc = +(cArg || 8), limitS = +(limitArg || 1800);

const srv = spawn(bin, ["serve", "--model", model, "--port", "0", "--parallel", "2", ...extra],
                  { stdio: ["ignore", "pipe", "ignore"] });
const port = await new Promise((resolve, reject) => {
  let out = "";
  srv.stdout.on("data", (c) => {
    out += c;
    if (out.includes("\n")) resolve(+out.split("\n")[0]);
  });
  srv.on("exit", (code) => reject(new Error(`server exited with ${code} before listening`)));
});
const timer = setTimeout(() => { console.error(`soak: over ${limitS} s, stopping`); srv.kill(); process.exit(1); },
                         limitS * 1000);
const rssKb = () => {
  const s = readFileSync(`/proc/${srv.pid}/status`, "utf8");
  return { rss: +s.match(/VmRSS:\s+(\d+)/)[1], hwm: +s.match(/VmHWM:\s+(\d+)/)[1], threads: +s.match(/Threads:\s+(\d+)/)[1] };
};

const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
const topics = ["持续集成", "Kubernetes", "Docker 镜像", "Prometheus 告警", "Git rebase", "蓝绿发布", "Nginx", "日志轮转"];
// Request i of the mix: [method, path, body or null, expected status, drop after first chunk].
function request(i) {
  const user = `什么是${topics[i % topics.length]}？第 ${i % 97} 问`;
  const chat = (extra) => JSON.stringify({ messages: [{ role: "user", content: user }], max_tokens: 8, ...extra });
  switch (i % 10) {
    case 0: case 1: case 2: return ["POST", "/v1/chat/completions", chat({ temperature: 0 }), 200, false];
    case 3: return ["POST", "/v1/chat/completions", chat({ stream: true, seed: i }), 200, false];
    case 4: return ["POST", "/v1/chat/completions", chat({ stream: true, max_tokens: 64, ignore_eos: true }), 200, true];
    case 5: return ["POST", "/v1/completions", JSON.stringify({ prompt: user, max_tokens: 4, logprobs: 2 }), 200, false];
    case 6: return ["POST", "/v1/embeddings", JSON.stringify({ input: [user, `${user} ${i}`] }), 200, false];
    case 7: return ["POST", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "${i}"`, 400, false];
    case 8: return ["GET", "/health", null, 200, false];
    default: return ["GET", "/metrics", null, 200, false];
  }
}
// 503 is the documented answer when more requests arrive than --parallel + --queue: counted, not failed.
const verdict = (status, want) => (status === want ? "ok" : status === 503 ? "refused" : `status ${status}`);
function send(i) {
  const [method, path, body, want, drop] = request(i);
  return new Promise((resolve) => {
    const headers = body ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } : {};
    const req = http.request({ host: "127.0.0.1", port, path, method, agent, headers }, (res) => {
      if (drop) {  // the client goes away mid-stream: the server must cancel and free everything
        res.once("data", () => { req.destroy(); resolve(verdict(res.statusCode, want)); });
        res.on("error", () => {});
        return;
      }
      res.resume();
      res.on("end", () => resolve(verdict(res.statusCode, want)));
    });
    req.on("error", () => resolve(drop ? "ok" : "transport"));
    req.end(body || undefined);
  });
}

const samples = [{ requests: 0, ...rssKb(), seconds: 0 }];
const every = Math.max(1, Math.floor(n / 20));
let next = 0, done = 0, bad = 0, refused = 0;
const failures = {};
const t0 = performance.now();
async function worker() {
  while (next < n) {
    const i = next++;
    const v = await send(i);
    if (v === "refused") refused++;
    else if (v !== "ok") bad++, failures[v] = (failures[v] || 0) + 1;
    if (++done % every === 0) samples.push({ requests: done, ...rssKb(), seconds: +((performance.now() - t0) / 1000).toFixed(1) });
  }
}
await Promise.all(Array.from({ length: conc }, worker));
clearTimeout(timer);
console.log("requests  rss_MB  peak_MB  threads  seconds");
for (const s of samples)
  console.log(`${String(s.requests).padStart(8)}  ${(s.rss / 1024).toFixed(1).padStart(6)}  ${(s.hwm / 1024).toFixed(1).padStart(7)}  ${String(s.threads).padStart(7)}  ${s.seconds}`);
console.log(JSON.stringify({ requests: n, concurrency: conc, refused_503: refused, failed: bad, failures, seconds: +((performance.now() - t0) / 1000).toFixed(1),
                             rss_mb: samples.map((s) => +(s.rss / 1024).toFixed(1)) }));
srv.kill("SIGTERM");
await new Promise((r) => srv.on("exit", r));
process.exit(bad ? 1 : 0);
