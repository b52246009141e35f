// Drives headless Chromium over the DevTools protocol (Node's built-in WebSocket, no npm packages):
// loads the chat page, types a Chinese question, presses Enter, waits for the streamed answer, saves a
// screenshot. Usage: node --experimental-websocket chat_page.mjs URL SCREENSHOT.png
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, shot] = process.argv.slice(2);
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "dm-chromium-"));
const browser = spawn(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
  `--user-data-dir=${profile}`, "--remote-debugging-port=0", "--window-size=1100,760", "about:blank"],
  { stdio: ["ignore", "ignore", "pipe"] });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const deadline = Date.now() + 60000;
function check(cond, msg) { if (!cond) throw new Error(msg); }

async function main() {
  const portFile = join(profile, "DevToolsActivePort");
  while (!existsSync(portFile) || readFileSync(portFile, "utf8").split("\n").length < 2) {
    check(Date.now() < deadline, "chromium did not start");
    await sleep(100);
  }
  const port = readFileSync(portFile, "utf8").split("\n")[0];
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const page = targets.find((t) => t.type === "page");
  const ws = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((r, e) => { ws.onopen = r; ws.onerror = e; });
  let nextId = 1;
  const pending = new Map(), events = [];
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); } else events.push(msg);
  };
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, (msg) => (msg.error ? reject(new Error(method + ": " + msg.error.message)) : resolve(msg.result)));
    ws.send(JSON.stringify({ id, method, params }));
  });
  const evaluate = async (expr) => (await send("Runtime.evaluate", { expression: expr, returnByValue: true })).result.value;

  await send("Page.enable");
  await send("Page.navigate", { url });
  while (!events.some((e) => e.method === "Page.loadEventFired")) { check(Date.now() < deadline, "page did not load"); await sleep(50); }
  while (!(await evaluate("document.getElementById('status').textContent")).startsWith("model:")) {
    check(Date.now() < deadline, "the page did not read /v1/models"); await sleep(50);
  }
  // The page's Markdown renderer: headings, fenced code with its language, lists, inline marks, escaping.
  const src = "## 部署\n```bash\nkubectl get pods\n```\n- a **b** `c`\n<script>x</script>";
  const md = await evaluate(`markdown(${JSON.stringify(src)})`);
  for (const want of ["<h2>部署</h2>", '<pre><span class="lang">bash</span><code>kubectl get pods</code></pre>',
                      "<li>a <strong>b</strong> <code>c</code></li>", "&lt;script&gt;x&lt;/script&gt;"]) {
    check(md.includes(want), "markdown: " + want + " not in " + md);
  }
  // Marks inside a link URL stay in the href (no tag text leaks into it), and a literal placeholder-like
  // "\u00000\u0000" in the text is not taken for a code span.
  const link = await evaluate(`(() => { const d = document.createElement("div");
    d.innerHTML = markdown("see [the *docs*](https://a.example/x*y*/z**w**/\`c\`/e) now");
    const a = d.querySelector("a"); return { href: a && a.getAttribute("href"), text: a && a.textContent, html: d.innerHTML }; })()`);
  check(link.href === "https://a.example/x*y*/z**w**/`c`/e", "markdown link href: " + JSON.stringify(link));
  check(link.text === "the docs" && !/<(em|strong|code)>/.test(link.href), "markdown link: " + JSON.stringify(link));
  const nul = await evaluate(`markdown("a \\u00000\\u0000 b \\u00005\\u0000 \`c\`")`);
  check(!nul.includes("undefined") && (nul.match(/<code>/g) || []).length === 1 && nul.includes("<code>c</code>"),
        "markdown placeholder collision: " + nul);
  // Replies that are JSON show pretty-printed; tool calls show the function and its arguments, also when
  // assembled from OpenAI's stream deltas (id/type/name first, then argument pieces).
  const shown = await evaluate(`(() => {
    const d = document.createElement("div");
    d.innerHTML = renderReply({ content: '{"pods": ["web-1"], "ok": true}' });
    const json = d.querySelector("pre code") && d.querySelector("pre code").textContent;
    const reply = { content: "" };
    for (const delta of [{ content: "Checking." },
                         { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: "" } }] },
                         { tool_calls: [{ index: 0, function: { arguments: '{"city": ' } }] },
                         { tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }]) applyDelta(reply, delta);
    d.innerHTML = renderReply(reply);
    return { json, text: d.querySelector("p") && d.querySelector("p").textContent,
             name: d.querySelector(".tool-call .tool-name code") && d.querySelector(".tool-call .tool-name code").textContent,
             args: d.querySelector(".tool-call pre code") && d.querySelector(".tool-call pre code").textContent,
             plain: markdown("[1] is not JSON") === renderReply({ content: "[1] is not JSON" }) };
  })()`);
  check(shown.json === '{\n  "pods": [\n    "web-1"\n  ],\n  "ok": true\n}', "JSON reply not pretty-printed: " + JSON.stringify(shown));
  check(shown.text === "Checking." && shown.name === "get_weather", "tool call not shown: " + JSON.stringify(shown));
  check(shown.args === '{\n  "city": "Oslo"\n}', "tool call arguments not pretty-printed: " + JSON.stringify(shown));
  check(shown.plain, "a reply that is not JSON must render as Markdown");
  // Short greedy replies; the settings are plain inputs of the page.
  await evaluate("document.getElementById('temperature').value = '0'; document.getElementById('max_tokens').value = '48'; 1");
  await evaluate("document.getElementById('input').focus(); 1");
  // An IME composition in progress: Enter must not send.
  await send("Input.imeSetComposition", { text: "chixu", selectionStart: 5, selectionEnd: 5 });
  await send("Input.dispatchKeyEvent", { type: "rawKeyDown", key: "Enter", code: "Enter", windowsVirtualKeyCode: 229 });
  check((await evaluate("document.querySelectorAll('.msg').length")) === 0, "Enter during IME composition sent a message");
  await send("Input.insertText", { text: "什么是持续集成？" });  // commits the composition as Chinese text
  await send("Input.dispatchKeyEvent", { type: "keyUp", key: "Enter", code: "Enter", windowsVirtualKeyCode: 229 });
  await evaluate("document.getElementById('input').value = '什么是持续集成？'; 1");
  for (const type of ["rawKeyDown", "char", "keyUp"]) {
    await send("Input.dispatchKeyEvent", { type, key: "Enter", code: "Enter", windowsVirtualKeyCode: 13, text: type === "char" ? "\r" : undefined });
  }
  let state;
  for (;;) {
    state = await evaluate(`(() => {
      const a = [...document.querySelectorAll('.msg.assistant')].pop(), u = document.querySelector('.msg.user');
      return { user: u && u.querySelector('.content').textContent, done: a && a.dataset.done,
               text: a && a.querySelector('.content').textContent, error: !!document.querySelector('[data-error]'),
               title: document.querySelector('#convs li span').textContent };
    })()`);
    check(!state.error, "the page shows an error");
    if (state.done === "1") break;
    check(Date.now() < deadline, "no streamed answer: " + JSON.stringify(state));
    await sleep(100);
  }
  check(state.user === "什么是持续集成？", "user message not shown: " + state.user);
  check(state.text.length > 0, "empty answer");
  check(state.title === "什么是持续集成？", "conversation list not updated: " + state.title);
  const png = await send("Page.captureScreenshot", { format: "png" });
  writeFileSync(shot, Buffer.from(png.data, "base64"));
  console.log("answer: " + JSON.stringify(state.text.slice(0, 80)));
  console.log("screenshot: " + shot);
  ws.close();
}

async function finish(code) {
  const exited = new Promise((r) => browser.once("exit", r));
  browser.kill();
  await Promise.race([exited, sleep(5000)]);
  try { rmSync(profile, { recursive: true, force: true }); } catch (e) { /* chromium still writing: leave it */ }
  process.exit(code);
}
main().then(() => finish(0), (e) => { console.error("browser test failed: " + e.message); finish(1); });
