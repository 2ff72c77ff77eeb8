// Copies through @azure/storage-blob: beginCopyFromURL (done at once),
// syncCopyFromURL, syncUploadFromURL (Put Blob From URL), stageBlockFromURL,
// appendBlockFromURL, uploadPagesFromURL, abortCopyFromURL; append and page blobs.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";

import {
  BlobSASPermissions,
  BlobServiceClient,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from "@azure/storage-blob";

import { startAzlite } from "./harness.mjs";

let az, svc, cred, container;

async function expectError(promise, status, code) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.statusCode, status, e.message);
    assert.equal(e.code ?? e.details?.errorCode, code);
    return true;
  });
}

function sasUrl(blob) {
  const sas = generateBlobSASQueryParameters({
    containerName: blob.containerName,
    blobName: blob.name,
    permissions: BlobSASPermissions.parse("r"),
    expiresOn: new Date(Date.now() + 3600 * 1000),
  }, cred).toString();
  return `${blob.url}?${sas}`;
}

before(async () => {
  az = await startAzlite();
  cred = new StorageSharedKeyCredential(az.account, az.key);
  svc = new BlobServiceClient(az.blobUrl, cred);
  container = svc.getContainerClient("copytests");
  await container.create();
});

after(async () => {
  await az?.stop();
});

describe("copy", () => {
  test("beginCopyFromURL completes at once", async () => {
    const data = crypto.randomBytes(200 * 1024);
    const src = container.getBlockBlobClient("src.bin");
    await src.uploadData(data, { metadata: { from: "src" } });
    const dst = container.getBlobClient("dst.bin");
    const poller = await dst.beginCopyFromURL(src.url);
    const result = await poller.pollUntilDone();
    assert.equal(result.copyStatus, "success");
    assert.ok((await dst.downloadToBuffer()).equals(data));
    const p = await dst.getProperties();
    assert.equal(p.copyStatus, "success");
    assert.equal(p.copySource, src.url);
    assert.deepEqual(p.metadata, { from: "src" });
    await expectError(dst.abortCopyFromURL(result.copyId), 409, "NoPendingCopyOperation");
  });

  test("sync copy and Put Blob From URL need a SAS on the source", async () => {
    const src = container.getBlockBlobClient("s2");
    await src.upload("sync source", 11);
    const dst = container.getBlobClient("d2");
    await expectError(dst.syncCopyFromURL(src.url), 404, "CannotVerifyCopySource");
    const r = await dst.syncCopyFromURL(sasUrl(src));
    assert.equal(r.copyStatus, "success");
    assert.equal((await dst.downloadToBuffer()).toString(), "sync source");
    const put = container.getBlockBlobClient("d3");
    await put.syncUploadFromURL(sasUrl(src));
    assert.equal((await put.downloadToBuffer()).toString(), "sync source");
  });

  test("stageBlockFromURL assembles ranges of other blobs", async () => {
    const src = container.getBlockBlobClient("parts");
    await src.upload("0123456789abcdef", 16);
    const dst = container.getBlockBlobClient("assembled");
    const id = (n) => Buffer.from(`b${n}`).toString("base64");
    await dst.stageBlockFromURL(id(1), sasUrl(src), 10, 6);
    await dst.stageBlockFromURL(id(2), sasUrl(src), 0, 4);
    await dst.commitBlockList([id(1), id(2)]);
    assert.equal((await dst.downloadToBuffer()).toString(), "abcdef0123");
  });

  test("a URL outside azlite is refused", async () => {
    await expectError(container.getBlobClient("x").syncCopyFromURL(
      "https://elsewhere.blob.core.windows.net/c/b"), 400, "CannotVerifyCopySource");
  });
});

describe("append blobs", () => {
  test("append, conditions, seal", async () => {
    const b = container.getAppendBlobClient("log");
    await b.create();
    await b.appendBlock("first\n", 6);
    const r = await b.appendBlock("second\n", 7, { conditions: { appendPosition: 6 } });
    assert.equal(r.blobAppendOffset, "6");
    assert.equal(r.blobCommittedBlockCount, 2);
    await expectError(b.appendBlock("x", 1, { conditions: { appendPosition: 1 } }), 412,
      "AppendPositionConditionNotMet");
    await expectError(b.appendBlock("x", 1, { conditions: { maxSize: 13 } }), 412,
      "MaxBlobSizeConditionNotMet");
    const src = container.getBlockBlobClient("tail-src");
    await src.upload("tail", 4);
    await b.appendBlockFromURL(sasUrl(src), 0, 4);
    assert.equal((await b.downloadToBuffer()).toString(), "first\nsecond\ntail");
    await b.seal();
    assert.equal((await b.getProperties()).isSealed, true);
    await expectError(b.appendBlock("x", 1), 409, "BlobIsSealed");
  });
});

describe("page blobs", () => {
  test("pages, ranges, clear, resize, sequence numbers", async () => {
    const b = container.getPageBlobClient("disk");
    await b.create(8192, { blobSequenceNumber: 3 });
    const page = Buffer.alloc(1024, 7);
    await b.uploadPages(page, 1024, 1024);
    await b.uploadPages(Buffer.alloc(512, 9), 4096, 512);
    // The SDK reports a range as its offset and its last byte less the offset.
    const spans = (r) => r.pageRange.map((x) => [x.offset, x.offset + x.count]);
    assert.deepEqual(spans(await b.getPageRanges()), [[1024, 2047], [4096, 4607]]);
    await b.clearPages(1024, 512);
    assert.deepEqual(spans(await b.getPageRanges(0, 8192)), [[1536, 2047], [4096, 4607]]);
    const all = await b.downloadToBuffer();
    assert.equal(all.length, 8192);
    assert.ok(all.subarray(0, 1536).equals(Buffer.alloc(1536)));
    assert.ok(all.subarray(1536, 2048).equals(Buffer.alloc(512, 7)));
    await b.resize(2048);
    assert.equal((await b.getProperties()).contentLength, 2048);
    const seq = await b.updateSequenceNumber("increment");
    assert.equal(seq.blobSequenceNumber, 4);
    await expectError(b.uploadPages(page, 0, 1024,
      { conditions: { ifSequenceNumberLessThan: 4 } }), 412, "SequenceNumberConditionNotMet");
    const src = container.getBlockBlobClient("page-src");
    await src.uploadData(Buffer.alloc(512, 5));
    await b.uploadPagesFromURL(sasUrl(src), 0, 0, 512);
    assert.ok((await b.downloadToBuffer(0, 512)).equals(Buffer.alloc(512, 5)));
  });
});
