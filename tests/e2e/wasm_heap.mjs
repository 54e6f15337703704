// The OBU's day on MicroPython's 32-bit WebAssembly port (npm
// @micropython/micropython-webassembly-pyscript), step by step, printing the live heap after
// every step: the 32-bit counterpart of tests/e2e/heap_steps_unix.py (see heap_steps.py).
//
//   node wasm_heap.mjs PACKAGE_DIR TREE|- ROMFS|- CONFIG ROOT NMEA END_T
//
// TREE: a folder with protocol/ and firmware/ as .mpy, copied into the in-memory filesystem
// (code loaded onto the heap, as from a device's filesystem); ROMFS: an image made by
// `mpremote romfs build`, which this port mounts at /rom with the code in place (as from an
// ESP32's ROMFS partition). The port has no sockets: HTTP goes through qm_relay, a module of
// this harness that hands each request to a short node child process on a real TCP connection.
// One JSON line per step: {"step": ..., "live": bytes}; the last line {"report": "..."}.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pkg, tree, romfs, config, root, nmea, endT] = process.argv.slice(2);
const { loadMicroPython } = await import(pathToFileURL(path.join(pkg, "micropython.mjs")).href);

const out = [];
const mp = await loadMicroPython({
  heapsize: 64 * 1024, // the initial heap: this port grows it on demand
  romfs: romfs !== "-" ? fs.readFileSync(romfs) : undefined,
  stdout: (line) => out.push(line),
  stderr: (line) => console.error(line),
});

function copyIn(src, dst) {
  mp.FS.mkdir(dst);
  for (const name of fs.readdirSync(src)) {
    const s = path.join(src, name);
    if (fs.statSync(s).isDirectory()) copyIn(s, dst + "/" + name);
    else mp.FS.writeFile(dst + "/" + name, fs.readFileSync(s));
  }
}

const RELAY = `
const net = require("node:net");
const [host, port] = process.argv.slice(1);
const req = require("node:fs").readFileSync(0);
const chunks = [];
const s = net.connect(Number(port), host, () => s.write(req));
s.on("data", (c) => chunks.push(c));
s.on("end", () => process.stdout.write(Buffer.concat(chunks)));
s.on("error", (e) => { console.error(String(e)); process.exit(1); });
`;

mp.registerJsModule("qm_relay", {
  exchange(host, port, hex) {
    const r = spawnSync(process.execPath, ["-e", RELAY, host, String(port)], {
      input: Buffer.from(hex, "hex"),
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error("relay: " + r.stderr);
    return r.stdout.toString("hex");
  },
});

if (tree !== "-") copyIn(tree, "/d");
mp.FS.mkdir("/u");
copyIn(root, "/u/obu");
mp.FS.writeFile("/u/config.json", fs.readFileSync(config));
mp.FS.writeFile("/u/day.nmea", fs.readFileSync(nmea));
const steps = fs.readFileSync(new URL("heap_steps.py", import.meta.url), "utf8");
mp.FS.writeFile("/heap_steps.py", steps);

// Each step its own top-level call: the port collects only between calls (gc.collect() or a
// full heap marks a collection pending, run when the outermost call returns), so the live heap
// after a step is read by the call after the one that asked for the collection.
function run(code) {
  try {
    return mp.runPython(code);
  } catch (e) {
    console.error(String(e.message || e).slice(-3000));
    process.exit(2);
  }
}
function live(step) {
  run("import gc; gc.collect()"); // only asks: the collection runs when this call returns
  run("_live = gc.mem_alloc()");
  console.log(JSON.stringify({ step, live: mp.globals.get("_live") }));
}

run(`import sys; sys.path.insert(0, "/"); sys.path.insert(0, "${tree !== "-" ? "/d" : "/rom"}")`);
live("start");
run(`import heap_steps as hs
hs.boot("/u/config.json", "/u/obu", "/u/day.nmea", ${Number(endT)}, hs.relay_connect)`);
live("boot");
for (;;) {
  run("_more = hs.drive(64)");
  if (!mp.globals.get("_more")) break;
}
live("drive");
run("_n = len(hs.AFTER_DRIVE)");
for (let i = 0, n = mp.globals.get("_n"); i < n; i++) {
  run(`_label, _step = hs.AFTER_DRIVE[${i}]; getattr(hs, _step)()`);
  live(mp.globals.get("_label"));
}
run("_report = hs.report()");
console.log(JSON.stringify({ report: mp.globals.get("_report") }));
for (const line of out) if (line.trim()) console.error(line);
