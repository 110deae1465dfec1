-- wrk script for run.sh, copied from the team's reference harness (shared/bench/lua/bench.lua).
--
-- env PIPELINE_DEPTH (default 1): when > 1, every write carries that many
--   GET requests back to back (HTTP/1.1 pipelining). wrk counts every response
--   in `requests` but records ONE latency sample per batch: the time from
--   sending the batch until its last response arrived.
-- env WRK_CONNECTIONS: the -c value, needed to undo wrk's latency correction.
--
-- Latency: before calling done(), wrk 4.x runs stats_correct() on the latency
-- histogram (a coordinated-omission "correction" that adds synthetic samples
-- at n-e, n-2e, ... for every sample n >= 2e, with e = duration /
-- (requests / connections)). With pipelining, e is computed per response but
-- samples are per batch, so the correction is wrong and wrk's own percentile()
-- can even return 0 (it scans from the real min, and synthetic samples land
-- below it). The correction is deterministic, so done() inverts it exactly and
-- reports percentiles of the samples wrk really measured ("raw"), plus wrk's
-- own corrected p99 for reference. raw_count lets one check the inversion:
-- it must equal the number of responses (plain) or batches (pipelined).

local depth = tonumber(os.getenv("PIPELINE_DEPTH") or "1") or 1
local conns = tonumber(os.getenv("WRK_CONNECTIONS") or "0") or 0

if depth > 1 then
   local batch
   init = function(args)
      local r = {}
      for i = 1, depth do
         r[i] = wrk.format(nil, wrk.path)
      end
      batch = table.concat(r)
   end
   request = function()
      return batch
   end
end

local function raw_histogram(lat, duration_us, requests)
   local lo, hi = lat.min, lat.max
   local e = 0
   if conns > 0 then
      local per_conn = math.floor(requests / conns)
      if per_conn > 0 then e = math.floor(duration_us / per_conn) end
   end
   -- wrk 4.1: #lat = number of non-empty buckets in [min, max]; lat(i)
   -- returns the i-th such bucket's value (microseconds) and its count.
   local C = {}
   for i = 1, #lat do
      local v, c = lat(i)
      C[v] = c
   end
   -- corrected C[m] = O[m] + sum_{k>=1} O[m + k*e]   for m > e
   local O, S = {}, {}
   for m = hi, lo, -1 do
      local c = C[m] or 0
      if e > 0 and m > e then
         local s = 0
         if m + e <= hi then s = O[m + e] + S[m + e] end
         S[m] = s
         O[m] = c - s
      else
         O[m] = c
      end
   end
   return O, lo, hi, e
end

done = function(summary, latency, requests)
   local err = summary.errors
   local errors = err.connect + err.read + err.write + err.status + err.timeout
   local p50, p99, p999, mean, count, e = 0, 0, 0, 0, 0, 0
   if summary.requests > 0 and latency.max >= latency.min then
      local O, lo, hi
      O, lo, hi, e = raw_histogram(latency, summary.duration, summary.requests)
      local sum = 0
      for m = lo, hi do
         count = count + O[m]
         sum = sum + O[m] * m
      end
      if count > 0 then
         mean = sum / count
         local r50, r99, r999 = math.ceil(count * 0.5), math.ceil(count * 0.99), math.ceil(count * 0.999)
         local acc = 0
         for m = lo, hi do
            acc = acc + O[m]
            if p50 == 0 and acc >= r50 then p50 = m end
            if p99 == 0 and acc >= r99 then p99 = m end
            if p999 == 0 and acc >= r999 then p999 = m; break end
         end
      end
   end
   io.write(string.format(
      "WRKRESULT requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d mean_us=%.1f raw_count=%d wrk_p99_us=%d correction_interval_us=%d errors=%d\n",
      summary.requests, summary.duration, p50, p99, p999, latency.max, mean, count,
      latency:percentile(99), e, errors))
end
