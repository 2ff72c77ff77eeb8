// `UseDevelopmentStorage=true` (issue 16, item 19): the connection string every Azurite
// tutorial uses means http://127.0.0.1:10000/devstoreaccount1 with the well-known key,
// so azlite on its default blob port must answer it.  Needs port 10000 free; when another
// process holds it the test is skipped, with that reason.
// (python3-azure-storage 12.15 does not parse this connection string at all: a client
// limitation, so the JS SDK, which does, is the client here.)
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, test } from "node:test";

import { BlobServiceClient } from "@azure/storage-blob";

import { Azlite } from "./harness.mjs";

const DEV_PORT = 10000;
let az = null;
let busy = null;

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  if (!(await portFree(DEV_PORT))) {
    busy = `port ${DEV_PORT} is held by another process`;
    return;
  }
  az = new Azlite();
  az.ports = { mgmt: await freePort(), blob: DEV_PORT, blobTls: await freePort() };
  await az.start();
});

after(async () => {
  if (az) await az.stop();
});

test("UseDevelopmentStorage=true reaches azlite", { timeout: 60000 }, async (t) => {
  if (busy) {
    t.skip(busy);
    return;
  }
  const svc = BlobServiceClient.fromConnectionString("UseDevelopmentStorage=true");
  assert.equal(svc.url, `http://127.0.0.1:${DEV_PORT}/devstoreaccount1`);
  const name = `dev${Date.now().toString(36)}`;
  const container = svc.getContainerClient(name);
  await container.create();
  const blob = container.getBlockBlobClient("hello.txt");
  await blob.upload("from UseDevelopmentStorage", 26);
  const got = await blob.downloadToBuffer();
  assert.equal(got.toString(), "from UseDevelopmentStorage");
  const names = [];
  for await (const c of svc.listContainers()) names.push(c.name);
  assert.ok(names.includes(name), names.join(","));
  // The same data through the connection string `azlite env` prints.
  const envSvc = BlobServiceClient.fromConnectionString(az.connectionString);
  const again = await envSvc.getContainerClient(name).getBlockBlobClient("hello.txt")
    .downloadToBuffer();
  assert.equal(again.toString(), "from UseDevelopmentStorage");
});
