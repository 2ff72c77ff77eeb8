// mlflow_calls.mjs: calls through npm `mlflow` (a REST client of MLflow's
// tracking API, not ours) for tests/e2e/ml/test_mlflow.py, which runs
//   node mlflow_calls.mjs <endpoint> <calls.json> <results.json>
// with the bearer token in MLFLOW_TOKEN.  calls.json: [[group, method, args],
// ...] (group Experiments, Runs, Metrics or Artifacts); each result is
// {"ok": data} or {"status", "data"} of a non-200 answer (the client throws
// those), in order.  Results go to a file: the client prints request bodies.
import fs from "node:fs";
import MLflow from "mlflow";

const [endpoint, callsPath, outPath] = process.argv.slice(2);
const client = new (MLflow.default || MLflow)({
  endpoint,
  headers: process.env.MLFLOW_TOKEN ? { Authorization: "Bearer " + process.env.MLFLOW_TOKEN } : {},
});
const results = [];
for (const [group, method, args] of JSON.parse(fs.readFileSync(callsPath, "utf8"))) {
  try {
    results.push({ ok: await client[group][method](args) });
  } catch (e) {
    // The client's error: Error("Error: " + JSON.stringify({status, statusText, data})).
    const text = String(e.message).replace(/^Error: /, "");
    try {
      results.push(JSON.parse(text));
    } catch {
      results.push({ status: -1, data: text });
    }
  }
}
fs.writeFileSync(outPath, JSON.stringify(results));
