-- wrk script: POST /score with BENCH_BODY (a file) and, when set, BENCH_KEY as the bearer key
-- and BENCH_DEPLOYMENT as azureml-model-deployment.
local f = io.open(os.getenv("BENCH_BODY"), "rb")
local body = f:read("*a")
f:close()
local headers = {["Content-Type"] = "application/json"}
local key = os.getenv("BENCH_KEY")
if key and key ~= "" then headers["Authorization"] = "Bearer " .. key end
local dep = os.getenv("BENCH_DEPLOYMENT")
if dep and dep ~= "" then headers["azureml-model-deployment"] = dep end

function request()
  return wrk.format("POST", nil, headers, body)
end
