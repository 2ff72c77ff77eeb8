// Blob versions and soft delete through @azure/storage-blob: versioning turned
// on with `az storage account blob-service-properties update`, soft delete with
// Set Blob Service Properties (devstoreaccount1, the data plane's own setting).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";

import { execFileSync } from "node:child_process";

import { CALL_TIMEOUT_MS, cleanEnv, startAzlite } from "./harness.mjs";

let az, versioned, dev;

// `azlite az ARGS`: the server's options come first, az's arguments after.
function azCli(...args) {
  return execFileSync(process.env.AZLITE_BIN || "build/azlite",
    ["az", "--data-dir", az.dataDir, "--mgmt-port", String(az.ports.mgmt), ...args],
    { encoding: "utf8", env: cleanEnv(), timeout: CALL_TIMEOUT_MS });
}

async function text(client, opts) {
  const r = await client.download(0, undefined, opts);
  const chunks = [];
  for await (const c of r.readableStreamBody) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

before(async () => {
  az = await startAzlite();
  const acct = "nodeveracct";
  azCli("group", "create", "-n", "node-protect", "-l", "eastus");
  azCli("storage", "account", "create", "-n", acct, "-g", "node-protect", "-l", "eastus",
    "--sku", "Standard_LRS", "--kind", "StorageV2");
  azCli("storage", "account", "blob-service-properties", "update", "-n", acct,
    "-g", "node-protect", "--enable-versioning", "true");
  const keys = JSON.parse(azCli("storage", "account", "keys", "list", "-n", acct,
    "-g", "node-protect", "--output", "json"));
  const base = az.blobUrl.slice(0, az.blobUrl.lastIndexOf("/"));
  versioned = new BlobServiceClient(`${base}/${acct}`,
    new StorageSharedKeyCredential(acct, keys[0].value));
  dev = new BlobServiceClient(az.blobUrl, new StorageSharedKeyCredential(az.account, az.key));
});

after(async () => {
  await az?.stop();
});

describe("versions", () => {
  test("three overwrites, each version read back", async () => {
    const ct = versioned.getContainerClient("nodever");
    await ct.create();
    const b = ct.getBlockBlobClient("dataset.csv");
    const ids = [];
    for (const body of ["v1,a", "v2,bb", "v3,ccc"]) {
      const r = await b.upload(body, body.length);
      assert.match(r.versionId, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
      ids.push(r.versionId);
    }
    assert.equal(new Set(ids).size, 3);
    assert.equal(await text(b.withVersion(ids[0])), "v1,a");
    assert.equal(await text(b.withVersion(ids[1])), "v2,bb");
    assert.equal(await text(b), "v3,ccc");
    const listed = [];
    for await (const x of ct.listBlobsFlat({ includeVersions: true })) {
      listed.push([x.versionId, x.isCurrentVersion === true]);
    }
    listed.sort();
    assert.deepEqual(listed, [[ids[0], false], [ids[1], false], [ids[2], true]]);
    await b.delete();
    assert.equal(await b.exists(), false);
    assert.equal(await text(b.withVersion(ids[2])), "v3,ccc");
  });
});

describe("soft delete", () => {
  test("delete, list deleted, undelete", async () => {
    await dev.setProperties({ deleteRetentionPolicy: { enabled: true, days: 2 } });
    const ct = dev.getContainerClient("nodesoft");
    await ct.create();
    const b = ct.getBlockBlobClient("keep.txt");
    await b.upload("precious", 8);
    await b.delete();
    assert.equal(await b.exists(), false);
    const deleted = [];
    for await (const x of ct.listBlobsFlat({ includeDeleted: true })) {
      deleted.push([x.name, x.deleted, x.properties.remainingRetentionDays]);
    }
    assert.deepEqual(deleted, [["keep.txt", true, 2]]);
    await b.undelete();
    assert.equal(await text(b), "precious");
    az.cli("clock", "advance", "3d");
    await b.delete();
    az.cli("clock", "advance", "3d");
    let left = 1;
    for (let i = 0; i < 200 && left; i++) {
      left = 0;
      for await (const x of ct.listBlobsFlat({ includeDeleted: true })) left += x ? 1 : 0;
      if (left) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(left, 0);
    await assert.rejects(b.undelete(), (e) => e.statusCode === 404);
  });
});
