// Authorization through @azure/storage-blob: Shared Key (credential and
// connection string), account SAS, service SAS (blob and container), stored
// access policies, anonymous public access, and the refusals Azure sends.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  AnonymousCredential,
  BlobSASPermissions,
  BlobServiceClient,
  ContainerClient,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
  BlockBlobClient,
  generateAccountSASQueryParameters,
  generateBlobSASQueryParameters,
} from "@azure/storage-blob";

import { startAzlite } from "./harness.mjs";

let az, svc, cred, container;
const hour = () => new Date(Date.now() + 3600 * 1000);

async function expectError(promise, status, code) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.statusCode, status, e.message);
    assert.equal(e.code ?? e.details?.errorCode, code);
    return true;
  });
}

before(async () => {
  az = await startAzlite();
  cred = new StorageSharedKeyCredential(az.account, az.key);
  svc = new BlobServiceClient(az.blobUrl, cred);
  container = svc.getContainerClient("authtests");
  await container.create();
  await container.getBlockBlobClient("hello.txt").upload("hello", 5);
});

after(async () => {
  await az?.stop();
});

describe("shared key", () => {
  test("credential and connection string both work", async () => {
    const fromConn = BlobServiceClient.fromConnectionString(az.connectionString);
    const names = [];
    for await (const c of fromConn.listContainers()) names.push(c.name);
    assert.ok(names.includes("authtests"));
    const body = await container.getBlobClient("hello.txt").downloadToBuffer();
    assert.equal(body.toString(), "hello");
  });

  test("a wrong key is refused with 403 AuthenticationFailed", async () => {
    const bad = new BlobServiceClient(az.blobUrl,
      new StorageSharedKeyCredential(az.account, Buffer.alloc(64, 1).toString("base64")));
    await expectError(bad.getContainerClient("authtests").getProperties(), 403,
      "AuthenticationFailed");
  });
});

describe("account SAS", () => {
  test("grants what it names and nothing more", async () => {
    const sas = generateAccountSASQueryParameters({
      expiresOn: hour(),
      permissions: AccountSASPermissions.parse("rl"),
      resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
      services: AccountSASServices.parse("b").toString(),
    }, cred).toString();
    const ro = new BlobServiceClient(`${az.blobUrl}?${sas}`);
    const c = ro.getContainerClient("authtests");
    assert.equal((await c.getBlobClient("hello.txt").downloadToBuffer()).toString(), "hello");
    const names = [];
    for await (const b of c.listBlobsFlat()) names.push(b.name);
    assert.deepEqual(names, ["hello.txt"]);
    await expectError(c.getBlockBlobClient("new.txt").upload("x", 1), 403,
      "AuthorizationPermissionMismatch");
  });

  test("resource types are enforced", async () => {
    const sas = generateAccountSASQueryParameters({
      expiresOn: hour(),
      permissions: AccountSASPermissions.parse("rwdlc"),
      resourceTypes: AccountSASResourceTypes.parse("o").toString(),
      services: AccountSASServices.parse("b").toString(),
    }, cred).toString();
    const c = new ContainerClient(`${az.blobUrl}/authtests?${sas}`);
    await c.getBlockBlobClient("obj.txt").upload("o", 1);
    await expectError(c.getProperties(), 403, "AuthorizationResourceTypeMismatch");
  });

  test("expired and tampered signatures are refused", async () => {
    const expired = generateAccountSASQueryParameters({
      startsOn: new Date(Date.now() - 7200 * 1000),
      expiresOn: new Date(Date.now() - 3600 * 1000),
      permissions: AccountSASPermissions.parse("r"),
      resourceTypes: "sco",
      services: "b",
    }, cred).toString();
    const c1 = new BlockBlobClient(`${az.blobUrl}/authtests/hello.txt?${expired}`);
    await expectError(c1.getProperties(), 403, "AuthenticationFailed");
    const good = generateAccountSASQueryParameters({
      expiresOn: hour(),
      permissions: AccountSASPermissions.parse("r"),
      resourceTypes: "sco",
      services: "b",
    }, cred).toString();
    const tampered = good.replace(/sp=r/, "sp=rw");
    const c2 = new BlockBlobClient(`${az.blobUrl}/authtests/hello.txt?${tampered}`);
    await expectError(c2.upload("x", 1), 403, "AuthenticationFailed");
  });
});

describe("service SAS", () => {
  test("a blob SAS reaches its blob only, with response header overrides", async () => {
    const sas = generateBlobSASQueryParameters({
      containerName: "authtests",
      blobName: "hello.txt",
      permissions: BlobSASPermissions.parse("r"),
      expiresOn: hour(),
      contentDisposition: "attachment; filename=greeting.txt",
      contentType: "text/x-greeting",
    }, cred).toString();
    const b = new BlockBlobClient(`${az.blobUrl}/authtests/hello.txt?${sas}`);
    const res = await b.download();
    assert.equal(res.contentType, "text/x-greeting");
    assert.equal(res.contentDisposition, "attachment; filename=greeting.txt");
    const other = new BlockBlobClient(`${az.blobUrl}/authtests/other.txt?${sas}`);
    await expectError(other.getProperties(), 403, "AuthenticationFailed");
  });

  test("a container SAS lists and writes inside its container", async () => {
    const sas = generateBlobSASQueryParameters({
      containerName: "authtests",
      permissions: ContainerSASPermissions.parse("rwl"),
      expiresOn: hour(),
    }, cred).toString();
    const c = new ContainerClient(`${az.blobUrl}/authtests?${sas}`);
    await c.getBlockBlobClient("via-container-sas.txt").upload("v", 1);
    const names = [];
    for await (const b of c.listBlobsFlat({ prefix: "via-" })) names.push(b.name);
    assert.deepEqual(names, ["via-container-sas.txt"]);
    await expectError(c.getBlobClient("via-container-sas.txt").delete(), 403,
      "AuthorizationPermissionMismatch");
  });

  test("a stored access policy grants, and revoking it refuses", async () => {
    await container.setAccessPolicy(undefined, [{
      id: "readers",
      accessPolicy: { permissions: "r", expiresOn: hour() },
    }]);
    const sas = generateBlobSASQueryParameters({
      containerName: "authtests",
      blobName: "hello.txt",
      identifier: "readers",
    }, cred).toString();
    const b = new BlockBlobClient(`${az.blobUrl}/authtests/hello.txt?${sas}`);
    assert.equal((await b.downloadToBuffer()).toString(), "hello");
    await container.setAccessPolicy(undefined, []);
    await expectError(b.getProperties(), 403, "AuthenticationFailed");
  });
});

describe("anonymous public access", () => {
  test("follows the container's public access level", async () => {
    const pub = svc.getContainerClient("publictests");
    await pub.create({ access: "blob" });
    await pub.getBlockBlobClient("open.txt").upload("open", 4);
    const anonBlob = new BlockBlobClient(`${az.blobUrl}/publictests/open.txt`,
      new AnonymousCredential());
    assert.equal((await anonBlob.downloadToBuffer()).toString(), "open");
    const anonContainer = new ContainerClient(`${az.blobUrl}/publictests`);
    await expectError(anonContainer.listBlobsFlat().next(), 404, "ResourceNotFound");
    await pub.setAccessPolicy("container");
    const names = [];
    for await (const b of anonContainer.listBlobsFlat()) names.push(b.name);
    assert.deepEqual(names, ["open.txt"]);
    await expectError(anonBlob.upload("no", 2), 401, "NoAuthenticationInformation");
    await pub.setAccessPolicy();
    await expectError(anonBlob.getProperties(), 404, "ResourceNotFound");
    await pub.delete();
  });
});
