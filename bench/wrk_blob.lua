-- wrk script: 1 KiB Put Blob (BENCH_OP=put) or Get Blob (BENCH_OP=get) over a SAS URL.
-- BENCH_PATH is the container path, BENCH_SAS the query string.
local op = os.getenv("BENCH_OP") or "put"
local base = os.getenv("BENCH_PATH")
local sas = os.getenv("BENCH_SAS")
local body = string.rep("x", 1024)
local threads = 0
local n = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function request()
  if op == "get" then
    return wrk.format("GET", base .. "/small?" .. sas)
  end
  n = n + 1
  return wrk.format("PUT", base .. "/b" .. tid .. "-" .. n .. "?" .. sas,
                    {["x-ms-blob-type"] = "BlockBlob", ["x-ms-version"] = "2021-12-02"}, body)
end
