// `npm run bench:editor`: how long a journey of N steps (default 200) takes to appear in the
// editor, from navigation to every node drawn, in Debian's Chromium against a real `cairn serve`
// — beside the baseline of the journeys list page in the same run. Prints JSON on its last line.
import { browse, missing, serve } from "./harness.mjs";

const N = Number(process.argv[2] ?? 200);
const RUNS = Number(process.argv[3] ?? 5);
const why = missing();
if (why) {
  console.error(`cannot run: ${why}`);
  process.exit(2);
}

/** A chain of sends and waits with a branch every 10 steps (both arms meet again): N nodes. */
function bigFlow(n) {
  const nodes = [{ id: "start", type: "webhook_entry" }];
  const edges = [];
  // The outputs waiting for the next node.
  let open = [{ from: "start" }];
  const add = (node) => {
    nodes.push(node);
    for (const o of open) edges.push({ from: o.from, to: node.id, ...(o.when ? { when: o.when } : {}) });
    open = [{ from: node.id }];
  };
  for (let i = 1; nodes.length < n - 1; i++) {
    const id = `n${i}`;
    if (i % 10 === 0 && nodes.length < n - 2) {
      add({ id, type: "branch", condition: { has_tag: `t${i}` } });
      open = [{ from: id, when: "yes" }];
      add({ id: `${id}_tag`, type: "add_tag", tag: `seen${i}` });
      open.push({ from: id, when: "no" });
    } else {
      add(i % 2 ? { id, type: "send_email", subject: `Step ${i}`, html: `<p>${i}</p>` } : { id, type: "wait", duration: "1d" });
    }
  }
  add({ id: "done", type: "exit" });
  return { format: "cairn.flow/v1", name: `Big ${n}`, nodes, edges };
}

const server = await serve({ open: true });
const b = await browse();
try {
  const flow = bigFlow(N);
  const made = await server.api("POST", "/api/flows", flow);
  const measure = async (path, selector, count) => {
    const times = [];
    for (let i = 0; i < RUNS; i++) {
      await b.page.goto("about:blank");
      const t0 = Date.now();
      await b.page.goto(server.url + path);
      await b.page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length >= n, [selector, count], { timeout: 60000, polling: 20 });
      times.push(Date.now() - t0);
    }
    times.sort((x, y) => x - y);
    return { median_ms: times[Math.floor(times.length / 2)], min_ms: times[0], max_ms: times[times.length - 1] };
  };
  const list = await measure("/flows", "table.table tbody tr", 1);
  const editor = await measure(`/flows/${made.id}`, ".react-flow__node", flow.nodes.length);
  console.log(`journeys list (baseline): ${list.median_ms} ms median of ${RUNS}`);
  console.log(`editor with ${flow.nodes.length} nodes: ${editor.median_ms} ms median (${editor.min_ms}–${editor.max_ms}) of ${RUNS}`);
  console.log(JSON.stringify({ nodes: flow.nodes.length, runs: RUNS, list, editor }));
  if (b.errors.length) console.error(b.errors.join("\n"));
} finally {
  await b.close();
  await server.stop();
}
