// End-to-end test of spoofd's upload page in real headless Chromium.
//
//   node tests/web/e2e.mjs --spoofd build/bin/spoofd --model tests/data/models/tiny.pt \
//       --sample samples/genuine_librivox_0870.wav --out build/test-output/web
//
// Starts spoofd with --http-listen and a bearer token, opens the page, and
// checks what a hotline worker would see: the page is reachable by keyboard,
// asks for the token when the server wants one, uploads the sample, shows the
// verdict in words matching the JSON result, draws the waveform and one
// timeline mark per segment (positioned and coloured by score), offers the
// exact JSON as a download, stays usable after a bad file and for a format the
// browser cannot decode, and fits a phone screen. Screenshots go to --out.
//
// Exit codes: 0 passed, 1 failed, 77 skipped (no Chromium or playwright-core:
// run scripts/install-deps.sh).
//
// The README's docs/web-ui.png came from this test with the bundled model and
// three samples joined (genuine, synthetic, genuine):
//   ffmpeg -i samples/genuine_librivox_0870.wav -i samples/synthetic_flite_slt_0870.wav \
//       -i samples/genuine_librivox_0920.wav -filter_complex concat=n=3:v=0:a=1 call_spliced.wav
//   node tests/web/e2e.mjs --spoofd build/bin/spoofd --model models/spoofd-default.pt \
//       --sample call_spliced.wav --out /tmp/shot     # then /tmp/shot/web-ui.png, quantised
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const source = path.resolve(here, "../..");

function parseArgs(argv) {
  const args = {
    spoofd: path.join(source, "build/bin/spoofd"),
    model: path.join(source, "tests/data/models/tiny.pt"),
    sample: path.join(source, "samples/genuine_librivox_0870.wav"),
    bad: path.join(source, "tests/data/fixtures/bad_text.txt"),
    undecodable: path.join(source, "tests/data/fixtures/speech_amrnb.amr"),
    out: path.join(os.tmpdir(), "spoofd-web-test"),
    chromium: process.env.CHROMIUM || "/usr/bin/chromium",
    screenshot: "web-ui.png",
  };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in args) || i + 1 >= argv.length) {
      console.error(`e2e: unknown or incomplete option ${argv[i]}`);
      process.exit(2);
    }
    args[key] = path.isAbsolute(argv[i + 1]) || key === "screenshot" ? argv[i + 1] : path.resolve(argv[i + 1]);
  }
  return args;
}

const args = parseArgs(process.argv);

function skip(why) {
  console.log(`SKIPPED: ${why} (scripts/install-deps.sh installs it)`);
  process.exit(77);
}
if (!fs.existsSync(args.chromium)) skip(`no Chromium at ${args.chromium}`);
let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch (e) {
  skip("playwright-core is not installed in tests/web/node_modules");
}

let failures = 0;
function check(ok, what, detail = "") {
  if (ok) {
    console.log(`ok   ${what}`);
  } else {
    failures++;
    console.log(`FAIL ${what}${detail ? ": " + detail : ""}`);
  }
}
function fatal(message) {
  throw new Error(message);
}

// spoofd on free ports, with a token; resolves with its HTTP port once ready.
async function startSpoofd(tokenFile) {
  const child = spawn(args.spoofd, [
    "--listen", "127.0.0.1:0", "--metrics-listen", "", "--http-listen", "127.0.0.1:0",
    "--model", args.model, "--workers", "2", "--auth-token-file", tokenFile,
  ], { stdio: ["ignore", "ignore", "pipe"] });
  const log = [];
  const port = await new Promise((resolve, reject) => {
    let buffered = "";
    child.stderr.on("data", (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        log.push(line);
        try {
          const event = JSON.parse(line);
          if (event.event === "listening") resolve(event.http_port);
        } catch (e) { /* not a log line */ }
      }
    });
    child.on("exit", (code) => reject(new Error(`spoofd exited (${code}):\n${log.join("\n")}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {   // the model loads after the ports open
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) return { child, base, log };
    } catch (e) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGKILL");
  fatal(`spoofd never became ready:\n${log.join("\n")}`);
}

// Uploads through the hidden file input (what the chooser button opens) and
// waits for the server's answer.
async function upload(page, file) {
  await page.setInputFiles("#file", []);
  const answer = page.waitForResponse((r) => r.url().includes("/v1/score"), { timeout: 120000 });
  await page.setInputFiles("#file", file);
  // (Chromium's inspector may drop response bodies: the body is read from the
  // page's download below instead.)
  return { status: (await answer).status() };
}

function expectedWords(result) {
  if (result.decision === "synthetic") return /likely synthetic/i;
  if (result.decision === "genuine") return /likely genuine/i;
  const words = { too_little_speech: "too little speech", too_short: "too short", silence: "silence",
                  clipped: "clipped" }[result.reason] || "";
  return new RegExp("cannot tell.*" + words, "i");
}

// A WAV file of silence: 16-bit mono PCM.
function silentWav(rate, seconds) {
  const data = rate * seconds * 2;
  const b = Buffer.alloc(44 + data);
  b.write("RIFF", 0); b.writeUInt32LE(36 + data, 4); b.write("WAVEfmt ", 8);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34); b.write("data", 36); b.writeUInt32LE(data, 40);
  return b;
}

function redness(colour) {   // "rgb(r, g, b)" -> r - b
  const m = colour.match(/rgb\((\d+),\s*(\d+),\s*(\d+)\)/);
  return m ? Number(m[1]) - Number(m[3]) : NaN;
}

async function main() {
  fs.mkdirSync(args.out, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "spoofd-web-"));
  const token = "web-test-token-0123456789abcdef";
  fs.writeFileSync(path.join(tmp, "tokens"), token + "\n", { mode: 0o600 });
  const server = await startSpoofd(path.join(tmp, "tokens"));
  const browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    // CI runs as root, where Chromium's sandbox cannot start.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("console", (m) => {
      // Chromium logs every non-2xx fetch; the 401 and 400 below are on purpose.
      if (m.type() === "error" && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text());
    });
    await page.goto(server.base + "/");
    await page.waitForFunction(() => /Ready/.test(document.getElementById("model-line").textContent),
                               null, { timeout: 30000 });
    check(true, "page loads and reports the model ready");

    // Keyboard: the first Tab reaches the chooser button.
    await page.keyboard.press("Tab");
    check(await page.evaluate(() => document.activeElement && document.activeElement.id) === "choose",
          "first Tab focuses the 'Choose a recording' button");

    // Without the token: a clear error, and the token field opens.
    let r = await upload(page, args.sample);
    check(r.status === 401, "upload without a token is refused with 401", `got ${r.status}`);
    await page.waitForSelector("#error:not([hidden])");
    check(/token/i.test(await page.textContent("#error")), "the error asks for an access token");
    check(await page.evaluate(() => document.getElementById("token-box").open), "the token field is opened");

    await page.fill("#token", token);
    r = await upload(page, args.sample);
    check(r.status === 200, "upload with the token is scored", `got ${r.status}`);
    await page.waitForSelector("#result:not([hidden])", { timeout: 30000 });
    // The result as the page holds it: its download button.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const saved = path.join(args.out, "result.json");
    await download.saveAs(saved);
    const text = fs.readFileSync(saved, "utf8");
    const result = JSON.parse(text);
    check(/\.spoofd\.json$/.test(download.suggestedFilename()), "the download has a sensible name",
          download.suggestedFilename());
    // ... which is what the server answers for these bytes (timings aside).
    const direct = await (await fetch(server.base + "/v1/score?filename=" +
                                      encodeURIComponent(path.basename(args.sample)), {
      method: "POST", body: fs.readFileSync(args.sample),
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/octet-stream" },
    })).json();
    delete direct.timing_ms;
    const fromPage = JSON.parse(text);
    delete fromPage.timing_ms;
    check(JSON.stringify(fromPage) === JSON.stringify(direct),
          "the downloaded JSON is the server's answer for the file");
    check(await page.isHidden("#error"), "the earlier error is gone");

    const verdict = (await page.textContent("#verdict")).trim();
    check(expectedWords(result).test(verdict), "the verdict in words matches the result",
          `"${verdict}" for ${result.decision}/${result.reason}`);
    check((await page.textContent("#score-line")).includes(result.score.toFixed(2)),
          "the score is shown");
    check((await page.textContent("#score-explain")).length > 80, "the score is explained");
    check((await page.textContent("#facts")).includes(result.model.version) &&
          (await page.textContent("#facts")).includes(result.model.name), "the model name and version are shown");

    // The timeline: one mark per segment, placed by time, coloured by score.
    const marks = await page.$$eval("#timeline .seg", (els) => els.map((el) => ({
      label: el.getAttribute("aria-label"),
      colour: getComputedStyle(el).backgroundColor,
      left: parseFloat(el.style.left),
      width: el.getBoundingClientRect().width,
      box: el.getBoundingClientRect().toJSON(),
    })));
    check(result.segments.length > 0, "the result has segments", `${result.segments.length}`);
    check(marks.length === result.segments.length, "one timeline mark per segment",
          `${marks.length} marks, ${result.segments.length} segments`);
    let placed = true, labelled = true, ordered = true;
    marks.forEach((m, i) => {
      const s = result.segments[i];
      if (Math.abs(m.left - 100 * s.start_s / result.duration_s) > 0.5 || !(m.width > 0)) placed = false;
      if (!m.label || !m.label.includes(s.score.toFixed(2))) labelled = false;
    });
    for (let i = 0; i < marks.length; i++) {
      for (let k = 0; k < marks.length; k++) {
        const a = result.segments[i].score, b = result.segments[k].score;
        if (a > b + 1e-3 && !(redness(marks[i].colour) >= redness(marks[k].colour))) ordered = false;
      }
    }
    let apart = true;
    for (let i = 0; i < marks.length; i++) {
      for (let k = i + 1; k < marks.length; k++) {
        const a = marks[i].box, b = marks[k].box;
        if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) {
          apart = false;
        }
      }
    }
    check(placed, "each mark sits at its segment's start and has a width");
    check(apart, "overlapping segments are drawn in separate rows, no mark hides another");
    check(labelled, "each mark is labelled with its score");
    check(ordered, "a higher score never gets a bluer colour",
          marks.map((m, i) => `${result.segments[i].score}:${m.colour}`).join(" "));
    // Keyboard: Tab from the waveform reaches the first mark (one tab stop),
    // the arrow keys walk the marks and each is read out.
    await page.focus("#verdict");
    let reached = false;
    for (let i = 0; i < 5 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => document.activeElement.classList.contains("seg"));
    }
    check(reached && (await page.textContent("#seg-detail")) === marks[0].label,
          "Tab reaches the timeline and reads out the first segment");
    if (marks.length > 1) {
      await page.keyboard.press("ArrowRight");
      check((await page.textContent("#seg-detail")) === marks[1].label,
            "the right arrow moves to the next segment");
      await page.keyboard.press("End");
      check((await page.textContent("#seg-detail")) === marks[marks.length - 1].label,
            "End moves to the last segment");
      await page.keyboard.press("Home");
    }

    // The waveform was decoded in the browser and drawn.
    await page.waitForFunction(() => document.getElementById("wave").dataset.state === "drawn", null,
                               { timeout: 30000 });
    const inked = await page.evaluate(() => {
      const c = document.getElementById("wave");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n / (c.width * c.height);
    });
    check(inked > 0.01, "the waveform is drawn", `${(100 * inked).toFixed(2)}% of the canvas inked`);

    await page.evaluate(() => { document.getElementById("token-box").open = false; });
    await page.screenshot({ path: path.join(args.out, args.screenshot), fullPage: true });

    // A phone: nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(200);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, "fits a 390 px wide phone screen", `${overflow}px too wide`);
    await page.screenshot({ path: path.join(args.out, "web-ui-phone.png"), fullPage: true });
    await page.setViewportSize({ width: 1100, height: 900 });

    // A file that is not audio: an error in words, and the page goes on.
    r = await upload(page, args.bad);
    check(r.status === 400, "a text file is refused with 400", `got ${r.status}`);
    await page.waitForSelector("#error:not([hidden])");
    check((await page.textContent("#error-text")).length > 20, "the error says what went wrong");
    check(await page.isEnabled("#choose"), "the chooser is usable again after an error");

    // A format the server decodes but the browser cannot: scores without a waveform.
    if (fs.existsSync(args.undecodable)) {
      r = await upload(page, args.undecodable);
      check(r.status === 200, "an AMR recording is scored", `got ${r.status}`);
      await page.waitForSelector("#result:not([hidden])");
      await page.waitForFunction(() => document.getElementById("wave").dataset.state !== "decoding",
                                 null, { timeout: 30000 });
      const state = await page.evaluate(() => document.getElementById("wave").dataset.state);
      const note = await page.textContent("#wave-note");
      check(state === "drawn" || (state === "unavailable" && /cannot/.test(note)),
            "a format the browser cannot decode falls back to a note", `${state}: ${note}`);
      const count = await page.$$eval("#timeline .seg", (els) => els.length);
      const parts = await page.evaluate(() => {
        const dd = [...document.querySelectorAll("#facts dt")].find((dt) => dt.textContent === "Parts scored");
        return dd ? parseInt(dd.nextElementSibling.textContent, 10) : -1;
      });
      check(count > 0 && count === parts, "its timeline still has one mark per segment", `${count} vs ${parts}`);
    }
    // Silence: the page says it cannot tell, and why, in the result's terms.
    const silence = path.join(tmp, "silence.wav");
    fs.writeFileSync(silence, silentWav(16000, 3));
    r = await upload(page, silence);
    check(r.status === 200, "a silent recording is scored", `got ${r.status}`);
    await page.waitForFunction(() => /silence\.wav/.test(document.getElementById("facts").textContent),
                               null, { timeout: 30000 });
    const [quiet] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const quietPath = path.join(args.out, "silence.json");
    await quiet.saveAs(quietPath);
    const quietResult = JSON.parse(fs.readFileSync(quietPath, "utf8"));
    const quietWords = (await page.textContent("#verdict")).trim();
    check(quietResult.decision === "inconclusive" && expectedWords(quietResult).test(quietWords) &&
          /cannot tell/i.test(quietWords),
          "silence gets 'cannot tell' with its reason", `"${quietWords}" for ${quietResult.decision}/${quietResult.reason}`);

    // Drag and drop, with the request held back so that the progress
    // indicator can be seen while the upload is under way.
    let release;
    const gate = new Promise((resolve) => { release = resolve; });
    await page.route("**/v1/score**", async (route) => { await gate; await route.continue(); });
    const dropped = page.waitForResponse((resp) => resp.url().includes("/v1/score"), { timeout: 120000 });
    await page.evaluate(([b64, name]) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: "audio/wav" }));
      const zone = document.getElementById("drop");
      for (const type of ["dragenter", "dragover", "drop"]) {
        zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }
    }, [fs.readFileSync(args.sample).toString("base64"), "dropped.wav"]);
    await page.waitForSelector("#progress-box:not([hidden])", { timeout: 10000 });
    check(await page.isDisabled("#choose") && /dropped\.wav/.test(await page.textContent("#progress-label")),
          "while uploading, a progress indicator names the file and the chooser waits");
    release();
    check((await dropped).status() === 200, "a dropped file is scored");
    await page.waitForFunction(() => /dropped\.wav/.test(document.getElementById("facts").textContent),
                               null, { timeout: 30000 });
    check(await page.isHidden("#progress-box"), "the progress indicator goes away with the result");
    await page.unroute("**/v1/score**");

    check(pageErrors.length === 0, "no script errors on the page", pageErrors.join(" | "));
  } finally {
    await browser.close();
    server.child.kill("SIGTERM");
    await new Promise((resolve) => {
      if (server.child.exitCode !== null) resolve();
      server.child.on("exit", resolve);
    });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (e) {
  failures++;
  console.log(`FAIL ${e.stack || e}`);
}
console.log(failures === 0 ? "PASSED" : `${failures} check(s) FAILED; screenshots in ${args.out}`);
process.exit(failures === 0 ? 0 : 1);
