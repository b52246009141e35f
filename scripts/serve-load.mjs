// Load generator for `devops-model serve` (loopback only): fires N concurrent short chats at once and
// reports requests/s and latency percentiles. Usage:
//   node scripts/serve-load.mjs http://127.0.0.1:PORT [N=100] [MAX_TOKENS=16]
import http from "node:http";
const [base, nArg, mtArg] = process.argv.slice(2);
const u = new URL(base);
if (!["127.0.0.1", "localhost", "[::1]"].includes(u.hostname)) throw new Error("loopback targets only");
const n = +(nArg || 100), maxTokens = +(mtArg || 16);
const topics = ["持续集成", "Kubernetes 滚动更新", "Docker 镜像分层", "Prometheus 告警", "Git rebase", "蓝绿发布",
                "Ansible playbook", "Nginx 反向代理", "日志轮转", "SLO 与 SLI"];
// node:http rather than fetch: fetch gives up on headers after 300 s, and queued requests wait longer.
const agent = new http.Agent({ keepAlive: true, maxSockets: n });
function one(i) {
  const body = JSON.stringify({ messages: [{ role: "user", content: `什么是${topics[i % topics.length]}？(${i})` }],
                                temperature: 0, max_tokens: maxTokens, ignore_eos: true });
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request(base + "/v1/chat/completions", { method: "POST", agent,
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (data += c));
      res.on("end", () => {
        let tokens = 0;
        try { tokens = JSON.parse(data).usage.completion_tokens; } catch (e) { /* error body */ }
        resolve({ ms: performance.now() - t0, status: res.statusCode, tokens });
      });
    });
    req.on("error", () => resolve({ ms: performance.now() - t0, status: 0, tokens: 0 }));
    req.end(body);
  });
}
const t0 = performance.now();
const results = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
const wall = (performance.now() - t0) / 1000;
const ok = results.filter((r) => r.status === 200), lat = ok.map((r) => r.ms).sort((a, b) => a - b);
const pct = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.ceil(p / 100 * lat.length) - 1)] : NaN;
const tokens = ok.reduce((s, r) => s + r.tokens, 0);
console.log(JSON.stringify({ requests: n, ok: ok.length, refused: n - ok.length, wall_s: +wall.toFixed(2),
  requests_per_s: +(ok.length / wall).toFixed(3), completion_tokens_per_s: +(tokens / wall).toFixed(2),
  p50_ms: Math.round(pct(50)), p99_ms: Math.round(pct(99)), min_ms: Math.round(lat[0]), max_ms: Math.round(lat[lat.length - 1]) }));
