// The core of the blob data plane through @azure/storage-blob: containers,
// uploads (single put, blocks, parallel streams), downloads with ranges,
// properties and metadata, listings, conditional requests, Azure's errors.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";

import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";

import { startAzlite } from "./harness.mjs";

let az, svc, container;

// Azure Storage's CRC64 (reflected 0x9A6C9329AC4BC9B5, inverted in and out), as
// x-ms-content-crc64 carries it: 8 bytes little-endian, here in hex.
function crc64le(text) {
  const poly = 0x9a6c9329ac4bc9b5n;
  let c = 0xffffffffffffffffn;
  for (const byte of Buffer.from(text)) {
    c ^= BigInt(byte);
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ poly : c >> 1n;
  }
  c ^= 0xffffffffffffffffn;
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(c);
  return out.toString("hex");
}

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
  container = svc.getContainerClient("datatests");
  await container.create({ metadata: { team: "ml" } });
});

after(async () => {
  await az?.stop();
});

describe("containers", () => {
  test("properties, metadata, and Azure's errors", async () => {
    const p = await container.getProperties();
    assert.deepEqual(p.metadata, { team: "ml" });
    assert.equal(p.leaseState, "available");
    await expectError(container.create(), 409, "ContainerAlreadyExists");
    await expectError(svc.getContainerClient("Bad_Name").create(), 400, "InvalidResourceName");
    await expectError(svc.getContainerClient("missing-one").getProperties(), 404,
      "ContainerNotFound");
    assert.equal(await svc.getContainerClient("missing-one").exists(), false);
  });
});

describe("block blobs", () => {
  test("upload and download bytes, properties and metadata", async () => {
    const b = container.getBlockBlobClient("dir/a.txt");
    await b.upload("hello azlite", 12, {
      metadata: { color: "blue" },
      blobHTTPHeaders: { blobContentType: "text/plain", blobCacheControl: "no-cache" },
    });
    assert.equal((await b.downloadToBuffer()).toString(), "hello azlite");
    const p = await b.getProperties();
    assert.equal(p.contentLength, 12);
    assert.equal(p.contentType, "text/plain");
    assert.equal(p.cacheControl, "no-cache");
    assert.deepEqual(p.metadata, { color: "blue" });
    assert.equal(Buffer.from(p.contentMD5).toString("hex"),
      crypto.createHash("md5").update("hello azlite").digest("hex"));
    assert.equal((await b.downloadToBuffer(6, 6)).toString(), "azlite");
    await b.setMetadata({ shade: "dark" });
    assert.deepEqual((await b.getProperties()).metadata, { shade: "dark" });
  });

  test("large uploads in blocks and parallel ranged downloads", async () => {
    const data = crypto.randomBytes(5 * 1024 * 1024 + 321);
    const b = container.getBlockBlobClient("big.bin");
    await b.uploadData(data, { blockSize: 1024 * 1024, maxSingleShotSize: 1024 * 1024,
      concurrency: 4 });
    const list = await b.getBlockList("committed");
    assert.equal(list.committedBlocks.length, 6);
    const back = await b.downloadToBuffer(0, undefined, { blockSize: 700 * 1024,
      concurrency: 4 });
    assert.ok(back.equals(data));
    await expectError(b.download(data.length + 10, 5), 416, "InvalidRange");
  });

  test("staged blocks commit in the order given", async () => {
    const b = container.getBlockBlobClient("staged");
    const id = (n) => Buffer.from(`block-${n}`).toString("base64");
    // From 2019-02-02 a block reports x-ms-content-crc64, or Content-MD5 when sent one.
    const r1 = await b.stageBlock(id(1), "one-", 4);
    assert.equal(Buffer.from(r1.xMsContentCrc64).toString("hex"), crc64le("one-"));
    assert.equal(r1.contentMD5, undefined);
    const md5 = crypto.createHash("md5").update("two-").digest();
    const r2 = await b.stageBlock(id(2), "two-", 4, { transactionalContentMD5: md5 });
    assert.equal(Buffer.from(r2.contentMD5).toString("hex"), md5.toString("hex"));
    assert.equal(r2.xMsContentCrc64, undefined);
    await b.stageBlock(id(3), "three", 5);
    const unc = await b.getBlockList("uncommitted");
    assert.equal(unc.uncommittedBlocks.length, 3);
    await b.commitBlockList([id(3), id(1)]);
    assert.equal((await b.downloadToBuffer()).toString(), "threeone-");
    await expectError(b.commitBlockList([id(2)]), 400, "InvalidBlockList");
  });

  test("conditional requests", async () => {
    const b = container.getBlockBlobClient("cond.txt");
    const { etag } = await b.upload("v1", 2);
    await expectError(b.upload("v2", 2, { conditions: { ifMatch: '"0x8D000000"' } }), 412,
      "ConditionNotMet");
    await expectError(b.upload("v2", 2, { conditions: { ifNoneMatch: "*" } }), 409,
      "BlobAlreadyExists");
    await b.upload("v2", 2, { conditions: { ifMatch: etag } });
    assert.equal((await b.downloadToBuffer()).toString(), "v2");
  });

  test("missing blobs", async () => {
    const b = container.getBlobClient("nope");
    await expectError(b.getProperties(), 404, "BlobNotFound");
    assert.equal(await b.exists(), false);
    await expectError(b.delete(), 404, "BlobNotFound");
  });
});

describe("listings", () => {
  test("flat, hierarchical and paged", async () => {
    const c = svc.getContainerClient("listtests");
    await c.create();
    for (const n of ["a/1", "a/2", "b/1", "c"]) await c.getBlockBlobClient(n).upload("x", 1);
    const flat = [];
    for await (const b of c.listBlobsFlat()) flat.push(b.name);
    assert.deepEqual(flat, ["a/1", "a/2", "b/1", "c"]);
    const tree = [];
    for await (const item of c.listBlobsByHierarchy("/")) {
      tree.push(item.kind === "prefix" ? `prefix:${item.name}` : item.name);
    }
    assert.deepEqual(tree, ["prefix:a/", "prefix:b/", "c"]);
    const pages = [];
    for await (const page of c.listBlobsFlat().byPage({ maxPageSize: 3 })) {
      pages.push(page.segment.blobItems.length);
    }
    assert.deepEqual(pages, [3, 1]);
    await c.delete();
  });
});
