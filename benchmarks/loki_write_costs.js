// What a write costs in Azurite's storage engine (LokiJS) once one partition holds millions of
// rows, with Loki's own remove and with the indexed emulator's (tools/azurite_range_index.js):
// a point read, a delete of another partition's recent row, a replace of one (Azurite's replace
// is a remove and an insert), and a delete of a row of the large partition. Plain Loki in this
// process, no HTTP: it isolates the engine's cost from Azurite's request handling, which
// benchmarks/azurite_scaling.py measures through the store's client.
//
//     node benchmarks/loki_write_costs.js [rows in the large partition, default 2300000]
//
// Both collections are filled through the preload's insert (Loki's own puts each new row of a
// partition before the rows of equal value, O(n) a row: hours at this size); "loki" keeps
// Loki's two indexes and its remove, as stock Azurite does, "preload" is the collection the
// indexed emulator creates.
"use strict";

const path = require("path");

const persistence = path.join(__dirname, "..", "node_modules", "azurite", "dist", "src", "table",
                              "persistence");
const Loki = require(require.resolve("lokijs", {paths: [persistence]}));
const {movingLastOnRemove} = require(path.join(__dirname, "..", "tools",
                                                "azurite_range_index.js"));

const rows = Number(process.argv[2] || 2300000);
const key = (prefix, n) => prefix + String(n).padStart(9, "0");

function filled(preload) {
  const collection = new Loki("costs").addCollection("entities", {
    indices: preload ? ["RowKey"] : ["PartitionKey", "RowKey"],
  });
  if (preload) {
    movingLastOnRemove(collection);
  }
  for (let n = 0; n < rows; n++) {
    collection.insert({PartitionKey: "large", RowKey: key("M:", n), properties: {n}});
  }
  for (let t = 0; t < 20; t++) {
    for (let n = 0; n < 50; n++) {
      collection.insert({PartitionKey: `small${t}`, RowKey: key("U:", n), properties: {n}});
    }
  }
  return collection;
}

function perCall(count, call) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    call(i);
  }
  return Number(process.hrtime.bigint() - started) / 1e6 / count;
}

function measure(preload) {
  const c = filled(preload);
  const find = (pk, rk) => c.findOne({RowKey: rk, PartitionKey: pk});
  return {
    "point read": perCall(1000, (i) => find("large", key("M:", (i * 997) % rows))),
    "delete (small partition)": perCall(40, (i) => c.remove(find("small3", key("U:", i)))),
    "replace (small partition)": perCall(40, (i) => {
      const old = find("small5", key("U:", i));
      c.remove(old);
      c.insert({PartitionKey: "small5", RowKey: old.RowKey, properties: {n: -i}});
    }),
    "delete (large partition)": perCall(40, (i) => c.remove(
      find("large", key("M:", (i * 1013 + 5) % rows)))),
  };
}

const results = {};
for (const [name, preload] of [["loki", false], ["preload", true]]) {
  process.stderr.write(`${name}: filling ${rows.toLocaleString("en")} rows ...\n`);
  results[name] = measure(preload);
}
console.log(`ms per call, ${rows.toLocaleString("en")} rows in the large partition`);
console.log("| operation | Loki's remove, two indexes | the preload's |");
console.log("|---|---|---|");
for (const op of Object.keys(results.loki)) {
  console.log(`| ${op} | ${results.loki[op].toFixed(3)} | ${results.preload[op].toFixed(3)} |`);
}
