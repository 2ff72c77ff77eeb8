// Blob Batch (service and container level, delete and set tier, Shared Key
// and SAS sub-requests) and CORS (preflight and actual requests) through
// @azure/storage-blob and fetch.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  AccountSASPermissions,
  BlobServiceClient,
  StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
} from "@azure/storage-blob";

import { fetchBounded, startAzlite } from "./harness.mjs";

let az, svc, cred, container;

before(async () => {
  az = await startAzlite();
  cred = new StorageSharedKeyCredential(az.account, az.key);
  svc = new BlobServiceClient(az.blobUrl, cred);
  container = svc.getContainerClient("batchtests");
  await container.create();
});

after(async () => {
  await az?.stop();
});

async function names(c) {
  const out = [];
  for await (const b of c.listBlobsFlat()) out.push(b.name);
  return out;
}

describe("batch", () => {
  test("service-level delete with one failure", async () => {
    for (const n of ["a", "b"]) await container.getBlockBlobClient(n).upload("x", 1);
    const batch = svc.getBlobBatchClient();
    const res = await batch.deleteBlobs([
      container.getBlobClient("a"),
      container.getBlobClient("b"),
      container.getBlobClient("missing"),
    ]);
    assert.equal(res.subResponsesSucceededCount, 2);
    assert.equal(res.subResponsesFailedCount, 1);
    assert.deepEqual(res.subResponses.map((r) => r.status), [202, 202, 404]);
    assert.equal(res.subResponses[2].errorCode, "BlobNotFound");
    assert.deepEqual(await names(container), []);
  });

  test("container-level set tier", async () => {
    for (const n of ["t1", "t2"]) await container.getBlockBlobClient(n).upload("x", 1);
    const batch = container.getBlobBatchClient();
    const res = await batch.setBlobsAccessTier(
      [container.getBlobClient("t1"), container.getBlobClient("t2")], "Cool");
    assert.deepEqual(res.subResponses.map((r) => r.status), [200, 200]);
    for (const n of ["t1", "t2"]) {
      assert.equal((await container.getBlobClient(n).getProperties()).accessTier, "Cool");
    }
  });

  test("sub-requests authorized by an account SAS", async () => {
    const sas = generateAccountSASQueryParameters({
      expiresOn: new Date(Date.now() + 3600 * 1000),
      permissions: AccountSASPermissions.parse("rdl"),
      resourceTypes: "sco",
      services: "b",
    }, cred).toString();
    await container.getBlockBlobClient("sas1").upload("x", 1);
    const sasSvc = new BlobServiceClient(`${az.blobUrl}?${sas}`);
    const c = sasSvc.getContainerClient("batchtests");
    const res = await sasSvc.getBlobBatchClient().deleteBlobs([c.getBlobClient("sas1")]);
    assert.deepEqual(res.subResponses.map((r) => r.status), [202]);
    assert.equal(await container.getBlobClient("sas1").exists(), false);
  });
});

describe("cors", () => {
  test("preflight and actual requests follow the rules", async () => {
    const blob = container.getBlockBlobClient("cors.txt");
    await blob.upload("x", 1, { metadata: { color: "red" } });
    const opts = (origin, method) => fetchBounded(blob.url, {
      method: "OPTIONS",
      headers: { Origin: origin, "Access-Control-Request-Method": method },
    });
    let r = await opts("http://web.example", "GET");
    assert.equal(r.status, 403);
    assert.equal(r.headers.get("x-ms-error-code"), "CorsPreflightFailure");
    await svc.setProperties({
      cors: [{
        allowedOrigins: "http://web.example",
        allowedMethods: "GET,HEAD",
        allowedHeaders: "x-ms-*",
        exposedHeaders: "x-ms-meta-*",
        maxAgeInSeconds: 60,
      }],
    });
    r = await opts("http://web.example", "GET");
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("access-control-allow-origin"), "http://web.example");
    assert.equal(r.headers.get("access-control-max-age"), "60");
    r = await opts("http://web.example", "DELETE");
    assert.equal(r.status, 403);
    const sas = generateAccountSASQueryParameters({
      expiresOn: new Date(Date.now() + 3600 * 1000),
      permissions: AccountSASPermissions.parse("r"),
      resourceTypes: "sco",
      services: "b",
    }, cred).toString();
    r = await fetchBounded(`${blob.url}?${sas}`, { headers: { Origin: "http://web.example" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("access-control-allow-origin"), "http://web.example");
    assert.match(r.headers.get("access-control-expose-headers"), /x-ms-meta-color/);
    await svc.setProperties({ cors: [] });
    r = await opts("http://web.example", "GET");
    assert.equal(r.status, 403);
  });
});
