// Leases, snapshots and index tags through @azure/storage-blob.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";

import { startAzlite } from "./harness.mjs";

let az, svc, container;

async function expectError(promise, status, code) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.statusCode, status, e.message);
    assert.equal(e.code ?? e.details?.errorCode, code);
    return true;
  });
}

before(async () => {
  az = await startAzlite();
  svc = new BlobServiceClient(az.blobUrl, new StorageSharedKeyCredential(az.account, az.key));
  container = svc.getContainerClient("featuretests");
  await container.create();
});

after(async () => {
  await az?.stop();
});

describe("leases", () => {
  test("blob lease: writes need it, it expires on azlite's clock", async () => {
    const b = container.getBlockBlobClient("leased.txt");
    await b.upload("v1", 2);
    const lease = b.getBlobLeaseClient();
    const { leaseId } = await lease.acquireLease(15);
    assert.equal(leaseId, lease.leaseId);
    const p = await b.getProperties();
    assert.deepEqual([p.leaseStatus, p.leaseState, p.leaseDuration], ["locked", "leased", "fixed"]);
    await expectError(b.upload("v2", 2), 412, "LeaseIdMissing");
    await expectError(b.upload("v2", 2, { conditions: { leaseId: randomUUID() } }), 412,
      "LeaseIdMismatchWithBlobOperation");
    await b.upload("v2", 2, { conditions: { leaseId } });
    await expectError(b.getBlobLeaseClient().acquireLease(20), 409, "LeaseAlreadyPresent");
    await lease.renewLease();
    const newId = randomUUID();
    await lease.changeLease(newId);
    assert.equal(lease.leaseId, newId);
    az.cli("clock", "advance", "16s");
    assert.equal((await b.getProperties()).leaseState, "expired");
    await b.upload("v3", 2);
    await lease.releaseLease();
    assert.equal((await b.getProperties()).leaseState, "available");
  });

  test("break with a period, then broken", async () => {
    const b = container.getBlockBlobClient("breakme");
    await b.upload("x", 1);
    await b.getBlobLeaseClient().acquireLease(-1);
    const r = await b.getBlobLeaseClient().breakLease(5);
    assert.equal(r.leaseTime, 5);
    assert.equal((await b.getProperties()).leaseState, "breaking");
    await expectError(b.delete(), 412, "LeaseIdMissing");
    az.cli("clock", "advance", "6s");
    assert.equal((await b.getProperties()).leaseState, "broken");
    await b.delete();
  });

  test("container lease guards delete", async () => {
    const c = svc.getContainerClient("leasedcontainer");
    await c.create();
    const lease = c.getBlobLeaseClient();
    await lease.acquireLease(-1);
    await expectError(c.delete(), 412, "LeaseIdMissing");
    const listed = [];
    for await (const item of svc.listContainers({ prefix: "leasedcontainer" })) listed.push(item);
    assert.equal(listed[0].properties.leaseState, "leased");
    await c.delete({ conditions: { leaseId: lease.leaseId } });
  });
});

describe("snapshots", () => {
  test("read old content, list, delete with snapshots", async () => {
    const b = container.getBlockBlobClient("snap.txt");
    await b.upload("old", 3);
    const { snapshot } = await b.createSnapshot({ metadata: { when: "before" } });
    await b.upload("new!", 4);
    const s = b.withSnapshot(snapshot);
    assert.equal((await s.downloadToBuffer()).toString(), "old");
    assert.deepEqual((await s.getProperties()).metadata, { when: "before" });
    const items = [];
    for await (const x of container.listBlobsFlat({ includeSnapshots: true, prefix: "snap" })) {
      items.push([x.name, x.snapshot ?? ""]);
    }
    assert.equal(items.length, 2);
    assert.ok(items.some(([, sn]) => sn === snapshot));
    await expectError(b.delete(), 409, "SnapshotsPresent");
    await b.delete({ deleteSnapshots: "include" });
    assert.equal(await s.exists(), false);
  });
});

describe("tags", () => {
  test("set, get, conditions and Find Blobs by Tags", async () => {
    const run = randomUUID().slice(0, 8);
    for (let i = 0; i < 4; i++) {
      await container.getBlockBlobClient(`tagged-${i}`).upload("x", 1,
        { tags: { run, idx: String(i) } });
    }
    const b = container.getBlockBlobClient("tagged-0");
    assert.deepEqual((await b.getTags()).tags, { run, idx: "0" });
    assert.equal((await b.getProperties()).tagCount, 2);
    await b.setTags({ run, idx: "9", extra: "yes" });
    const found = [];
    for await (const x of svc.findBlobsByTags(`run = '${run}' AND idx >= '2'`)) {
      found.push(x.name);
    }
    assert.deepEqual(found.sort(), ["tagged-0", "tagged-2", "tagged-3"]);
    const inContainer = [];
    for await (const x of container.findBlobsByTags(`run='${run}' AND idx < '2'`)) {
      inContainer.push([x.name, x.tags]);
    }
    assert.deepEqual(inContainer, [["tagged-1", { run, idx: "1" }]]);
    await expectError(b.getProperties({ conditions: { tagConditions: "extra = 'no'" } }), 412,
      "ConditionNotMet");
    await b.setMetadata({ m: "1" }, { conditions: { tagConditions: "extra = 'yes'" } });
    const listed = [];
    for await (const x of container.listBlobsFlat({ includeTags: true, prefix: "tagged-0" })) {
      listed.push(x.tags);
    }
    assert.deepEqual(listed, [{ run, idx: "9", extra: "yes" }]);
    await expectError(svc.findBlobsByTags("a = 'x' OR b = 'y'").next(), 400,
      "InvalidQueryParameterValue");
  });
});
