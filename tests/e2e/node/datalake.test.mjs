// Data Lake Storage Gen2 through @azure/storage-file-datalake at azlite's dfs
// port: a directory tree with appended and flushed files, listed, renamed in
// one step, and the same data through the blob endpoint (@azure/storage-blob).
// Host style (<account>.dfs.localhost and .blob.localhost, resolved to 127.0.0.1 here), as on Azure:
// the SDK's move() builds its destination URL for host-style endpoints only.
import assert from "node:assert/strict";
import dns from "node:dns";
import { after, before, describe, test } from "node:test";

import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { DataLakeServiceClient, StorageSharedKeyCredential as DfsKey }
  from "@azure/storage-file-datalake";

import { startAzlite } from "./harness.mjs";

let az, lake, blobs;

async function text(readResponse) {
  const chunks = [];
  for await (const c of readResponse.readableStreamBody) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

async function names(fs, opts = {}) {
  const out = [];
  for await (const p of fs.listPaths({ recursive: true, ...opts })) {
    out.push([p.name, p.isDirectory === true]);
  }
  return out;
}

const realLookup = dns.lookup;
dns.lookup = (host, opts, cb) => {
  if (typeof opts === "function") [cb, opts] = [opts, {}];
  if (!/\.(dfs|blob)\.localhost$/.test(host)) return realLookup(host, opts, cb);
  const o = typeof opts === "number" ? { family: opts } : opts || {};
  return o.all ? cb(null, [{ address: "127.0.0.1", family: 4 }]) : cb(null, "127.0.0.1", 4);
};

before(async () => {
  az = await startAzlite();
  lake = new DataLakeServiceClient(`http://${az.account}.dfs.localhost:${az.ports.dfs}`,
    new DfsKey(az.account, az.key));
  blobs = new BlobServiceClient(az.blobUrl, new StorageSharedKeyCredential(az.account, az.key));
});

after(async () => {
  await az?.stop();
});

describe("datalake", () => {
  test("tree, append/flush, rename, both endpoints", async () => {
    const fs = lake.getFileSystemClient("nodelake");
    await fs.create();
    await fs.getDirectoryClient("raw/2024").create();
    const f = fs.getFileClient("raw/2024/part-0.csv");
    await f.create();
    await f.append("a,b\n", 0, 4);
    await f.append("1,2\n", 4, 4);
    await f.flush(8);
    assert.equal(await text(await f.read()), "a,b\n1,2\n");
    assert.deepEqual(await names(fs),
      [["raw", true], ["raw/2024", true], ["raw/2024/part-0.csv", false]]);
    await fs.getDirectoryClient("raw").move("curated");
    assert.deepEqual(await names(fs),
      [["curated", true], ["curated/2024", true], ["curated/2024/part-0.csv", false]]);
    const ct = blobs.getContainerClient("nodelake");
    const listed = [];
    for await (const b of ct.listBlobsFlat({ includeMetadata: true })) {
      listed.push([b.name, b.metadata?.hdi_isfolder === "true"]);
    }
    assert.deepEqual(listed,
      [["curated", true], ["curated/2024", true], ["curated/2024/part-0.csv", false]]);
    const dl = await ct.getBlobClient("curated/2024/part-0.csv").download();
    assert.equal(await text(dl), "a,b\n1,2\n");
    await assert.rejects(f.read(), (e) => e.statusCode === 404);
    await fs.getDirectoryClient("curated").delete(true);
    assert.deepEqual(await names(fs), []);
  });
});
